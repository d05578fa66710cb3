"""A large check narrows the tree (files, then definitions) before libcst; it must report
exactly what the engine reports on the whole of a small project."""

from pathlib import Path

import pytest

from migrate import pipeline, selection
from migrate.discovery import read_source
from migrate.pipeline import RunOptions, RunResult
from migrate.screen import screen_source

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(
    path
    for folder in ("fixtures/cases", "fixtures/cases_heldout")
    for path in (ROOT / folder).iterdir()
    if path.is_dir()
) + sorted((ROOT / "fixtures/projects").glob("*/before"))


def _findings(result: RunResult) -> list[tuple[str, int, int, str, str, str | None, str | None]]:
    found = []
    for report, finding in result.findings:
        violation = finding.violation
        fix = violation.fix
        found.append(
            (
                report.display,
                violation.span.line,
                violation.span.column,
                violation.code,
                violation.message,
                fix.title if fix is not None else None,
                fix.applicability.value if fix is not None else None,
            )
        )
    return sorted(found)


@pytest.mark.parametrize("case", CASES, ids=[f"{path.parent.name}/{path.name}" for path in CASES])
def test_large_check_path_reports_what_the_whole_project_gives(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RunOptions(paths=[case])
    whole = _findings(pipeline.run(options))
    # Every project counts as large: batches, and libcst reads only the kept definitions.
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 0)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    large = _findings(pipeline.run(options))
    assert large == whole


@pytest.mark.parametrize("case", CASES, ids=[f"{path.parent.name}/{path.name}" for path in CASES])
def test_selection_hides_no_finding_of_the_engine(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token tests and the screen skip files; the engine on every file must find nothing
    # more (its own limits are the screen's too, no more).
    options = RunOptions(paths=[case])
    selected = _findings(pipeline.run(options))
    monkeypatch.setattr(
        pipeline, "select_files", lambda readable, rules, fixing: selection.Selection(set(readable))
    )
    assert selected == _findings(pipeline.run(options))


SOURCE = """import torch.nn.functional as F\r

def unrelated(x):
    return x + 1


@decorator
class Head:
    def forward(self, x):
        return helper(x)


def helper(x):
    return x.softmax(dim=1)
"""


def test_cut_source_blanks_dropped_definitions_and_keeps_every_line() -> None:
    screen = screen_source(SOURCE)
    cut = selection.cut_source(SOURCE, screen.outline, frozenset({"Head"}))
    assert cut is not None
    original_lines = SOURCE.splitlines(keepends=True)
    cut_lines = cut.splitlines(keepends=True)
    assert len(cut_lines) == len(original_lines)
    assert cut_lines[0] == original_lines[0]  # CRLF kept
    kept = {i for i, line in enumerate(original_lines) if line == cut_lines[i] and line.strip()}
    assert "@decorator\n" in [original_lines[i] for i in kept]
    assert "    return x + 1\n" not in cut and "def helper" not in cut
    compile(cut, "cut.py", "exec")


def test_closure_keeps_what_the_kept_use_and_the_callers_of_sites() -> None:
    source = (
        "import torch.nn.functional as F\n"
        "def loss(p, y):\n    return F.nll_loss(p, y)\n"
        "def train(z, y):\n    return loss(probs(z), y)\n"
        "def probs(z):\n    return F.softmax(z, 1)\n"
        "def unrelated(x):\n    return x\n"
    )
    screen = screen_source(source)
    assert "loss" in screen.site_definitions
    sites = set(screen.site_definitions)
    kept = selection._closure(screen, sites, sites)
    assert kept == {"loss", "train", "probs"}


def _project(tmp_path: Path, backbone_returns: str) -> Path:
    (tmp_path / "pkg").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "backbone.py").write_text(
        "import torch\n"
        "import torch.nn as nn\n"
        "class Backbone(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n"
        "    def forward(self, x):\n"
        f"        return {backbone_returns}\n"
    )
    (tmp_path / "pkg" / "train.py").write_text(
        "import torch.nn.functional as F\n"
        "from .backbone import Backbone\n"
        "def step(x, y):\n"
        "    return F.cross_entropy(Backbone()(x), y)\n"
    )
    return tmp_path


def test_conditional_site_kept_only_when_an_import_hands_out_probabilities(
    tmp_path: Path,
) -> None:
    plain = _project(tmp_path / "plain", "self.fc(x)")
    files = {path: read_source(path) for path in plain.rglob("*.py")}
    chosen = selection.select_files(files, [], fixing=False).files  # type: ignore[arg-type]
    assert not any(path.name == "train.py" for path in chosen)
    probs = _project(tmp_path / "probs", "torch.softmax(self.fc(x), dim=1)")
    result = pipeline.run(RunOptions(paths=[probs]))
    assert [f.violation.code for _, f in result.findings] == ["MC201"]
