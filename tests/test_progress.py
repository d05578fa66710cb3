"""The progress bar: on stderr, on a terminal, once a run has taken about a second; never
with `--quiet` or a machine format."""

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from migrate import cli, pipeline
from migrate.output import report
from migrate.pipeline import RunOptions

SOFTMAX_INTO_CE = (
    "import torch.nn.functional as F\n\n\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, dim=1), y)\n"
)


def _project(root: Path) -> Path:
    root.mkdir()
    for number in range(3):
        (root / f"train_{number}.py").write_text(SOFTMAX_INTO_CE)
    return root


def _terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """A stderr that is a terminal, captured; and no wait before the bar appears."""
    captured = io.StringIO()
    console = Console(file=captured, force_terminal=True, width=100)
    monkeypatch.setattr(report, "stderr_console", lambda: console)
    monkeypatch.setattr(report, "PROGRESS_AFTER_SECONDS", 0.0)
    return captured


def test_a_long_run_on_a_terminal_shows_reading_and_analysing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _terminal(monkeypatch)
    project = _project(tmp_path / "project")
    with report.progress() as advance:
        pipeline.run(RunOptions(paths=[project]), advance)
    shown = captured.getvalue()
    assert "reading" in shown and "analysing" in shown
    assert "3/3" in shown


def test_a_short_run_shows_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = _terminal(monkeypatch)
    monkeypatch.setattr(report, "PROGRESS_AFTER_SECONDS", 3600.0)
    with report.progress() as advance:
        pipeline.run(RunOptions(paths=[_project(tmp_path / "project")]), advance)
    assert captured.getvalue() == ""


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        pytest.param([], True, id="default"),
        pytest.param(["--quiet"], False, id="quiet"),
        pytest.param(["-q"], False, id="short quiet"),
        pytest.param(["--output-format", "json"], False, id="json"),
        pytest.param(["--output-format", "sarif"], False, id="sarif"),
        pytest.param(["--output-format", "github"], False, id="github"),
    ],
)
def test_quiet_and_machine_formats_turn_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str], shown: bool
) -> None:
    captured = _terminal(monkeypatch)
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    for command in ("check", "migrate"):
        result = CliRunner().invoke(
            cli.app, [command, str(project), "--no-verify", "--no-cache", *arguments]
        )
        assert result.exit_code in (0, 1), result.output
        assert ("analysing" in captured.getvalue()) is shown, command
