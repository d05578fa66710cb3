"""The persistent cache answers an unchanged run, and only an unchanged one."""

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate import pipeline
from migrate.cli import app
from migrate.pipeline import RunOptions

SOFTMAX_INTO_CE = (
    "import torch.nn.functional as F\n\n\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, dim=1), y)\n"
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ML2MC_CACHE_DIR", str(folder))
    return folder


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "train.py").write_text(SOFTMAX_INTO_CE)
    (root / "other.py").write_text("import torch\n")
    return root


def _codes(result: pipeline.RunResult) -> list[tuple[str, str]]:
    return [(report.display, finding.violation.code) for report, finding in result.findings]


def _refuse_analysis(*args: object, **kwargs: object) -> None:
    raise AssertionError("the run analysed again instead of answering from the cache")


def test_an_unchanged_run_answers_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    options = RunOptions(paths=[project], cache=True)
    first = _codes(pipeline.run(options))
    assert [code for _, code in first] == ["MC201"]
    assert (tmp_path / "cache" / "CACHEDIR.TAG").is_file()
    # Outside the project: a run that writes nothing leaves the tree as it was.
    assert sorted(path.name for path in project.iterdir()) == ["other.py", "train.py"]
    monkeypatch.setattr(pipeline, "_analyze", _refuse_analysis)
    assert _codes(pipeline.run(options)) == first


def test_a_changed_file_is_analysed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    options = RunOptions(paths=[project], cache=True)
    assert [code for _, code in _codes(pipeline.run(options))] == ["MC201"]
    train = project / "train.py"
    # The same size: only the modification time tells the change.
    train.write_text(SOFTMAX_INTO_CE.replace("F.softmax(z, dim=1)", "z".ljust(19)))
    assert train.stat().st_size == len(SOFTMAX_INTO_CE)
    stat = train.stat()
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert _codes(pipeline.run(options)) == []


def test_other_rules_or_options_do_not_share_an_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    pipeline.run(RunOptions(paths=[project], cache=True))
    monkeypatch.setattr(pipeline, "_analyze", _refuse_analysis)
    with pytest.raises(AssertionError, match="analysed again"):
        pipeline.run(RunOptions(paths=[project], cache=True, ignore=["MC201"]))


def test_a_broken_entry_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    options = RunOptions(paths=[project], cache=True)
    first = _codes(pipeline.run(options))
    for entry in (tmp_path / "cache").glob("*.pickle"):
        entry.write_bytes(b"\x80\x05half an entry")
    assert _codes(pipeline.run(options)) == first


def test_runs_that_write_or_verify_never_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    pipeline.run(RunOptions(paths=[project], cache=True, write=True, allow_dirty=True))
    assert not (tmp_path / "cache").exists()


def test_no_cache_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", str(project), "--no-cache"])
    assert result.exit_code == 1, result.output
    assert not (tmp_path / "cache").exists()
    result = CliRunner().invoke(app, ["check", str(project)])
    assert result.exit_code == 1, result.output
    assert (tmp_path / "cache").is_dir()
