"""The progress bar: on stderr, on a terminal, once a run has taken about a second; never
with `--quiet` or a machine format."""

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

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


def test_a_stage_that_reports_nothing_for_a_while_still_gets_the_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One large file: its stage starts at 0/1 and says nothing more until it ends; the bar
    appears once the delay has passed, not at the next report."""
    captured = _terminal(monkeypatch)
    monkeypatch.setattr(report, "PROGRESS_AFTER_SECONDS", 0.05)
    with report.progress() as advance:
        advance("analysing", 0, 1)
        time.sleep(0.5)
        during = captured.getvalue()
    assert "analysing" in during and "0/1" in during


def test_one_slow_file_shows_the_bar_while_it_is_analysed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured = _terminal(monkeypatch)
    monkeypatch.setattr(report, "PROGRESS_AFTER_SECONDS", 0.05)
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(SOFTMAX_INTO_CE)
    seen_during_analysis: list[str] = []
    analyse = pipeline.check_project

    def slow_analysis(*arguments: Any, **keywords: Any) -> Any:
        time.sleep(0.5)
        seen_during_analysis.append(captured.getvalue())
        return analyse(*arguments, **keywords)

    monkeypatch.setattr(pipeline, "check_project", slow_analysis)
    with report.progress() as advance:
        pipeline.run(RunOptions(paths=[project]), advance)
    assert "analysing" in seen_during_analysis[0] and "0/1" in seen_during_analysis[0]


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


def test_concise_output_shows_no_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    captured = _terminal(monkeypatch)
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    arguments = ["check", str(project), "--no-cache"]
    concise = CliRunner().invoke(cli.app, [*arguments, "--output-format", "concise"])
    assert concise.exit_code == 1
    assert captured.getvalue() == ""
    # The same run in the rich format, on the same terminal, draws it.
    assert CliRunner().invoke(cli.app, arguments).exit_code == 1
    assert "analysing" in captured.getvalue()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("0", 0.0, id="zero"),
        pytest.param("2.5", 2.5, id="seconds"),
        pytest.param("soon", report.PROGRESS_AFTER_SECONDS, id="not a number"),
        pytest.param("-1", report.PROGRESS_AFTER_SECONDS, id="negative"),
    ],
)
def test_the_delay_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, seconds: float
) -> None:
    monkeypatch.setenv(report.PROGRESS_AFTER_VARIABLE, value)
    assert report._progress_delay() == seconds


# ---------------------------------------------------------------------------------------------
# --quiet: no summary line and no closing hint, the findings still printed

SUMMARY = "file(s) scanned"


@pytest.mark.parametrize("command", ["check", "migrate"])
@pytest.mark.parametrize("quiet", ["--quiet", "-q"])
def test_quiet_hides_the_summary_line_and_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, quiet: str
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    arguments = [command, str(project), "--no-verify", "--no-cache"]
    loud = CliRunner().invoke(cli.app, arguments)
    hushed = CliRunner().invoke(cli.app, [*arguments, quiet])
    assert loud.exit_code == hushed.exit_code
    assert SUMMARY not in hushed.stdout and SUMMARY not in hushed.stderr
    assert "Next:" not in hushed.stdout
    # What is left is the report without its first line (and the blank after it) and its
    # last one: the findings and diffs.
    lines = loud.stdout.splitlines()
    assert SUMMARY in lines[0] and lines[-1].startswith("Next:")
    assert "\n".join(lines[2:-1]).rstrip() == hushed.stdout.rstrip()
    assert len([line for line in hushed.stdout.splitlines() if ": MC201 " in line]) == 3


def test_quiet_on_a_clean_run_prints_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "clean.py").write_text("x = 1\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["check", str(project), "--no-cache", "-q"])
    assert result.exit_code == 0
    assert result.stdout == "" and result.stderr == ""


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param(["check", "--output-format", "concise"], id="concise"),
        pytest.param(["check", "--output-format", "github"], id="github"),
        pytest.param(["check", "--diff", "--unsafe-fixes"], id="check diff"),
        pytest.param(["migrate", "--diff"], id="migrate diff"),
    ],
)
def test_quiet_hides_the_summary_line_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str]
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    full = [*arguments, str(project), "--no-verify", "--no-cache"]
    loud = CliRunner().invoke(cli.app, full)
    hushed = CliRunner().invoke(cli.app, [*full, "-q"])
    assert SUMMARY in loud.stderr
    assert SUMMARY not in hushed.stderr
    assert hushed.stdout == loud.stdout and hushed.stdout.strip()


def test_quiet_keeps_the_saved_report_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path / "project")
    monkeypatch.chdir(tmp_path)
    saved = tmp_path / "report.txt"
    result = CliRunner().invoke(
        cli.app, ["check", str(project), "--no-cache", "-q", "--report", str(saved)]
    )
    assert result.exit_code == 1
    assert SUMMARY not in result.stdout
    assert saved.read_text().startswith("3 file(s) scanned; 3 finding(s) (MC201 x3)\n")


# ---------------------------------------------------------------------------------------------
# A real process whose stderr is a terminal (a pseudo-terminal), or a pipe


def _run_ml2mc(
    arguments: list[str], cwd: Path, terminal: bool, delay: str | None = "0"
) -> tuple[int, str, str]:
    """`python -m migrate ARGS` with stdout a pipe and stderr a pseudo-terminal (or a pipe):
    exit code, stdout, and everything written to stderr (a bar that erased itself included)."""
    environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"}
    environment.pop("NO_COLOR", None)
    environment.pop(report.PROGRESS_AFTER_VARIABLE, None)
    if delay is not None:
        environment[report.PROGRESS_AFTER_VARIABLE] = delay
    command = [sys.executable, "-m", "migrate", *arguments]
    if not terminal:
        completed = subprocess.run(
            command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
        )
        return completed.returncode, completed.stdout, completed.stderr
    leader, follower = os.openpty()
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
        )
    finally:
        os.close(follower)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child closed its end
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        stdout, _ = process.communicate(timeout=120)
    finally:
        reader.join(timeout=10)
        os.close(leader)
    return process.returncode, stdout.decode(), b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
@pytest.mark.parametrize(
    ("arguments", "terminal", "delay", "shown"),
    [
        pytest.param([], True, "0", True, id="terminal"),
        pytest.param(["migrate"], True, "0", True, id="terminal migrate"),
        pytest.param([], False, "0", False, id="pipe"),
        pytest.param(["--quiet"], True, "0", False, id="quiet"),
        pytest.param(["--output-format", "json"], True, "0", False, id="json"),
        pytest.param(["--output-format", "concise"], True, "0", False, id="concise"),
        pytest.param([], True, None, False, id="short run, default delay"),
    ],
)
def test_the_bar_in_a_real_process(
    tmp_path: Path, arguments: list[str], terminal: bool, delay: str | None, shown: bool
) -> None:
    project = _project(tmp_path / "project")
    command = ["migrate", "--no-verify"] if arguments[:1] == ["migrate"] else ["check"]
    options = arguments[1:] if arguments[:1] == ["migrate"] else arguments
    exit_code, stdout, stderr = _run_ml2mc(
        [*command, str(project), "--no-cache", *options], tmp_path, terminal, delay
    )
    assert exit_code == (0 if command[0] == "migrate" else 1), stderr  # migrate: a dry run
    assert "MC201" in stdout
    assert ("analysing" in stderr) is shown, stderr
    assert ("reading" in stderr) is shown, stderr
