"""`ml2mc migrate --interactive`: hunks split and applied exactly, the review loop, and the real
prompt driven through a pseudo-terminal."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import Result

from migrate.config import Config
from migrate.discovery import SourceFile, read_source
from migrate.findings import FileOutcome
from migrate.output.interactive import Answer, UnitReview, parse_answer, review, split_hunks
from migrate.pipeline import MIGRATE_DEFAULT, FileReport, RunOptions, RunResult, run
from migrate.rule import Applicability
from migrate.writer import unified_diff

Cli = Callable[..., Result]
Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]
PROMPT = b"[y,n,a,q,?]? "

# ---------------------------------------------------------------------------------------------
# Splitting and applying (pure)

lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\r\n", "e", "\n", "f\r"]), max_size=30)


def _text(parts: list[str]) -> str:
    # Only the last line may lack its line ending.
    return "".join(part if part.endswith(("\n", "\r")) else part + "\n" for part in parts[:-1]) + (
        parts[-1] if parts else ""
    )


@settings(max_examples=150, deadline=None)
@given(before=lines, after=lines)
def test_hunks_are_the_unified_diff(before: list[str], after: list[str]) -> None:
    old, new = _text(before), _text(after)
    expected = unified_diff("f.py", old, new)
    hunks = split_hunks(old, new)
    header = "--- a/f.py\n+++ b/f.py\n" if hunks else ""
    assert header + "".join(hunk.text for hunk in hunks) == expected


def test_hunk_counts_and_header() -> None:
    old = "".join(f"line {n}\n" for n in range(1, 21))
    new = old.replace("line 2\n", "line two\n").replace("line 18\n", "")
    first, second = split_hunks(old, new)
    assert first.header == "@@ -1,5 +1,5 @@"
    assert (first.added, first.removed) == (1, 1)
    assert second.header == "@@ -15,6 +15,5 @@"
    assert (second.added, second.removed) == (0, 1)


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("y", Answer.ACCEPT),
        (" Yes \n", Answer.ACCEPT),
        ("n", Answer.SKIP),
        ("s", Answer.SKIP),
        ("a", Answer.ALL),
        ("q", Answer.QUIT),
        ("", None),
        ("?", None),
        ("maybe", None),
    ],
)
def test_parse_answer(typed: str, answer: Answer | None) -> None:
    assert parse_answer(typed) is answer


# ---------------------------------------------------------------------------------------------
# The review loop, in-process with scripted answers


def _dry_run() -> RunResult:
    options = RunOptions(
        paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE
    )
    return run(options)


def _proposed(root: Path) -> dict[Path, tuple[str, str]]:
    """What the migration proposes: per changed file, its original and planned text."""
    result = _dry_run()
    return {
        root / report.display: (report.outcome.original, report.outcome.fixed)
        for report in result.changed_files
    }


def _scripted(*answers: Answer) -> Callable[[UnitReview, int, int], Answer]:
    pending = list(answers)

    def ask(unit: UnitReview, number: int, total: int) -> Answer:
        return pending.pop(0) if pending else Answer.QUIT

    return ask


def test_review_accept_all_equals_write(example: Path) -> None:
    proposed = _proposed(example)
    outcome = review(_dry_run(), _scripted(Answer.ALL))
    assert outcome.accepted == outcome.total == 1, "the example is one unit"
    assert outcome.hunks == sum(len(split_hunks(*texts)) for texts in proposed.values())
    for path, (_, fixed) in proposed.items():
        assert path.read_text() == fixed


def test_review_skip_all_writes_nothing(example: Path, snapshot: Snapshot) -> None:
    before = snapshot(example)
    result = _dry_run()
    outcome = review(result, _scripted(*[Answer.SKIP] * 50))
    assert outcome.accepted == 0 and not outcome.written
    assert snapshot(example) == before
    assert not result.changed_files, "the run's reports show what was written: nothing"
    assert not any(finding.fixed for _, finding in result.findings)


def _two_units(root: Path) -> RunResult:
    """Two files, each a unit of its own (nothing joins them)."""
    reports = []
    for name in ("a.py", "b.py"):
        path = root / name
        path.write_text("x = 1\n")
        source = read_source(path)
        assert isinstance(source, SourceFile)
        reports.append(FileReport(path, name, FileOutcome(name, "x = 1\n", "x = 2\n"), source))
    return RunResult(reports, Config(), units=[("a.py",), ("b.py",)])


def test_review_quit_keeps_earlier_units(tmp_path: Path) -> None:
    outcome = review(_two_units(tmp_path), _scripted(Answer.ACCEPT, Answer.QUIT))
    assert outcome.quit and (outcome.accepted, outcome.total) == (1, 2)
    assert (tmp_path / "a.py").read_text() == "x = 2\n"
    assert (tmp_path / "b.py").read_text() == "x = 1\n"


def test_review_skips_one_unit_and_writes_the_other(tmp_path: Path) -> None:
    outcome = review(_two_units(tmp_path), _scripted(Answer.SKIP, Answer.ACCEPT))
    assert [item.report.display for item in outcome.written] == ["b.py"]
    assert (tmp_path / "a.py").read_text() == "x = 1\n"
    assert (tmp_path / "b.py").read_text() == "x = 2\n"


def test_interactive_through_cli_runner_with_report(example: Path, cli: Cli) -> None:
    """Answers on a non-terminal stdin work too (scripts, CI); the saved report shows what
    was applied."""
    result = cli("migrate", "--interactive", "--report", "review.md", stdin="a\n")
    assert result.exit_code == 0, result.output
    assert "unit(s) accepted" in result.stdout
    assert "Next: `ml2mc verify --against HEAD`" in result.stdout
    report = (example / "review.md").read_text()
    assert "### ml2mc migrate" in report and "```diff" in report and "changed" in report
    again = cli("migrate", "--check", "--no-verify")
    assert again.exit_code == 0, "everything proposed was accepted and written"


@pytest.mark.parametrize(
    "options", [("--diff",), ("--check",), ("--strict",), ("--output-format", "json"), ("-",)]
)
def test_interactive_conflicting_options_exit_2(
    example: Path, cli: Cli, options: tuple[str, ...]
) -> None:
    result = cli("migrate", "--interactive", *options)
    assert result.exit_code == 2
    assert "--interactive cannot be combined" in result.stderr


# ---------------------------------------------------------------------------------------------
# The real prompt, through a pseudo-terminal

pty = pytest.importorskip("pty") if sys.platform != "win32" else None


def _drive(cwd: Path, answers: list[str], timeout: float = 60.0) -> tuple[int, str]:
    """Run `python -m migrate migrate --interactive --no-verify` on a pseudo-terminal and answer
    each prompt in turn ("q" once the answers run out)."""
    assert pty is not None
    master, slave = pty.openpty()
    environment = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "migrate", "--interactive", "--no-verify"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env=environment,
        close_fds=True,
    )
    os.close(slave)
    output = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer in {timeout}s; output so far:\n{output!r}")
            ready, _, _ = select.select([master], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
            while answered < output.count(PROMPT):
                answer = answers[answered] if answered < len(answers) else "q"
                answered += 1
                os.write(master, answer.encode() + b"\n")
        return process.wait(timeout=timeout), output.decode("utf-8", "replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_pty_help_then_accept(example: Path) -> None:
    proposed = _proposed(example)
    exit_code, output = _drive(example, ["?", "y"])
    assert exit_code == 0, output
    assert "y - apply this unit" in output, "`?` shows the help, then asks again"
    assert "(1/1)" in output and "1 of 1 unit(s) accepted; 3 file(s) written" in output
    for path, (_, fixed) in proposed.items():
        assert path.read_text() == fixed


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_pty_skip_writes_nothing(example: Path, snapshot: Snapshot) -> None:
    before = snapshot(example)
    exit_code, output = _drive(example, ["n"])
    assert exit_code == 0, output
    assert "0 of 1 unit(s) accepted; 0 file(s) written" in output
    assert snapshot(example) == before
    lines = output.replace("\r\n", "\n")
    assert " \n\n(1/1) Apply" in lines, "one blank line before the question, as through a pipe"
