"""A large check narrows the tree and runs in batches; it must report exactly what the
analysis reports on the whole of a small project, and the selection must hide nothing."""

from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from migrate import pipeline
from migrate.pipeline import RunOptions, RunResult
from migrate.rule import Applicability

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted(
    path
    for folder in ("fixtures/cases", "fixtures/cases_heldout")
    for path in (ROOT / folder).iterdir()
    if path.is_dir()
) + sorted((ROOT / "fixtures/projects").glob("*/before"))


def _as_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every project counts as large: not analysed whole, and checked in batches."""
    monkeypatch.setattr(pipeline, "is_small_project", lambda readable: False)
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 0)


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
    # Every project counts as large: one batch per file, with the modules it imports.
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    large = _findings(pipeline.run(options))
    assert large == whole


@pytest.mark.parametrize("case", CASES, ids=[f"{path.parent.name}/{path.name}" for path in CASES])
def test_selection_hides_no_finding_of_the_engine(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The token tests and the graph skip files (in a tree too large to be analysed whole);
    # the analysis of every file must find nothing more.
    monkeypatch.setattr(pipeline, "is_small_project", lambda readable: False)
    options = RunOptions(paths=[case])
    selected = _findings(pipeline.run(options))
    monkeypatch.setattr(
        pipeline, "select_files", lambda readable, rules, fixing, graph: set(readable)
    )
    assert selected == _findings(pipeline.run(options))


def _caller_project(root: Path) -> Path:
    """A helper whose parameter reaches the loss, and a script (no loss of its own, so not
    read at first) that hands it probabilities."""
    root.mkdir()
    (root / "helpers.py").write_text(
        "import torch.nn.functional as F\n\n\n"
        "def compute_loss(scores, targets):\n"
        "    return F.cross_entropy(scores, targets)\n"
    )
    (root / "train.py").write_text(
        "import torch\n"
        "from helpers import compute_loss\n\n\n"
        "def step(model, x, y):\n"
        "    probs = torch.softmax(model(x), dim=1)\n"
        "    return compute_loss(probs, y)\n"
    )
    return root


def _caller_project_with_more(root: Path, nll_input: str) -> Path:
    """`_caller_project` and one more module whose helper gives `nll_loss` `nll_input`."""
    project = _caller_project(root)
    (project / "more.py").write_text(
        "import torch.nn.functional as F\n\n\n"
        "def other(scores, y):\n"
        f"    return F.nll_loss({nll_input}, y)\n"
    )
    return project


def test_a_caller_named_by_the_analysis_is_read_in_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _caller_project(tmp_path / "project")
    options = RunOptions(paths=[project])
    whole = _findings(pipeline.run(options))
    assert [(Path(file).name, code) for file, _, _, code, *_ in whole] == [("train.py", "MC201")]
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    assert _findings(pipeline.run(options)) == whole


def test_a_head_patched_onto_a_project_backbone_is_followed(tmp_path: Path) -> None:
    # The backbone module is read when the flow reaches it; the new head still ends the model.
    project = tmp_path / "project"
    project.mkdir()
    (project / "backbone.py").write_text(
        "from torch import nn\n\n\n"
        "class ResNet1d(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 4)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
    )
    (project / "train.py").write_text(
        "from torch import nn\n"
        "from backbone import ResNet1d\n\n\n"
        "def step(x, y):\n"
        "    model = ResNet1d()\n"
        "    model.fc = nn.Sequential(nn.Linear(8, 4), nn.Sigmoid())\n"
        "    return nn.BCEWithLogitsLoss()(model(x), y)\n"
    )
    found = _findings(pipeline.run(RunOptions(paths=[project])))
    assert [(Path(file).name, line, code) for file, line, _, code, *_ in found] == [
        ("train.py", 7, "MC202")
    ]


def _offers(result: RunResult) -> list[tuple[str, int, str, str | None, str | None]]:
    return sorted(
        (
            report.display,
            finding.violation.span.line,
            finding.violation.code,
            finding.violation.fix.title if finding.violation.fix is not None else None,
            finding.violation.no_fix_reason,
        )
        for report, finding in result.findings
    )


@pytest.mark.parametrize("case", CASES, ids=[f"{path.parent.name}/{path.name}" for path in CASES])
def test_check_offers_what_fix_plans(case: Path) -> None:
    # One path for check and fix: the fix a check offers (or the reason it gives for none) is
    # the one `--fix --unsafe-fixes` plans, although a fix also reads every importer.
    offered = _offers(pipeline.run(RunOptions(paths=[case])))
    planned = _offers(pipeline.run(RunOptions(paths=[case], fix=Applicability.UNSAFE)))
    assert offered == planned


def test_check_sees_the_readers_a_fix_would_see(tmp_path: Path) -> None:
    # `serve.py` names nothing a check looks for, but it hands the model to code nobody can
    # follow: `--fix` refuses to change the model's output, so a check must not offer it.
    project = tmp_path / "project"
    project.mkdir()
    (project / "model.py").write_text(
        "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n"
        "        return torch.softmax(self.fc(x), dim=1)\n\n\n"
        "def train_step(model: Net, x, y):\n"
        "    return F.cross_entropy(model(x), y)\n"
    )
    (project / "serve.py").write_text(
        "from model import Net\nfrom somewhere import export\n\n\n"
        "def ship():\n"
        "    return export(Net())\n"
    )
    offered = _offers(pipeline.run(RunOptions(paths=[project])))
    planned = _offers(pipeline.run(RunOptions(paths=[project], fix=Applicability.UNSAFE)))
    assert [(code, title) for _, _, code, title, _ in offered] == [("MC201", None)]
    assert offered == planned


def _write_project(root: Path, files: dict[str, str]) -> Path:
    project = root / "project"
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    return project


def _logged_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> list[int]:
    """Counts the jobs each stage hands to the worker pool."""
    jobs: list[int] = []
    make_pool = pipeline._worker_pool

    def logged(stack: object) -> object:
        pool = make_pool(stack)  # type: ignore[arg-type]
        assert pool is not None
        original_map = pool.map

        def map_and_count(function: object, items: list[object]) -> object:
            jobs.append(len(items))
            return original_map(function, items)  # type: ignore[arg-type]

        pool.map = map_and_count  # type: ignore[method-assign]
        return pool

    monkeypatch.setattr(pipeline, "_worker_pool", logged)
    return jobs


def test_fresh_worker_processes_report_what_the_whole_project_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two cores: the batches and the second look's group run in processes started by the
    # fork server, each job in a new one.
    project = _caller_project_with_more(tmp_path / "project", "scores.log_softmax(1)")
    options = RunOptions(paths=[project])
    whole = _findings(pipeline.run(options))
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 2)
    jobs = _logged_pool(monkeypatch)
    assert _findings(pipeline.run(options)) == whole
    # The first pass had a batch per selected file; the second look one group.
    assert jobs == [2, 1]


def test_a_large_check_reports_like_the_whole_project_in_every_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A large check lets go of the texts of the files it does not analyse (here `train.py`
    # and `data.py`) and reads `train.py` again for the second look; its workers send the
    # outcomes of the files they were sent without the text. The reports, with their fixes'
    # places, are those of the whole project.
    from migrate.output.machine_formats import sarif_log

    project = _caller_project(tmp_path / "project")
    (project / "data.py").write_text("def load(path):\n    return open(path).read()\n")
    # Analysed in the first pass, with a fix whose SARIF replacement needs the file's text.
    (project / "local.py").write_text(
        "import torch\n"
        "import torch.nn.functional as F\n\n\n"
        "def step(z, y):\n"
        "    return F.cross_entropy(torch.softmax(z, dim=1), y)\n"
    )
    options = RunOptions(paths=[project])
    whole = pipeline.run(options)
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    large = pipeline.run(options)
    assert _findings(large) == _findings(whole) != []
    assert sarif_log(large, tmp_path) == sarif_log(whole, tmp_path)
    assert [report.display for report in large.files] == [r.display for r in whole.files]


def test_a_batch_reads_no_more_context_than_its_budget(tmp_path: Path) -> None:
    (tmp_path / "small.py").write_text("x = 1\n" * 5)  # 30 bytes
    (tmp_path / "large.py").write_text("x = 1\n" * 100)  # 600 bytes
    files = {name: (f"{name}.py", str(tmp_path / f"{name}.py"), ()) for name in ("small", "large")}
    budgeted = pipeline.ContextFiles(dict(files), budget=100)
    first = budgeted.find("small")
    assert first is not None and first[1].source == "x = 1\n" * 5
    assert budgeted.find("large") is None  # 600 bytes do not fit in the 70 left
    assert budgeted.find("small") is not None  # 30 still do: 40 left
    assert budgeted.find("small") is not None  # 10 left
    assert budgeted.find("small") is None
    assert pipeline.ContextFiles(dict(files)).find("large") is not None  # no budget


def test_a_fix_reads_its_modules_whatever_the_budget_of_a_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fix must see every module its flows reach (here the trainer, outside the selection:
    # it names no loss): the budget is a large check's only.
    project = _write_project(
        tmp_path,
        {
            "trainer.py": "def fit(scores, loss_fn, y):\n    return loss_fn(scores, y)\n",
            "train.py": (
                "import torch\n"
                "from torch import nn\n"
                "from trainer import fit\n\n\n"
                "def main(model, x, y):\n"
                "    probs = torch.softmax(model(x), dim=1)\n"
                "    return fit(probs, nn.CrossEntropyLoss(), y)\n"
            ),
        },
    )
    options = RunOptions(paths=[project], fix=Applicability.UNSAFE)
    fixed = _findings(pipeline.run(options))
    assert [(Path(file).name, code) for file, _, _, code, *_ in fixed] == [("train.py", "MC201")]
    monkeypatch.setattr(pipeline, "CONTEXT_BUDGET_BYTES", 0)
    _as_large(monkeypatch)
    assert _findings(pipeline.run(options)) == fixed


def test_only_a_large_check_is_cut_short_by_the_context_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `model.py` names no loss, so a check does not select it: the second look's group
    # (`helpers.py` with its caller `train.py`) reads it when the flow reaches `Net`.
    project = _write_project(
        tmp_path,
        {
            "model.py": (
                "import torch.nn as nn\n"
                "import torch.nn.functional as F\n\n\n"
                "class Net(nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.fc = nn.Linear(8, 4)\n\n"
                "    def forward(self, x):\n"
                "        return F.softmax(self.fc(x), dim=1)\n"
            ),
            "helpers.py": (
                "import torch.nn.functional as F\n\n\n"
                "def compute_loss(model, x, y):\n"
                "    return F.cross_entropy(model(x), y)\n"
            ),
            "train.py": (
                "from helpers import compute_loss\n"
                "from model import Net\n\n\n"
                "def step(x, y):\n"
                "    return compute_loss(Net(), x, y)\n"
            ),
        },
    )
    options = RunOptions(paths=[project])
    monkeypatch.setattr(pipeline, "CONTEXT_BUDGET_BYTES", 0)
    small = [(Path(file).name, code) for file, _, _, code, *_ in _findings(pipeline.run(options))]
    assert small == [("model.py", "MC201")]
    # A large check (batches) reads no module beyond its members with no budget left.
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    assert _findings(pipeline.run(options)) == []


class _FailingPool:
    """A pool whose workers fail after `started` jobs: with `OSError` when none could start
    (a fork server without a writable temporary folder), else as a killed worker does."""

    def __init__(self, started: int) -> None:
        self.started = started

    def map(self, function: Callable[[Any], Any], jobs: list[Any]) -> Iterator[Any]:
        if self.started == 0:
            raise OSError(30, "Read-only file system")
        for job in jobs[: self.started]:
            yield function(job)
        raise BrokenProcessPool("a worker was killed")


@pytest.mark.parametrize("started", [0, 1], ids=["no worker starts", "a worker dies"])
def test_a_check_whose_workers_fail_runs_the_jobs_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: int
) -> None:
    project = _caller_project_with_more(tmp_path / "project", "scores.softmax(1)")
    options = RunOptions(paths=[project])
    whole = _findings(pipeline.run(options))
    assert len(whole) == 2
    _as_large(monkeypatch)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(pipeline, "_worker_pool", lambda stack: _FailingPool(started))
    assert _findings(pipeline.run(options)) == whole
