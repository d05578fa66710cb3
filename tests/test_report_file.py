"""`--report PATH`: the report saved as HTML, Markdown or text, chosen by the extension."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from migrate.config import Config
from migrate.findings import FileOutcome, Finding
from migrate.output import report
from migrate.pipeline import FileReport, RunResult
from migrate.rule import Span, Violation
from migrate.verify import VerifyResult

Cli = Callable[..., Result]
Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]

BUGGY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, 1), y)\n"
)
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def buggy(project: Path) -> Path:
    (project / "model.py").write_text(BUGGY)
    return project


def test_markdown_report_of_a_dry_run(buggy: Path, cli: Cli) -> None:
    result = cli("check", "--diff", "--unsafe-fixes", "--report", "report.md")
    assert result.exit_code == 1
    text = (buggy / "report.md").read_text(encoding="utf-8")
    assert text.startswith("### ml2mc check: 1 finding(s) in 1 file(s)\n")
    assert "| where | rule | finding | fix |" in text
    assert "| `model.py:5:28` | **MC201** softmax-before-cross-entropy |" in text
    assert "unsafe: Pass the logits to `CrossEntropyLoss`" in text
    assert "<details><summary><code>model.py</code> would change (+1 -1)</summary>" in text
    assert "```diff\n--- a/model.py\n+++ b/model.py\n" in text
    assert (
        "-    return F.cross_entropy(F.softmax(z, 1), y)\n+    return F.cross_entropy(z, y)" in text
    )
    assert not ANSI.search(text)
    assert (buggy / "model.py").read_text() == BUGGY, "a dry run writes only the report"


def test_markdown_report_after_writing(buggy: Path, cli: Cli) -> None:
    result = cli("check", "--fix", "--unsafe-fixes", "--no-verify", "--report", "r.markdown")
    assert result.exit_code == 0
    text = (buggy / "r.markdown").read_text(encoding="utf-8")
    assert "| fixed |" in text
    assert "<code>model.py</code> changed (+1 -1)" in text


def test_markdown_report_clean(project: Path, cli: Cli) -> None:
    (project / "clean.py").write_text("x = 1\n")
    assert cli("check", "--report", "r.md").exit_code == 0
    text = (project / "r.md").read_text(encoding="utf-8")
    assert text.startswith("### ml2mc check: no findings\n")
    assert "| where |" not in text


def test_text_report_is_the_plain_report(buggy: Path, cli: Cli) -> None:
    result = cli("check", "--report", "report.txt")
    assert result.exit_code == 1
    assert (buggy / "report.txt").read_text(encoding="utf-8") == result.stdout


def test_html_report(buggy: Path, cli: Cli) -> None:
    result = cli("migrate", "--no-verify", "--report", "report.html")
    assert result.exit_code == 0
    page = (buggy / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>ml2mc migrate report</title>" in page
    assert "MC201" in page and "model.py" in page
    assert "style=" in page, "colors are kept as inline styles"
    assert "F.cross_entropy(z, y)" in page, "the diff is in the page"
    assert not ANSI.search(page)


def test_report_extension_is_case_insensitive(buggy: Path, cli: Cli) -> None:
    cli("check", "--report", "REPORT.MD")
    assert (buggy / "REPORT.MD").read_text(encoding="utf-8").startswith("### ml2mc check")


def test_unknown_extension_is_a_usage_error_before_anything_runs(
    buggy: Path, cli: Cli, snapshot: Snapshot
) -> None:
    before = snapshot(buggy)
    result = cli("check", "--fix", "--unsafe-fixes", "--report", "report.pdf")
    assert result.exit_code == 2
    assert "unknown extension" in result.stderr
    assert snapshot(buggy) == before, "nothing was fixed"


def test_missing_folder_is_a_usage_error(buggy: Path, cli: Cli) -> None:
    result = cli("check", "--report", "no/such/folder/report.md")
    assert result.exit_code == 2
    assert "no such folder" in result.stderr


def test_a_folder_is_not_a_report_file(buggy: Path, cli: Cli) -> None:
    (buggy / "taken.md").mkdir()
    result = cli("check", "--report", "taken.md")
    assert result.exit_code == 2


def test_unwritable_report_exits_1(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "clean.py").write_text("x = 1\n")

    def refuse(*_: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(report, "save_report", refuse)
    result = cli("check", "--report", "r.md")
    assert result.exit_code == 1, "clean code, but the report the user asked for is missing"
    assert "cannot save the report to r.md: Permission denied" in result.stderr


def test_report_with_machine_output_format(buggy: Path, cli: Cli) -> None:
    """stdout keeps the machine format; the saved file is the human report."""
    result = cli("check", "--output-format", "json", "--report", "r.md")
    assert result.stdout.lstrip().startswith("{")
    assert (buggy / "r.md").read_text(encoding="utf-8").startswith("### ml2mc check")


# ---------------------------------------------------------------------------------------------
# Rendering details, on results built by hand (no torch, no files)


def _verified_result() -> RunResult:
    violation = Violation(
        code="MC201",
        name="softmax-before-cross-entropy",
        message="`a | b` feeds probabilities\nto the loss",
        span=Span(3, 4, 3, 9),
        no_fix_reason="the value has other readers",
    )
    outcome = FileOutcome("m.py", "x\n", "x\n", [Finding(violation)], [violation])
    verification = [
        VerifyResult(
            "m.py:Net", "model", "pass", "orig = softmax(new, dim=1)", 2e-16, 1e-15, 3, 0.42, None
        ),
        VerifyResult("m.py:Other", "model", "skip", None, None, None, 0, 0.01, "needs arguments"),
    ]
    return RunResult([FileReport(Path("m.py"), "m.py", outcome)], Config(), verification)


def test_markdown_escapes_table_cells() -> None:
    style = report.ReportStyle("rich", "check")
    text = report.markdown_report(_verified_result(), style)
    assert "`a \\| b` feeds probabilities<br>to the loss" in text
    assert "no fix: the value has other readers" in text


def test_markdown_verification_table() -> None:
    style = report.ReportStyle("rich", "verify", verifying=True)
    text = report.markdown_report(_verified_result(), style)
    assert text.startswith("### ml2mc verify: models 1 pass, 1 not verified\n")
    assert "| checked | relation | batches | max abs error | time | status |" in text
    assert "| model: `m.py:Net` | orig = softmax(new, dim=1) | 3 | 2.0e-16 | 0.42s | pass |" in text
    assert "| model: `m.py:Other` | - | 0 | - | 0.01s | **skip**: needs arguments |" in text


def test_html_verification_table() -> None:
    style = report.ReportStyle("rich", "verify", verifying=True)
    page = report.html_report(_verified_result(), style)
    assert "verification" in page and "m.py:Net" in page and "needs arguments" in page


def test_verify_with_nothing_changed_markdown() -> None:
    result = RunResult([], Config())
    text = report.markdown_report(result, report.ReportStyle("rich", "verify", verifying=True))
    assert text.startswith("### ml2mc verify: no changed model to verify\n")


def test_diff_fence_outgrows_backticks_in_the_code() -> None:
    original = 'doc = """\n```python\nx\n```\n"""\n'
    fixed = original.replace("x\n", "y\n")
    outcome = FileOutcome("m.py", original, fixed)
    result = RunResult([FileReport(Path("m.py"), "m.py", outcome)], Config())
    text = report.markdown_report(result, report.ReportStyle("rich", "check", diff_only=True))
    assert "````diff\n" in text and "\n````\n" in text
