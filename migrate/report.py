"""Everything ml2mc prints: the rich report on a terminal, stable plain text otherwise, and
machine formats (concise, json). The only module that writes to stdout or stderr."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from migrate.engine import Finding
from migrate.pipeline import FileReport, RunResult
from migrate.rule import Rule, Violation

if TYPE_CHECKING:
    from migrate.verify import VerifyResult

FORMATS = ("rich", "concise", "json", "sarif", "github")
JSON_VERSION = 1
PROGRESS_THRESHOLD = 200  # files; below this a bar only flickers


@dataclass(frozen=True)
class ReportStyle:
    format: str
    command: str  # "check" | "migrate" | "verify"
    fixing: bool = False
    writing: bool = False
    diff_only: bool = False
    verifying: bool = False
    unsafe_fixes: bool = False


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """A usage or configuration error (exit 2 follows)."""
    print(f"ml2mc: error: {message}", file=sys.stderr)


@contextmanager
def progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long runs on a terminal; nothing otherwise."""
    console = stderr_console()
    state: dict[str, Any] = {}

    def advance(done: int, total: int) -> None:
        if total < PROGRESS_THRESHOLD or not console.is_terminal:
            return
        if "bar" not in state:
            bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task("scan", total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        yield advance
    finally:
        if "bar" in state:
            state["bar"].stop()


# ---------------------------------------------------------------------------------------------
# Run reports


def print_run(result: RunResult, style: ReportStyle, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    if style.format == "json":
        stream.write(json.dumps(run_to_json(result), indent=2) + "\n")
    elif style.format == "concise":
        _print_concise(result, stream)
    elif style.format in ("sarif", "github"):
        from migrate import machine_formats

        writer = machine_formats.sarif if style.format == "sarif" else machine_formats.github
        stream.write(writer(result))
    elif style.diff_only:
        _print_diff_only(result, stream)
    else:
        console = Console(file=stream, highlight=False, soft_wrap=True) if out else stdout_console()
        if console.is_terminal:
            _print_rich(result, style, console)
        else:
            stream.write(plain_report(result, style))


def run_to_json(result: RunResult) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "findings": [_finding_json(report.display, finding) for report, finding in result.findings],
        "changes": [
            {"file": report.display, "diff": report.diff, "written": report.written}
            for report in result.changed_files
        ],
        "verification": [_verification_json(item) for item in result.verification],
        "summary": {
            "files_scanned": len(result.files),
            "files_changed": len(result.changed_files),
            "errors": result.errors,
            "remaining": result.remaining,
            "verification_error": result.verification_error,
            "write_errors": [
                {"file": report.display, "reason": report.write_error}
                for report in result.files
                if report.write_error
            ],
        },
    }


def _finding_json(display: str, finding: Finding) -> dict[str, Any]:
    violation = finding.violation
    fix = violation.fix
    return {
        "code": violation.code,
        "name": violation.name,
        "file": display,
        "line": violation.span.line,
        "column": violation.span.column,
        "end_line": violation.span.end_line,
        "end_column": violation.span.end_column,
        "message": violation.message,
        "fix": None
        if fix is None
        else {"title": fix.title, "applicability": fix.applicability.value},
        "fixed": finding.fixed,
        "no_fix_reason": violation.no_fix_reason,
        "related": [
            {"file": path, "line": span.line, "column": span.column}
            for path, span in violation.related
        ],
    }


def _verification_json(item: VerifyResult) -> dict[str, Any]:
    from migrate.verify import result_to_json

    return result_to_json(item)


def _print_concise(result: RunResult, stream: TextIO) -> None:
    for report, finding in result.findings:
        violation = finding.violation
        marker = " [fixed]" if finding.fixed else ""
        stream.write(
            f"{report.display}:{violation.span.line}:{violation.span.column}: "
            f"{violation.code} {violation.message}{marker}\n"
        )
    for report in result.files:
        if report.write_error:
            stream.write(f"{report.display}: not written: {report.write_error}\n")
    print(_summary_line(result), file=sys.stderr)


def _print_diff_only(result: RunResult, stream: TextIO) -> None:
    for report in result.changed_files:
        stream.write(report.diff)
    print(_summary_line(result), file=sys.stderr)


def _summary_line(result: RunResult) -> str:
    counts = Counter(finding.violation.code for _, finding in result.findings)
    by_rule = ", ".join(f"{code} x{count}" for code, count in sorted(counts.items()))
    fixed = sum(1 for _, finding in result.findings if finding.fixed)
    parts = [
        f"{len(result.files)} file(s) scanned",
        f"{sum(counts.values())} finding(s)" + (f" ({by_rule})" if by_rule else ""),
    ]
    if fixed:
        parts.append(f"{fixed} fixed")
    changed = len(result.changed_files)
    if changed:
        written = sum(1 for report in result.files if report.written)
        parts.append(f"{written} file(s) written" if written else f"{changed} would change")
    if result.verification:
        parts.append(_verification_verdict(result.verification))
    return "; ".join(parts)


def _verification_verdict(results: list[VerifyResult]) -> str:
    counts = Counter(item.status for item in results)
    return "verification: " + ", ".join(
        f"{counts[s]} {s}" for s in ("pass", "fail", "skip") if counts[s]
    )


def _fix_text(violation: Violation, finding: Finding) -> str:
    if finding.fixed:
        return "fixed"
    if violation.fix is not None:
        return f"fix ({violation.fix.applicability.value}): {violation.fix.title}"
    if violation.no_fix_reason:
        return f"no fix: {violation.no_fix_reason}"
    return "no fix"


def plain_report(result: RunResult, style: ReportStyle) -> str:
    """The report without a terminal: stable text, one fact per line."""
    lines: list[str] = [_summary_line(result), ""]
    for report in result.files:
        if not report.outcome.findings and not report.outcome.changed and not report.write_error:
            continue
        for finding in report.outcome.findings:
            violation = finding.violation
            lines.append(
                f"{report.display}:{violation.span.line}:{violation.span.column}: "
                f"{violation.code} {violation.message}"
            )
            for path, span in violation.related:
                lines.append(f"      consumed at {path}:{span.line}:{span.column}")
            lines.append(f"      {_fix_text(violation, finding)}")
        if report.write_error:
            lines.append(f"{report.display}: not written: {report.write_error}")
        if report.outcome.changed:
            lines.append("")
            lines.extend(report.diff.rstrip("\n").splitlines())
        lines.append("")
    if result.verification or result.verification_error:
        lines.append("verification")
        lines.extend(_verification_lines(result))
        lines.append("")
    next_step = _next_step(result, style)
    if next_step:
        lines.append(next_step)
    return "\n".join(lines).rstrip("\n") + "\n"


def _verification_lines(result: RunResult) -> list[str]:
    lines = []
    for item in result.verification:
        error = "-" if item.max_abs_error is None else f"{item.max_abs_error:.1e}"
        lines.append(
            f"  {item.status:<4} {item.target}  relation: {item.relation or '-'}  "
            f"batches: {item.batches}  max abs error: {error}  {item.seconds:.2f}s"
        )
        if item.reason:
            lines.append(f"       reason: {item.reason}")
        lines.extend(f"       note: {note}" for note in item.notes)
    if result.verification_error:
        lines.append(f"  {result.verification_error}")
    return lines


def _next_step(result: RunResult, style: ReportStyle) -> str:
    if not result.findings:
        return ""
    unfixed_safe = any(
        finding.violation.fix is not None and not finding.fixed for _, finding in result.findings
    )
    if style.writing and not unfixed_safe:
        return ""
    codes = sorted({finding.violation.code for _, finding in result.findings})
    explain = f"`ml2mc explain {codes[0]}`" if codes else ""
    if style.command == "migrate" and not style.writing:
        return f"Next: `ml2mc migrate --write` to apply; {explain} for why."
    if style.fixing and not style.unsafe_fixes and unfixed_safe:
        return f"Next: add `--unsafe-fixes` to apply the remaining fixes; {explain} for why."
    if not style.fixing and unfixed_safe:
        return f"Next: `ml2mc check --fix --unsafe-fixes` to apply fixes; {explain} for why."
    return f"Next: {explain} for why."


def _print_rich(result: RunResult, style: ReportStyle, console: Console) -> None:
    console.print(Text(_summary_line(result), style="bold"))
    for report in result.files:
        if not report.outcome.findings and not report.outcome.changed and not report.write_error:
            continue
        console.rule(Text(report.display, style="bold cyan"), align="left")
        for finding in report.outcome.findings:
            _print_rich_finding(console, report, finding)
        if report.write_error:
            console.print(Text(f"not written: {report.write_error}", style="red"))
        if report.outcome.changed:
            console.print(
                Syntax(report.diff, "diff", theme="ansi_dark", background_color="default")
            )
    if result.verification or result.verification_error:
        console.print(_verification_table(result))
        if result.verification_error:
            console.print(Text(result.verification_error, style="red"))
    next_step = _next_step(result, style)
    if next_step:
        console.print(Text(next_step, style="dim"))


def _print_rich_finding(console: Console, report: FileReport, finding: Finding) -> None:
    violation = finding.violation
    line = Text()
    line.append(f"{report.display}:{violation.span.line}:{violation.span.column} ", style="dim")
    line.append(violation.code, style="bold red" if not finding.fixed else "bold green")
    line.append(f" {violation.message}")
    console.print(line)
    for path, span in violation.related:
        console.print(Text(f"    consumed at {path}:{span.line}:{span.column}", style="dim"))
    console.print(
        Text(f"    {_fix_text(violation, finding)}", style="green" if finding.fixed else "yellow")
    )


def _verification_table(result: RunResult) -> Table:
    table = Table(title="verification", title_justify="left")
    for column in ("model", "relation", "batches", "max abs error", "time", "status"):
        table.add_column(column)
    colors = {"pass": "green", "fail": "red", "skip": "yellow"}
    for item in result.verification:
        error = "-" if item.max_abs_error is None else f"{item.max_abs_error:.1e}"
        status = Text(item.status, style=colors.get(item.status, ""))
        if item.reason:
            status.append(f"\n{item.reason}", style="dim")
        table.add_row(
            item.target,
            item.relation or "-",
            str(item.batches),
            error,
            f"{item.seconds:.2f}s",
            status,
        )
    return table


# ---------------------------------------------------------------------------------------------
# Rule catalogue


def print_rules(rules: tuple[type[Rule], ...]) -> None:
    console = stdout_console()
    if not console.is_terminal:
        for rule in rules:
            fix = rule.safety.value if rule.safety else "-"
            opt_in = "" if rule.default_enabled else " (opt-in)"
            print(f"{rule.code}  {rule.name:<36} fix: {fix:<6} {rule.summary}{opt_in}")
        return
    table = Table(title="ml2mc rules")
    for column in ("code", "name", "fix", "summary"):
        table.add_column(column)
    for rule in rules:
        opt_in = "" if rule.default_enabled else " (opt-in)"
        table.add_row(
            rule.code, rule.name, rule.safety.value if rule.safety else "-", rule.summary + opt_in
        )
    console.print(table)


def rule_markdown(rule: type[Rule]) -> str:
    fix = rule.safety.value if rule.safety else "none"
    header = f"# {rule.code} {rule.name}\n\n{rule.summary}. Fix: {fix}."
    if not rule.default_enabled:
        header += " Opt-in: runs only when selected explicitly."
    return f"{header}\n\n{rule.documentation()}\n"


def print_explain(rule: type[Rule]) -> None:
    console = stdout_console()
    text = rule_markdown(rule)
    if console.is_terminal:
        console.print(Markdown(text))
    else:
        sys.stdout.write(text)
