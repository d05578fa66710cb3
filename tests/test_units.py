"""Migration units: the evidence that refuses a unit, the post-condition on the planned tree,
and a migration that writes a unit whole or not at all."""

from __future__ import annotations

import ast
import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from migrate.fixing.units import evidence, thresholds_on_softmax
from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, run
from migrate.rule import Applicability

EXAMPLE_BEFORE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "example" / "before"
)

CliInvoker = Callable[..., Result]


def _evidence(code: str) -> list[str]:
    return [reason for _, reason in evidence(ast.parse(textwrap.dedent(code)))]


@pytest.mark.parametrize(
    ("code", "word"),
    [
        pytest.param("loss = nn.BCEWithLogitsLoss(pos_weight=w)", "pos_weight", id="pos-weight"),
        pytest.param(
            'bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")',
            "elementwise",
            id="reduction-none",
        ),
        pytest.param(
            """
            class FocalLoss(nn.Module):
                def forward(self, x, t):
                    return F.binary_cross_entropy_with_logits(x, t) * self.gamma
            """,
            "FocalLoss",
            id="user-loss-class",
        ),
        pytest.param(
            """
            def asymmetric_loss(x, t):
                return F.binary_cross_entropy(torch.sigmoid(x), t)
            """,
            "asymmetric_loss",
            id="user-loss-function",
        ),
        pytest.param(
            "loss = F.binary_cross_entropy_with_logits(s / T, torch.sigmoid(t / T))",
            "distillation",
            id="sigmoid-target-inline",
        ),
        pytest.param(
            """
            def kd(s, t, T):
                soft = torch.sigmoid(t / T)
                return criterion(s / T, soft)
            """,
            "distillation",
            id="sigmoid-target-through-a-name",
        ),
        pytest.param(
            'criterion = {"bce": nn.BCELoss, "focal": FocalLoss}[args.loss]()',
            "run time",
            id="loss-table-classes",
        ),
        pytest.param(
            'LOSSES = {"bce": nn.BCEWithLogitsLoss(), "ce": nn.CrossEntropyLoss()}',
            "run time",
            id="loss-table-instances",
        ),
        pytest.param(
            'LOSSES = {"bce": partial(F.binary_cross_entropy, reduction="sum"), "x": other}',
            "run time",
            id="loss-table-partial",
        ),
        pytest.param(
            """
            class Net(nn.Module):
                def __init__(self):
                    self.fc = nn.Linear(128, 1)
            """,
            "binary",
            id="single-column-fc",
        ),
        pytest.param(
            "self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1))",
            "binary",
            id="single-column-sequential-head",
        ),
        pytest.param("model = build(num_classes=1)", "binary", id="num-classes-1"),
        pytest.param("loss = criterion(out.squeeze(1), y)", "binary", id="squeezed-loss-input"),
        pytest.param("loss = criterion(out, y.unsqueeze(1))", "binary", id="unsqueezed-target"),
        pytest.param("p = torch.sigmoid(model(x)).squeeze(1)", "binary", id="squeezed-sigmoid"),
        pytest.param(
            """
            def predict(model, x):
                logits = model(x).squeeze()
                return torch.sigmoid(logits) > 0.5
            """,
            "binary",
            id="sigmoid-of-a-squeezed-name",
        ),
    ],
)
def test_evidence_that_refuses_a_unit(code: str, word: str) -> None:
    reasons = _evidence(code)
    assert any(word in reason for reason in reasons), reasons


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("loss = nn.BCEWithLogitsLoss()(logits, y)", id="plain-bce"),
        pytest.param("loss = criterion(torch.sigmoid(out), y)", id="sigmoid-input-not-target"),
        pytest.param("self.attn = nn.Linear(hidden, 1)", id="attention-scorer"),
        pytest.param("self.fc = nn.Linear(128, 10)", id="wide-head"),
        pytest.param(
            'return {"loss": F.binary_cross_entropy(p, y), "probs": p}', id="dict-of-values"
        ),
        pytest.param(
            """
            class Trainer:
                def compute_loss(self, batch):
                    return F.binary_cross_entropy_with_logits(self.model(batch.x), batch.y)
            """,
            id="training-loss-method",
        ),
    ],
)
def test_ordinary_multi_label_code_is_no_evidence(code: str) -> None:
    assert _evidence(code) == []


def test_a_threshold_on_softmax_probabilities_is_found() -> None:
    tree = ast.parse(
        textwrap.dedent(
            """
            def decide(logits, t):
                probs = torch.softmax(logits, dim=1)
                a = probs > t
                b = logits.softmax(dim=1).gt(t)
                c = torch.round(F.softmax(logits, dim=1))
                d = logits.argmax(dim=1)
                e = torch.sigmoid(logits) > t
            """
        )
    )
    assert sorted(thresholds_on_softmax(tree)) == [4, 5, 6]


# ---------------------------------------------------------------------------------------------
# A migration writes a unit whole or not at all

MODEL = """\
import torch
from torch import nn


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.head = nn.Sequential(nn.Linear(32, 5), nn.Sigmoid())

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))
"""
TRAIN = """\
import torch
from torch import nn

from model import Tagger


def train_step(model: Tagger, x, y, optimizer):
    criterion = nn.BCELoss()
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def predict(model: Tagger, x):
    return (model(x) > 0.5).int()
"""


def _write_project(root: Path, train: str) -> None:
    (root / "model.py").write_text(MODEL)
    (root / "train.py").write_text(train)


