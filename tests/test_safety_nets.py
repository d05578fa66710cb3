"""The two nets under every write: files are replaced whole (temporary file, then rename), and
a fix that leaves code that does not parse is never applied, in one file or across files.

Each test checks a different consequence, so that breaking a net fails several tests for
several reasons (issue: tests that catch a broken engine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate import pipeline
from migrate.analysis.facts import ModuleFacts
from migrate.engine import ModuleInput, check_project, check_source
from migrate.pipeline import RunOptions
from migrate.rule import Applicability, Edit, Fix, Rule, Violation
from migrate.testing import calls_named
from migrate.writer import atomic_write

# A file must name an activation or a loss before the engine reads it.
TRIGGER = "# softmax\n"

# ---------------------------------------------------------------------------------------------
# The writer replaces a file, it never rewrites it in place


def test_a_reader_that_opened_the_file_before_the_write_reads_the_old_bytes(
    tmp_path: Path,
) -> None:
    target = tmp_path / "model.py"
    target.write_bytes(b"old = 1\n" * 100)
    with target.open("rb") as reader:
        atomic_write(target, b"new = 2\n")
        # A rename gives the path a new file; the open handle still reads the old one whole.
        assert reader.read() == b"old = 1\n" * 100
    assert target.read_bytes() == b"new = 2\n"


def test_a_hard_link_to_the_file_keeps_the_old_bytes(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_bytes(b"old = 1\n")
    backup = tmp_path / "model.py.orig"
    os.link(target, backup)
    atomic_write(target, b"new = 2\n")
    assert target.read_bytes() == b"new = 2\n"
    assert backup.read_bytes() == b"old = 1\n"
    assert target.stat().st_ino != backup.stat().st_ino


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_that_runs_out_of_space_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """A file-size limit stands in for a full disk: the write fails part way."""
    target = tmp_path / "model.py"
    target.write_bytes(b"old = 1\n")
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        from pathlib import Path
        from migrate.writer import WriteFailure, atomic_write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            atomic_write(Path({str(target)!r}), b"x = 0\\n" * 100_000)
        except WriteFailure as error:
            print("refused:", error)
            sys.exit(0)
        sys.exit(1)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "refused" in completed.stdout
    assert target.read_bytes() == b"old = 1\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.py"]


# ---------------------------------------------------------------------------------------------
# A fix that breaks the code is never applied


class SpanningBreakRule(Rule):
    """A fix over two files: a valid edit here, an edit that breaks `other.py` there."""

    code = "MC995"
    name = "test-spanning-break"
    summary = "breaks another file"
    message = "spans"
    safety = Applicability.SAFE

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        if facts.path != "m.py":
            return
        for call in calls_named(facts.tree, "wrap"):
            fix = Fix(
                "Break the other file",
                Applicability.SAFE,
                (facts.replace(call, "fine(a)"), Edit("other.py", 0, 0, "def (\n")),
            )
            yield self.violation(facts, call, self.message, fix)


class BreakingRule(Rule):
    """Its fix leaves an unclosed bracket. An MC1xx code, so that a run reads every file that
    names an activation (a migration's selection)."""

    code = "MC196"
    name = "test-breaking"
    summary = "breaks the code"
    message = "breaks"
    safety = Applicability.SAFE

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for call in calls_named(facts.tree, "wrap"):
            fix = Fix("Break it", Applicability.SAFE, (facts.replace(call, "wrap(("),))
            yield self.violation(facts, call, self.message, fix)


def test_a_fix_that_breaks_another_file_changes_neither_file() -> None:
    modules = {
        "m.py": ModuleInput(TRIGGER + "value = wrap(a)\n", "m"),
        "other.py": ModuleInput(TRIGGER + "x = 1\n", "other"),
    }
    outcomes = check_project(modules, [SpanningBreakRule()], Applicability.UNSAFE)
    assert not outcomes["m.py"].changed
    assert not outcomes["other.py"].changed
    assert not any(finding.fixed for finding in outcomes["m.py"].findings)


def test_a_broken_fix_is_reported_as_an_internal_error_and_leaves_the_finding() -> None:
    source = TRIGGER + "value = wrap(a)\nother = wrap(b)\n"
    outcome = check_source("m.py", source, [BreakingRule()], fix=Applicability.UNSAFE)
    assert outcome.fixed == source
    codes = [violation.code for violation in outcome.remaining]
    assert codes.count("MC196") == 2 and "MC002" in codes


def test_a_broken_fix_writes_nothing_to_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    model = project / "m.py"
    original = TRIGGER + "value = wrap(a)\n"
    model.write_text(original)
    monkeypatch.chdir(project)
    monkeypatch.setattr(pipeline, "select_rules", lambda *args, **kwargs: [BreakingRule()])
    result = pipeline.run(
        RunOptions(paths=[project], fix=Applicability.UNSAFE, write=True, allow_dirty=True)
    )
    assert model.read_text() == original
    assert not result.changed_files
    reported = {finding.violation.code for _, finding in result.findings}
    assert "MC196" in reported
    remaining = {
        violation.code for report in result.files for violation in report.outcome.remaining
    }
    assert "MC002" in remaining
