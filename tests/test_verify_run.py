"""`ml2mc verify --run CMD`: the user's own command on both trees, torch instrumented.

The example project (sigmoid + BCELoss) is committed; the working tree holds its correct
multi-class migration (`after/`), or that migration made wrong on purpose: a softmax left in
the head (double softmax in a 24-step training run), or a head one column wide read by argmax.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.verify._runtime import CommandRun, judge

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "example"
# The interpreter running the tests has torch; a bare `python` on PATH may not.
PYTHON = shlex.quote(sys.executable)
TRAIN = f"{PYTHON} -m tagger.train"
PREDICT = f"{PYTHON} -m tagger.predict"


def _project(root: Path) -> Path:
    shutil.copytree(EXAMPLE / "before", root)
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "multi-label"],
    ):
        subprocess.run(command, cwd=root, check=True)
    shutil.copytree(EXAMPLE / "after", root, dirs_exist_ok=True)
    return root


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new))


def _verify_run(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", "verify", "--run", command, "--output-format", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _runtime_result(completed: subprocess.CompletedProcess[str]) -> dict[str, object]:
    import json

    payload = json.loads(completed.stdout)
    [result] = [item for item in payload["verification"] if item["target"].startswith("run `")]
    return dict(result)


def test_the_correct_migration_passes_and_shows_both_runs(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    completed = _verify_run(root, f"{TRAIN} && {PREDICT}")
    result = _runtime_result(completed)
    assert result["status"] == "pass", result
    original, migrated = result["notes"]  # type: ignore[misc]
    assert "binary_cross_entropy on probabilities x24" in original
    assert "cross_entropy on logits x24" in migrated
    assert "anomalies: none" in migrated
    assert completed.returncode == 0
    # The command ran in copies: nothing it writes lands in the project.
    assert not [path for path in root.rglob("*") if "__pycache__" in path.parts]


@pytest.mark.parametrize(
    ("file", "old", "new", "command", "reason"),
    [
        pytest.param(
            "model.py",
            "nn.Sequential(nn.Linear(64, num_classes))",
            "nn.Sequential(nn.Linear(64, num_classes), nn.Softmax(dim=1))",
            TRAIN,
            "probabilities into cross_entropy, which applies log_softmax itself at "
            "tagger/train.py:34 (x24)",
            id="double-softmax-in-training",
        ),
        pytest.param(
            "model.py",
            "nn.Sequential(nn.Linear(64, num_classes))",
            "nn.Sequential(nn.Linear(64, num_classes), nn.Sigmoid())",
            TRAIN,
            "values all in [0, 1] into cross_entropy",
            id="sigmoid-before-cross-entropy",
        ),
        pytest.param(
            "predict.py",
            "TagClassifier(num_classes=len(TAGS))",
            "TagClassifier(num_classes=1)",
            PREDICT,
            "argmax over a dimension of size 1: always 0 at tagger/predict.py:23",
            id="argmax-over-one-column",
        ),
    ],
)
def test_a_wrong_migration_fails_its_run(
    tmp_path: Path, file: str, old: str, new: str, command: str, reason: str
) -> None:
    root = _project(tmp_path / "project")
    _replace(root / "tagger" / file, old, new)
    completed = _verify_run(root, command)
    result = _runtime_result(completed)
    assert result["status"] == "fail"
    assert reason in str(result["reason"])
    assert completed.returncode == 1


def _run(tree: str, exit_code: int | None, *records: dict[str, object]) -> CommandRun:
    return CommandRun(tree, exit_code, 1.0, list(records))


LOGITS = {"call": "cross_entropy", "where": "t.py:3", "input": "logits", "value": 1.2}
PROBS = {
    "call": "cross_entropy",
    "where": "t.py:3",
    "input": "probabilities",
    "anomaly": "probabilities into cross_entropy",
    "value": 1.5,
}


def test_logits_that_happen_to_lie_in_the_unit_interval_are_not_an_anomaly() -> None:
    """A small model's logits all fell in [0, 1] on 2 of 45 calls (verify3/10, a correct
    migration): chance, not a sigmoid. A sigmoid before the loss does it on every call."""
    chance = {
        **LOGITS,
        "input": "values in [0, 1]",
        "anomaly": "values all in [0, 1] into cross_entropy, which applies log_softmax itself",
    }
    sometimes = _run("migrated", 0, LOGITS, chance, LOGITS)
    assert judge(_run("original", 0, LOGITS), sometimes)["status"] == "pass"
    always = _run("migrated", 0, chance, chance)
    assert judge(_run("original", 0, LOGITS), always)["status"] == "fail"


@pytest.mark.parametrize(
    ("original", "migrated", "status"),
    [
        pytest.param(_run("original", 0, LOGITS), _run("migrated", 0, LOGITS), "pass", id="clean"),
        pytest.param(_run("original", 0), _run("migrated", 0, PROBS), "fail", id="anomaly"),
        pytest.param(_run("original", 0), _run("migrated", 1, LOGITS), "fail", id="now-crashes"),
        pytest.param(_run("original", 0), _run("migrated", None), "fail", id="timeout"),
        pytest.param(_run("original", 2), _run("migrated", 2), "skip", id="never-ran"),
        pytest.param(_run("original", 0), _run("migrated", 0), "skip", id="no-loss-call"),
    ],
)
def test_the_verdict(original: CommandRun, migrated: CommandRun, status: str) -> None:
    verdict = judge(original, migrated)
    assert verdict["status"] == status
    assert (verdict["reason"] is None) == (status == "pass")


def _verify(root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", "verify", *arguments],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_bug_left_in_a_changed_file_fails_verify(tmp_path: Path) -> None:
    """The model is migrated right (its check passes) but the loop still feeds softmax
    probabilities to CrossEntropyLoss: the static check on the changed files reports it."""
    import json

    root = _project(tmp_path / "project")
    _replace(
        root / "tagger" / "train.py",
        "loss = criterion(model(x), targets)",
        "loss = criterion(torch.softmax(model(x), 1), targets)",
    )
    completed = _verify(root, "--output-format", "json")
    payload = json.loads(completed.stdout)
    statuses = [(item["kind"], item["status"]) for item in payload["verification"]]
    # The model check passes; the loss site, run on both trees, sees the second softmax.
    assert statuses[0] == ("model", "pass")
    assert ("loss site", "fail") in statuses, payload["verification"]
    assert [(f["file"], f["line"], f["code"]) for f in payload["findings"]] == [
        ("tagger/train.py", 34, "MC201")
    ]
    assert completed.returncode == 1


def test_strict_fails_when_nothing_was_verified(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    subprocess.run(["git", "checkout", "-q", "."], cwd=root, check=True)  # back to HEAD
    relaxed = _verify(root, "--output-format", "concise")
    strict = _verify(root, "--strict", "--output-format", "concise")
    assert relaxed.returncode == 0 and strict.returncode == 1
    assert "HEAD → working tree: 0 changed files; no model, loss or reader changed since HEAD" in (
        strict.stderr
    )


def test_strict_says_why_it_fails_when_nothing_changed(tmp_path: Path) -> None:
    """Exit 1 under --strict with nothing to verify comes with its reason on stderr."""
    root = _project(tmp_path / "project")
    subprocess.run(["git", "checkout", "-q", "."], cwd=root, check=True)  # back to HEAD
    strict = _verify(root, "--strict")
    assert strict.returncode == 1
    assert (
        "ml2mc: --strict: nothing to verify: no model, loss site or reader changed since HEAD; "
        "under --strict that is a failure"
    ) in strict.stderr


# ---------------------------------------------------------------------------------------------
# The first line: what was compared


def test_first_line_counts_what_was_compared(tmp_path: Path) -> None:
    """The example's migration changes three files: the model, the training loop (a loss
    site), `predict` (a reader) and `main` (an entry point, not run)."""
    root = _project(tmp_path / "project")
    completed = _verify(root, "--report", "verify.md")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    compared = (
        "HEAD → working tree: 3 changed files, 1 model, 1 loss site, 1 reader, 1 other function"
    )
    assert completed.stdout.splitlines()[0] == (
        f"{compared}; verification: models 1 pass; loss sites 1 pass; readers 1 pass; "
        "functions 1 not verified"
    )
    assert "file(s) scanned" not in completed.stdout
    saved = (root / "verify.md").read_text().splitlines()
    assert saved[:3] == [
        "### ml2mc verify: models 1 pass; loss sites 1 pass; readers 1 pass; "
        "functions 1 not verified",
        "",
        compared,
    ]


def test_first_line_names_the_ref_when_nothing_changed(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    subprocess.run(["git", "checkout", "-q", "."], cwd=root, check=True)
    subprocess.run(["git", "branch", "-q", "base"], cwd=root, check=True)
    completed = _verify(root, "--against", "base")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[0] == (
        "base → working tree: 0 changed files; no model, loss or reader changed since base"
    )


def test_first_line_says_when_no_model_loss_or_reader_changed(tmp_path: Path) -> None:
    root = _project(tmp_path / "project")
    subprocess.run(["git", "checkout", "-q", "."], cwd=root, check=True)
    package = root / "tagger" / "__init__.py"
    package.write_text(package.read_text() + '\n__version__ = "2"\n')
    completed = _verify(root, "--output-format", "json")
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["comparison"] == {"ref": "HEAD", "changed_files": 1}
    assert data["verification"] == []
    plain = _verify(root)
    assert plain.stdout.splitlines()[0] == (
        "HEAD → working tree: 1 changed file; no model, loss or reader changed since HEAD"
    )