def test_the_plain_project_migrates(project: Path, cli: CliInvoker) -> None:
    _write_project(project, TRAIN)
    result = cli("migrate", ".", "--write", "--no-verify", "--output-format", "json")
    data = json.loads(result.stdout)
    assert data["refused_units"] == []
    assert {change["file"] for change in data["changes"]} == {"model.py", "train.py"}


def test_a_blocked_piece_keeps_every_file_of_its_unit(project: Path, cli: CliInvoker) -> None:
    """The loss carries `pos_weight`: the model's head and the threshold would be migratable
    on their own, but a half-migrated pipeline trains wrongly, so nothing is written."""
    train = TRAIN.replace("nn.BCELoss()", "nn.BCELoss(weight=None)").replace(
        "criterion(model(x), y)",
        "nn.functional.binary_cross_entropy_with_logits(torch.logit(model(x)), y, "
        "pos_weight=torch.ones(5))",
    )
    _write_project(project, train)
    before = {path.name: path.read_bytes() for path in project.glob("*.py")}
    result = cli("migrate", ".", "--write", "--no-verify", "--output-format", "json")
    data = json.loads(result.stdout)
    assert {path.name: path.read_bytes() for path in project.glob("*.py")} == before
    assert data["changes"] == []
    [unit] = data["refused_units"]
    assert unit["files"] == ["model.py", "train.py"]
    assert any(
        blocker["file"] == "train.py" and "pos_weight" in blocker["reason"]
        for blocker in unit["blocking"]
    )


def test_the_report_lists_the_refused_unit_first(project: Path, cli: CliInvoker) -> None:
    _write_project(project, TRAIN.replace("nn.Linear(32, 5)", "nn.Linear(32, 5)"))
    (project / "model.py").write_text(MODEL.replace("nn.Linear(32, 5)", "nn.Linear(32, 1)"))
    result = cli("migrate", ".", "--no-verify")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[1].startswith("unit refused, nothing of it written: model.py, train.py")
    assert any("single" in line and "blocked by model.py" in line for line in lines[2:4])
    assert "--write` to apply" not in result.stdout


def _planned_blockers(files: dict[str, tuple[str, str]]) -> list[str]:
    """Blockers of one unit made of `files`: name -> (original, planned)."""
    from migrate.findings import FileOutcome
    from migrate.fixing.units import _planned_tree_blockers

    outcomes = {
        name: FileOutcome(name, textwrap.dedent(old), textwrap.dedent(new))
        for name, (old, new) in files.items()
    }
    sources = {name: outcome.original for name, outcome in outcomes.items()}
    changed = [name for name, outcome in outcomes.items() if outcome.changed]
    return [b.reason for b in _planned_tree_blockers(changed, {}, sources, outcomes)]


def test_a_sigmoid_left_on_the_loss_input_blocks_once_the_loss_is_cross_entropy() -> None:
    train = """
        def step(model, x, y, criterion):
            outputs = model(x)
            loss = criterion(outputs, y)
            preds = torch.sigmoid(outputs) > 0.5
            return loss, preds
        """
    main_before = "criterion = nn.BCEWithLogitsLoss()\n"
    main_after = "criterion = nn.CrossEntropyLoss()\n"
    reasons = _planned_blockers({"main.py": (main_before, main_after), "train.py": (train, train)})
    assert any("sigmoid is still applied" in reason for reason in reasons), reasons
    # The same reader with the loss left as it was is no post-condition failure.
    assert (
        _planned_blockers(
            {"main.py": (main_before, main_before + "x = 1\n"), "train.py": (train, train)}
        )
        == []
    )


def test_argmax_positions_read_as_labels_block() -> None:
    before = "labels = torch.argwhere(torch.sigmoid(z) > t)\n"
    after = "labels = torch.argwhere(z.argmax(dim=1))\n"
    reasons = _planned_blockers({"infer.py": (before, after)})
    assert any("argwhere" in reason for reason in reasons), reasons


def _crash_in_train_loop(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """MC102 fails once on train.py, the file holding the loss (as an interrupt does, once);
    MC101 still plans its rewrite, and the planned tree is analysed without failure."""
    from rules.mc102_bce_loss import BceLoss

    check = BceLoss.check
    failed: list[str] = []

    def failing(self: BceLoss, facts: Any) -> Any:
        if facts.path.endswith("train.py") and not failed:
            failed.append(facts.path)
            raise error
        return check(self, facts)

    monkeypatch.setattr(BceLoss, "check", failing)


def test_a_rule_that_fails_on_a_file_of_the_unit_refuses_the_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the loss's finding, the model's rewrite alone would pass every other check and
    leave BCELoss fed with logits: the unit must be refused, naming the failure."""
    shutil.copytree(EXAMPLE_BEFORE, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    _crash_in_train_loop(monkeypatch, KeyError("a node the rule did not reach"))
    result = run(
        RunOptions(paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE)
    )
    assert not result.changed_files
    [unit] = result.refused_units
    assert "tagger/train.py" in unit.files and "tagger/model.py" in unit.files
    assert any("MC002" in blocker.reason for blocker in unit.blockers)


def test_an_interrupt_turned_into_another_error_still_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C inside libcst's position code surfaces as KeyError (raised in a `finally`);
    it must stop the run, not become a rule's internal error."""
    shutil.copytree(EXAMPLE_BEFORE, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        try:
            raise KeyError("node")
        except KeyError as converted:
            error = converted
    _crash_in_train_loop(monkeypatch, error)
    with pytest.raises(KeyboardInterrupt):
        run(RunOptions(paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE))
