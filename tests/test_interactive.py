"""`ml2mc migrate --interactive`: hunks split and applied exactly, the review loop, and the real
prompt driven through a pseudo-terminal."""

from __future__ import annotations

import os
import select
import shutil
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
from migrate.output.interactive import Answer, Hunk, apply_hunks, parse_answer, review, split_hunks
from migrate.pipeline import MIGRATE_DEFAULT, FileReport, RunOptions, RunResult, run
from migrate.rule import Applicability
from migrate.testing import FIXTURES
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


@settings(max_examples=150, deadline=None)
@given(before=lines, after=lines, data=st.data())
def test_applying_hunks(before: list[str], after: list[str], data: st.DataObject) -> None:
    old, new = _text(before), _text(after)
    hunks = split_hunks(old, new)
    assert apply_hunks(old, hunks) == new
    assert apply_hunks(old, []) == old
    chosen = data.draw(st.lists(st.sampled_from(hunks), unique_by=id) if hunks else st.just([]))
    partial = apply_hunks(old, chosen).splitlines(keepends=True)
    changes = [change for hunk in chosen for change in hunk.changes]
    growth = sum(len(change.lines) - (change.end - change.start) for change in changes)
    assert len(partial) == len(old.splitlines(keepends=True)) + growth


def test_hunk_counts_and_header() -> None:
    old = "".join(f"line {n}\n" for n in range(1, 21))
    new = old.replace("line 2\n", "line two\n").replace("line 18\n", "")
    first, second = split_hunks(old, new)
    assert first.header == "@@ -1,5 +1,5 @@"
    assert (first.added, first.removed) == (1, 1)
    assert second.header == "@@ -15,6 +15,5 @@"
    assert (second.added, second.removed) == (0, 1)
    assert apply_hunks(old, [second]) == old.replace("line 18\n", "")


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


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "example"
    shutil.copytree(FIXTURES / "projects" / "example" / "before", work)
    monkeypatch.chdir(work)
    return work


def _dry_run() -> RunResult:
    options = RunOptions(
        paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE
    )
    return run(options)


def _proposed(root: Path) -> list[tuple[Path, str, list[Hunk]]]:
    """What the migration proposes: per changed file, its original text and hunks."""
    result = _dry_run()
    return [
        (
            root / report.display,
            report.outcome.original,
            split_hunks(report.outcome.original, report.outcome.fixed),
        )
        for report in result.changed_files
    ]


def _scripted(*answers: Answer) -> Callable[[FileReport, Hunk, int, int], Answer]:
    pending = list(answers)
    asked: list[int] = []

    def ask(report: FileReport, hunk: Hunk, number: int, total: int) -> Answer:
        asked.append(number)
        return pending.pop(0) if pending else Answer.QUIT

    return ask


def test_review_accept_all_equals_write(example: Path) -> None:
    proposed = _proposed(example)
    outcome = review(_dry_run(), _scripted(Answer.ALL))
    assert outcome.accepted == outcome.total == sum(len(h) for _, _, h in proposed)
    for path, original, hunks in proposed:
        assert path.read_text() == apply_hunks(original, hunks)


def test_review_skip_all_writes_nothing(example: Path, snapshot: Snapshot) -> None:
    before = snapshot(example)
    result = _dry_run()
    outcome = review(result, _scripted(*[Answer.SKIP] * 50))
    assert outcome.accepted == 0 and not outcome.written
    assert snapshot(example) == before
    assert not result.changed_files, "the run's reports show what was written: nothing"
    assert not any(finding.fixed for _, finding in result.findings)


def test_review_quit_keeps_earlier_answers(example: Path) -> None:
    proposed = _proposed(example)
    assert sum(len(h) for _, _, h in proposed) >= 2, "the example proposes several hunks"
    outcome = review(_dry_run(), _scripted(Answer.ACCEPT, Answer.QUIT))
    assert outcome.quit and outcome.accepted == 1
    (first_path, first_original, first_hunks), *others = proposed
    assert first_path.read_text() == apply_hunks(first_original, first_hunks[:1])
    for path, original, _ in others:
        assert path.read_text() == original


def test_review_refuses_a_selection_that_does_not_parse(tmp_path: Path) -> None:
    original = "x = [\n" + "    1,\n" * 8 + "]\n"
    fixed = "x = (\n" + "    1,\n" * 8 + ")\n"
    path = tmp_path / "m.py"
    path.write_text(original)
    source = read_source(path)
    assert isinstance(source, SourceFile)
    report = FileReport(path, "m.py", FileOutcome("m.py", original, fixed), source)
    outcome = review(RunResult([report], Config()), _scripted(Answer.ACCEPT, Answer.SKIP))
    assert [item.error for item in outcome.errors] == [
        "the accepted hunks do not form valid Python; file not written"
    ]
    assert path.read_text() == original


def test_interactive_through_cli_runner_with_report(example: Path, cli: Cli) -> None:
    """Answers on a non-terminal stdin work too (scripts, CI); the saved report shows what
    was applied."""
    result = cli("migrate", "--interactive", "--report", "review.md", stdin="a\n")
    assert result.exit_code == 0, result.output
    assert "hunk(s) accepted" in result.stdout
    assert "Next: `ml2mc verify --against HEAD`" in result.stdout
    report = (example / "review.md").read_text()
    assert "### ml2mc migrate" in report and "```diff" in report and "changed" in report
    again = cli("migrate", "--check", "--no-verify")
    assert again.exit_code == 0, "everything proposed was accepted and written"


@pytest.mark.parametrize(
    "options", [("--diff",), ("--check",), ("--output-format", "json"), ("-",)]
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
def test_pty_accept_then_quit(example: Path) -> None:
    proposed = _proposed(example)
    exit_code, output = _drive(example, ["?", "y", "q"])
    assert exit_code == 0, output
    assert "y - apply this hunk" in output, "`?` shows the help, then asks again"
    assert "(1/" in output and "1 of " in output and "(quit)" in output
    (first_path, first_original, first_hunks), *others = proposed
    assert first_path.read_text() == apply_hunks(first_original, first_hunks[:1])
    for path, original, _ in others:
        assert path.read_text() == original


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_pty_skip_first_accept_all_rest(example: Path) -> None:
    proposed = _proposed(example)
    exit_code, output = _drive(example, ["n", "a"])
    assert exit_code == 0, output
    (first_path, first_original, first_hunks), *others = proposed
    assert first_path.read_text() == apply_hunks(first_original, first_hunks[1:])
    for path, original, hunks in others:
        assert path.read_text() == apply_hunks(original, hunks)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_pty_skip_everything_writes_nothing(example: Path, snapshot: Snapshot) -> None:
    total = sum(len(hunks) for _, _, hunks in _proposed(example))
    before = snapshot(example)
    exit_code, output = _drive(example, ["n"] * total)
    assert exit_code == 0, output
    assert f"0 of {total} hunk(s) accepted; 0 file(s) written" in output
    assert snapshot(example) == before
