"""Everything ml2mc prints: the rich report on a terminal, stable plain text otherwise, and
machine formats (concise, json; sarif and github come from `machine_formats`). Also the saved
report (`--report PATH`: HTML, Markdown or text) and the `--interactive` unit prompt. The only
module that writes to stdout or stderr."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from migrate.findings import Finding
from migrate.output.docs import rule_page
from migrate.pipeline import FileReport, RunResult, unverified_count
from migrate.rule import Applicability, Rule, Violation

if TYPE_CHECKING:
    from migrate.output.interactive import Ask, Review, UnitReview
    from migrate.verify import VerifyResult

FORMATS = ("rich", "concise", "json", "sarif", "github")
JSON_VERSION = 1
# A bar appears once a run has taken this long; a shorter run would only flicker.
PROGRESS_AFTER_SECONDS = 1.0
# Overrides that delay, in seconds (0: at once); for tests and for the impatient.
PROGRESS_AFTER_VARIABLE = "ML2MC_PROGRESS_AFTER"


@dataclass(frozen=True)
class ReportStyle:
    format: str
    command: str  # "check" | "migrate" | "verify"
    fixing: bool = False
    writing: bool = False
    diff_only: bool = False
    verifying: bool = False
    unsafe_fixes: bool = False
    # `--quiet`: no summary line and no "Next:" hint, only the findings and diffs.
    quiet: bool = False
    # `--strict` (or `strict = true`): a check that could not run counts as a failure.
    strict: bool = False


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def internal_error(error: BaseException) -> None:
    """An unexpected failure of ml2mc itself: one line, where it happened, how to report."""
    import traceback

    frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    print(
        f"ml2mc: internal error: {type(error).__name__}: {error}{where}; please report it "
        "with the command that triggered it",
        file=sys.stderr,
    )


def error(message: str) -> None:
    """A usage or configuration error (exit 2 follows)."""
    print(f"ml2mc: error: {message}", file=sys.stderr)


def strict_failure(result: RunResult) -> None:
    """Why a run that failed nothing still exits 1 under `--strict`: what was not verified."""
    unverified = unverified_count(result)
    if unverified:
        message = f"{unverified} check(s) not verified (each skip above says why)"
    elif result.comparison is not None:
        ref = result.comparison.ref
        message = f"nothing to verify: no model, loss site or reader changed since {ref}"
    else:
        message = "nothing was verified"
    print(f"ml2mc: --strict: {message}; under --strict that is a failure", file=sys.stderr)


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr, on a terminal only, once a run has taken about a second:
    `advance(stage, done, total)` moves it ("reading", "analysing"). A timer shows it, so
    that a stage that reports nothing for a while (one large file) still gets it. Nothing
    off a terminal, and nothing for a shorter run."""
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield _ignore_progress
        return
    display = _ProgressDisplay(console)
    timer = threading.Timer(_progress_delay(), display.show)
    timer.daemon = True
    timer.start()
    try:
        yield display.advance
    finally:
        timer.cancel()
        display.close()


def _ignore_progress(stage: str, done: int, total: int) -> None:
    """Progress reported where no bar is shown."""


class _ProgressDisplay:
    """The bar's state: the latest count of each stage, kept until the timer shows it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.counts: dict[str, tuple[int, int]] = {}
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.closed = False

    def show(self) -> None:
        with self.lock:
            if self.closed or self.bar is not None:
                return
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            for stage, (done, total) in self.counts.items():
                self._update(stage, done, total)

    def advance(self, stage: str, done: int, total: int) -> None:
        if total <= 0:
            return
        with self.lock:
            self.counts[stage] = (done, total)
            if self.bar is not None:
                self._update(stage, done, total)

    def _update(self, stage: str, done: int, total: int) -> None:
        assert self.bar is not None
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.bar is not None:
                self.bar.stop()


def _progress_delay() -> float:
    """`$ML2MC_PROGRESS_AFTER` seconds when it is a number >= 0, else the default delay."""
    try:
        seconds = float(os.environ.get(PROGRESS_AFTER_VARIABLE, ""))
    except ValueError:
        return PROGRESS_AFTER_SECONDS
    return seconds if seconds >= 0 else PROGRESS_AFTER_SECONDS


# ---------------------------------------------------------------------------------------------
# Run reports


def print_run(result: RunResult, style: ReportStyle, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    _print_run_messages(result)
    if style.format == "json":
        stream.write(json.dumps(run_to_json(result), indent=2) + "\n")
    elif style.format == "concise":
        _print_concise(result, stream, style)
        _print_hidden_fixes(result, style)
    elif style.format in ("sarif", "github"):
        from migrate.output import machine_formats

        writer = machine_formats.sarif if style.format == "sarif" else machine_formats.github
        stream.write(writer(result))
        if style.format == "github":
            _print_summary(result, style)
    elif style.diff_only:
        _print_diff_only(result, stream, style)
    else:
        console = Console(file=stream, highlight=False, soft_wrap=True) if out else stdout_console()
        if console.is_terminal:
            _print_rich(result, style, console)
        else:
            stream.write(plain_report(result, style))


def _print_run_messages(result: RunResult) -> None:
    """Warnings about the input and notes about the run, on stderr (stdout may be JSON)."""
    for warning in result.warnings:
        print(f"ml2mc: warning: {warning}", file=sys.stderr)
    for notice in result.notices:
        print(f"ml2mc: note: {notice}", file=sys.stderr)


def run_to_json(result: RunResult) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "findings": [_finding_json(report.display, finding) for report, finding in result.findings],
        "changes": [
            {"file": report.display, "diff": report.diff, "written": report.written}
            for report in result.changed_files
        ],
        "verification": [_verification_json(item) for item in result.verification],
        "comparison": None
        if result.comparison is None
        else {"ref": result.comparison.ref, "changed_files": result.comparison.changed_files},
        "refused_units": [
            {
                "files": list(unit.files),
                "blocking": [
                    {"file": blocker.file, "line": blocker.line, "reason": blocker.reason}
                    for blocker in unit.blockers
                ],
            }
            for unit in result.refused_units
        ],
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


def refused_unit_lines(result: RunResult) -> list[str]:
    """Refused migration units, each with what blocked it: shown before the findings, since
    nothing of such a unit is written."""
    lines: list[str] = []
    for unit in result.refused_units:
        lines.append(f"unit refused, nothing of it written: {', '.join(unit.files)}")
        for blocker in unit.blockers:
            lines.append(f"      blocked by {blocker.file}:{blocker.line}: {blocker.reason}")
    return lines


def _print_concise(result: RunResult, stream: TextIO, style: ReportStyle) -> None:
    for line in refused_unit_lines(result):
        stream.write(line + "\n")
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
    _print_summary(result, style)


def _print_diff_only(result: RunResult, stream: TextIO, style: ReportStyle) -> None:
    for report in result.changed_files:
        stream.write(report.diff)
    _print_summary(result, style)
    _print_hidden_fixes(result, style)


def _print_summary(result: RunResult, style: ReportStyle) -> None:
    """The summary line on stderr, where stdout carries findings, a diff or annotations."""
    if not style.quiet:
        print(_summary_line(result), file=sys.stderr)


def _print_hidden_fixes(result: RunResult, style: ReportStyle) -> None:
    """On stderr, after the summary of a format with no closing line (a diff, concise)."""
    hidden = _hidden_fix_count(result, style)
    if hidden and not style.quiet:
        print(_hidden_fixes_text(hidden), file=sys.stderr)


UNSAFE_FIXES_FLAG = "--unsafe-fixes"


def _hidden_fix_count(result: RunResult, style: ReportStyle) -> int:
    """How many more fixes the same run would apply with `--unsafe-fixes`.

    `check`: the unsafe fixes left out of `--fix`/`--diff` (without those, every fix is listed
    anyway). `migrate`: the findings refused because only `--unsafe-fixes` rewrites them (their
    reason says so), outside any refused unit that something else blocks too."""
    if style.unsafe_fixes or not style.fixing:
        return 0
    if style.command == "check":
        return sum(
            1
            for _, finding in result.findings
            if not finding.fixed
            and finding.violation.fix is not None
            and finding.violation.fix.applicability is Applicability.UNSAFE
        )
    blocked_otherwise = {
        file
        for unit in result.refused_units
        if any(UNSAFE_FIXES_FLAG not in blocker.reason for blocker in unit.blockers)
        for file in unit.files
    }
    return sum(
        1
        for report, finding in result.findings
        if not finding.fixed
        and UNSAFE_FIXES_FLAG in (finding.violation.no_fix_reason or "")
        and report.display not in blocked_otherwise
    )


def _hidden_fixes_text(count: int) -> str:
    fixes = "fix" if count == 1 else "fixes"
    return f"{count} hidden {fixes} can be enabled with `{UNSAFE_FIXES_FLAG}`"


def _summary_line(result: RunResult) -> str:
    counts = Counter(finding.violation.code for _, finding in result.findings)
    by_rule = ", ".join(f"{code} x{count}" for code, count in sorted(counts.items()))
    fixed = sum(1 for _, finding in result.findings if finding.fixed)
    findings = f"{sum(counts.values())} finding(s)" + (f" ({by_rule})" if by_rule else "")
    if result.comparison is not None:  # verify scans no folder: it says what it compared
        parts = [_comparison_line(result), *([findings] if counts else [])]
    else:
        parts = [f"{len(result.files)} file(s) scanned", findings]
    if fixed:
        parts.append(f"{fixed} fixed")
    changed = len(result.changed_files)
    if changed:
        written = sum(1 for report in result.files if report.written)
        parts.append(f"{written} file(s) written" if written else f"{changed} would change")
    if result.verification:
        parts.append(_verification_verdict(result.verification))
    return "; ".join(parts)


# How `verify`'s first line counts each kind of check: singular, plural.
COMPARED_KINDS = {
    "model": ("model", "models"),
    "loss site": ("loss site", "loss sites"),
    "reader": ("reader", "readers"),
    "function": ("other function", "other functions"),
    "runtime": ("--run command", "--run commands"),
}


def _counted(count: int, names: tuple[str, str]) -> str:
    return f"{count} {names[0] if count == 1 else names[1]}"


def _comparison_line(result: RunResult) -> str:
    """`HEAD → working tree: 3 changed files, 2 models, 1 loss site`; when no model, loss
    site or reader changed, it says so."""
    assert result.comparison is not None
    ref = result.comparison.ref
    kinds = Counter(item.kind for item in result.verification)
    counted = [_counted(result.comparison.changed_files, ("changed file", "changed files"))]
    counted += [
        _counted(kinds[kind], names) for kind, names in COMPARED_KINDS.items() if kinds[kind]
    ]
    line = f"{ref} → working tree: {', '.join(counted)}"
    if not any(kinds[kind] for kind in COMPARED_KINDS if kind != "runtime"):
        line += f"; no model, loss or reader changed since {ref}"
    return line


# How the summary names each kind of check, in the order it lists them.
VERIFICATION_KINDS = {
    "model": "models",
    "loss site": "loss sites",
    "reader": "readers",
    "function": "functions",
    "runtime": "--run",
}
STATUS_WORDS = {"pass": "pass", "fail": "fail", "skip": "not verified"}


def _verification_verdict(results: list[VerifyResult]) -> str:
    """`verification: models 1 pass; loss sites 1 fail; readers 2 pass, 1 not verified`."""
    parts = []
    kinds = list(VERIFICATION_KINDS) + sorted(
        {item.kind for item in results} - set(VERIFICATION_KINDS)
    )
    for kind in kinds:
        counts = Counter(item.status for item in results if item.kind == kind)
        if counts:
            text = ", ".join(f"{counts[s]} {STATUS_WORDS[s]}" for s in STATUS_WORDS if counts[s])
            parts.append(f"{VERIFICATION_KINDS.get(kind, kind)} {text}")
    return "verification: " + "; ".join(parts)


def _fix_text(violation: Violation, finding: Finding) -> str:
    if finding.fixed:
        return "fixed"
    if finding.unit_refused:
        return "not applied: its migration unit is refused (see the top of the report)"
    if violation.fix is not None:
        return f"fix ({violation.fix.applicability.value}): {violation.fix.title}"
    if violation.no_fix_reason:
        return f"no fix: {violation.no_fix_reason}"
    return "no fix"


def plain_report(result: RunResult, style: ReportStyle) -> str:
    """The report without a terminal: stable text, one fact per line."""
    lines: list[str] = [] if style.quiet else [_summary_line(result), ""]
    if result.refused_units:
        lines.extend([*refused_unit_lines(result), ""])
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
    next_step = "" if style.quiet else _next_step(result, style)
    if next_step:
        lines.append(next_step)
    text = "\n".join(lines).rstrip("\n")
    return text + "\n" if text else ""  # `--quiet` on a clean run prints nothing


def _verification_lines(result: RunResult) -> list[str]:
    lines = []
    for item in result.verification:
        error = "-" if item.max_abs_error is None else f"{item.max_abs_error:.1e}"
        lines.append(
            f"  {item.status:<4} {item.kind} {item.target}  relation: {item.relation or '-'}  "
            f"batches: {item.batches}  max abs error: {error}  {item.seconds:.2f}s"
        )
        if item.reason:
            lines.append(f"       reason: {item.reason}")
        lines.extend(f"       note: {note}" for note in item.notes)
    if result.verification_error:
        lines.append(f"  {result.verification_error}")
    return lines


def _next_step(result: RunResult, style: ReportStyle) -> str:
    """The closing line: what to run next, only when running it would do what it says."""
    if not result.findings:
        return ""
    pending = [
        finding.violation.fix
        for _, finding in result.findings
        if finding.violation.fix is not None and not finding.fixed
    ]
    codes = sorted({finding.violation.code for _, finding in result.findings})
    why = f"`ml2mc explain {codes[0]}` for why."
    hidden = _hidden_fix_count(result, style)
    if style.command == "migrate" and not style.writing and result.changed_files:
        if any(item.status == "fail" for item in result.verification):
            return (
                "Next: `ml2mc migrate --write` writes nothing while a verification check fails; "
                f"fix what it found, or add `--force` to write anyway; {why}"
            )
        unverified = unverified_count(result)
        if style.strict and unverified:
            return (
                f"Next: {unverified} check(s) not verified and strict mode is on, so `--write` "
                "would write nothing; tell ml2mc how to build and feed what it skipped "
                "([tool.ml2mc.verify], docs/configuration.md), or use `--write --force` to "
                f"write anyway; {why}"
            )
        return f"Next: `ml2mc migrate --write` to apply; {why}"
    if hidden:
        return f"Next: {_hidden_fixes_text(hidden)}; {why}"
    if style.command == "migrate" and result.refused_units:
        return f"Next: nothing can be applied until the refused units are resolved; {why}"
    if style.command != "migrate" and not style.fixing and pending:
        unsafe = any(fix.applicability is Applicability.UNSAFE for fix in pending)
        command = "ml2mc check --fix --unsafe-fixes" if unsafe else "ml2mc check --fix"
        return f"Next: `{command}` to apply fixes; {why}"
    if style.writing and not pending:
        return ""
    return f"Next: {why}"


def _print_rich(result: RunResult, style: ReportStyle, console: Console) -> None:
    if not style.quiet:
        console.print(Text(_summary_line(result), style="bold"))
    for line in refused_unit_lines(result):
        console.print(Text(line, style="yellow"))
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
    next_step = "" if style.quiet else _next_step(result, style)
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
    for column in ("checked", "relation", "batches", "max abs error", "time", "status"):
        table.add_column(column)
    colors = {"pass": "green", "fail": "red", "skip": "yellow"}
    for item in result.verification:
        error = "-" if item.max_abs_error is None else f"{item.max_abs_error:.1e}"
        status = Text(item.status, style=colors.get(item.status, ""))
        if item.reason:
            status.append(f"\n{item.reason}", style="dim")
        table.add_row(
            f"{item.kind}: {item.target}",
            item.relation or "-",
            str(item.batches),
            error,
            f"{item.seconds:.2f}s",
            status,
        )
    return table


# ---------------------------------------------------------------------------------------------
# Rule catalogue


def print_version(version: str) -> None:
    sys.stdout.write(f"ml2mc {version}\n")


def print_rules(
    rules: tuple[type[Rule], ...], output_format: str, defaults: dict[str, frozenset[str]]
) -> None:
    """The catalogue: a table on a terminal (`rich`), one line per rule otherwise or with
    `concise`, or JSON. `defaults` maps a command to the codes it runs by default."""
    if output_format == "json":
        sys.stdout.write(json.dumps(rules_to_json(rules, defaults), indent=2) + "\n")
        return
    console = stdout_console()
    if output_format == "concise" or not console.is_terminal:
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


def rules_to_json(
    rules: tuple[type[Rule], ...], defaults: dict[str, frozenset[str]]
) -> dict[str, Any]:
    """`rules --output-format json`: per rule its code, name, summary, fix safety (`safe`,
    `unsafe` or `none`) and, per command, whether it runs without `--select`."""
    return {
        "version": JSON_VERSION,
        "rules": [
            {
                "code": rule.code,
                "name": rule.name,
                "summary": rule.summary,
                "fix": rule.safety.value if rule.safety else "none",
                "default": {command: rule.code in codes for command, codes in defaults.items()},
            }
            for rule in rules
        ],
    }


def print_explain(rule: type[Rule]) -> None:
    """The rule's page, as in docs/rules.md: docstring and tested examples."""
    print_markdown(rule_page(rule))


def print_markdown(text: str) -> None:
    # rich's Markdown pulls in a parser: imported only when a page is shown.
    from rich.markdown import Markdown

    console = stdout_console()
    if console.is_terminal:
        console.print(Markdown(text))
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------------------------------------
# Source from stdin, fixed


def print_fixed_source(result: RunResult, style: ReportStyle) -> None:
    """`check --fix -` / `migrate --write -`: the fixed source on stdout (the source as given
    when nothing changed or it cannot be parsed), the findings on stderr."""
    for report in result.files:
        sys.stdout.write(report.outcome.fixed)
    diagnostics = "concise" if style.format == "rich" else style.format
    print_run(result, replace(style, format=diagnostics), out=sys.stderr)


# ---------------------------------------------------------------------------------------------
# `migrate --interactive`

UNIT_HELP = (
    "y - apply this unit: every hunk shown, in every file\n"
    "n - skip this unit: none of its files is written\n"
    "a - apply this unit and every later one\n"
    "q - quit: skip this unit and every later one (units accepted so far are written)\n"
    "? - this help\n"
    "A unit is written whole or not at all: a model that returns logits needs the loss and "
    "readers that expect them."
)


def unit_prompt(console: Console | None = None) -> Ask:
    """The question asked for each migration unit: its files, each with its findings and
    hunks, then `[y,n,a,q,?]` until the answer is one of those (end of input quits)."""
    from migrate.output.interactive import Answer, parse_answer

    terminal = console or stdout_console()
    # Answers from a pipe are not echoed: print them, so each prompt ends its own line.
    echo = not sys.stdin.isatty()

    def ask(unit: UnitReview, number: int, total: int) -> Answer:
        files = len(unit.files)
        terminal.print(
            Text(
                f"unit {number}/{total}: {', '.join(unit.displays)} "
                f"({unit.hunks} hunk(s) in {files} file(s), written together or not at all)",
                style="bold",
            )
        )
        for item in unit.files:
            report = item.report
            terminal.rule(Text(report.display, style="bold cyan"), align="left")
            for finding in report.outcome.findings:
                _print_proposed_finding(terminal, report, finding)
            for hunk in item.hunks:
                text = hunk.text.rstrip("\n")
                if terminal.is_terminal:
                    terminal.print(
                        Syntax(text, "diff", theme="ansi_dark", background_color="default")
                    )
                else:
                    terminal.print(Text(text))
        # One blank line before the question, on a terminal as through a pipe.
        terminal.print()
        question = Text(
            f"({number}/{total}) Apply this unit ({unit.hunks} hunk(s) in {files} file(s)) "
            "[y,n,a,q,?]? "
        )
        question.stylize("bold")
        while True:
            try:
                typed = terminal.input(question)
            except EOFError:
                terminal.print()
                return Answer.QUIT
            if echo:
                terminal.print(Text(typed))
            answer = parse_answer(typed)
            if answer is not None:
                return answer
            terminal.print(Text(UNIT_HELP, style="dim"))

    return ask


def _print_proposed_finding(console: Console, report: FileReport, finding: Finding) -> None:
    violation = finding.violation
    line = Text()
    line.append(f"{report.display}:{violation.span.line}:{violation.span.column} ", style="dim")
    line.append(violation.code, style="bold red")
    line.append(f" {violation.message}")
    console.print(line)
    console.print(
        Text(f"    {_fix_text(violation, replace(finding, fixed=False))}", style="yellow")
    )


def print_review_start(result: RunResult) -> None:
    """Before the first unit: the run's summary, and the findings no unit will fix."""
    _print_run_messages(result)
    console = stdout_console()
    console.print(Text(_summary_line(result), style="bold"))
    for line in refused_unit_lines(result):
        console.print(Text(line, style="yellow"))
    for report in result.files:
        if report.outcome.changed:
            continue
        for finding in report.outcome.findings:
            _print_proposed_finding(console, report, finding)
    if not result.changed_files:
        nothing = (
            "Nothing can be applied until the refused units are resolved."
            if result.refused_units
            else "Nothing to change."
        )
        console.print(Text(nothing, style="dim"))


def print_review(review: Review) -> None:
    if not review.total:
        return
    console = stdout_console()
    summary = (
        f"{review.accepted} of {review.total} unit(s) accepted; "
        f"{len(review.written)} file(s) written"
    )
    console.print(Text(summary + (" (quit)" if review.quit else ""), style="bold"))
    for unit in review.units:
        for item in unit.files:
            if item.written:
                console.print(Text(f"  written: {item.report.display} ({len(item.hunks)} hunk(s))"))
            elif item.error:
                console.print(
                    Text(f"  not written: {item.report.display}: {item.error}", style="red")
                )
        if not unit.accepted:
            console.print(
                Text(
                    f"  not written: {', '.join(unit.displays)} (unit skipped; a unit is written "
                    "whole or not at all)",
                    style="yellow",
                )
            )
    if review.written:
        console.print(
            Text(
                "Next: `ml2mc verify --against HEAD` checks with torch what was written.",
                style="dim",
            )
        )


# ---------------------------------------------------------------------------------------------
# `--report PATH`: the report saved for a pull request

REPORT_KINDS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
}
_HTML_PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>ml2mc {command} report</title>
<style>
{{stylesheet}}
body {{{{ color: {{foreground}}; background-color: {{background}}; }}}}
</style>
</head>
<body>
<pre style="font-family:Menlo,'DejaVu Sans Mono',Consolas,'Courier New',monospace">\
<code style="font-family:inherit">{{code}}</code></pre>
</body>
</html>
"""


def report_kind(path: Path) -> str | None:
    """ "html", "markdown" or "text" by the file's extension; None for any other extension."""
    return REPORT_KINDS.get(path.suffix.lower())


def save_report(result: RunResult, style: ReportStyle, path: Path) -> None:
    """Write the report to `path` in the form its extension names (OSError when it cannot)."""
    kind = report_kind(path) or "text"
    style = replace(style, quiet=False)  # a saved report is whole whatever the terminal shows
    if kind == "html":
        text = html_report(result, style)
    elif kind == "markdown":
        text = markdown_report(result, style)
    else:
        text = plain_report(result, style)
    path.write_text(text, encoding="utf-8")


def html_report(result: RunResult, style: ReportStyle) -> str:
    """The rich report (colors, highlighted diffs, the verification table) as one HTML page."""
    console = Console(
        record=True,
        file=io.StringIO(),
        width=120,
        force_terminal=True,
        color_system="truecolor",
        highlight=False,
        soft_wrap=True,
    )
    _print_rich(result, style, console)
    return console.export_html(
        inline_styles=True, code_format=_HTML_PAGE.format(command=style.command)
    )


def markdown_report(result: RunResult, style: ReportStyle) -> str:
    """The report as GitHub-flavoured Markdown, written to read well as a PR comment: a
    verdict, the findings table, one collapsed diff per file, the verification table."""
    lines = [f"### ml2mc {style.command}: {_markdown_verdict(result, style)}", ""]
    if style.command != "verify":  # verify scans no files: its summary is the verdict
        lines += [_summary_line(result), ""]
    elif result.comparison is not None:
        lines += [_comparison_line(result), ""]
    if result.findings:
        lines += ["| where | rule | finding | fix |", "|---|---|---|---|"]
        for report, finding in result.findings:
            violation = finding.violation
            where = f"`{report.display}:{violation.span.line}:{violation.span.column}`"
            rule = f"**{violation.code}** {violation.name}"
            fix = _markdown_fix(violation, finding, style)
            lines.append(f"| {where} | {rule} | {_cell(violation.message)} | {_cell(fix)} |")
        lines.append("")
    for report in result.files:
        if report.write_error:
            lines += [f"**Not written:** `{report.display}`: {report.write_error}", ""]
    for report in result.changed_files:
        diff = report.diff
        added = sum(
            1 for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
        )
        removed = sum(
            1 for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")
        )
        state = "changed" if report.written else "would change"
        fence = "`" * max(3, _longest_backtick_run(diff) + 1)
        lines += [
            f"<details><summary><code>{_html_escape(report.display)}</code> {state} "
            f"(+{added} -{removed})</summary>",
            "",
            f"{fence}diff",
            diff.rstrip("\n"),
            fence,
            "",
            "</details>",
            "",
        ]
    if result.verification or result.verification_error:
        lines += [
            "#### Verification",
            "",
            "| checked | relation | batches | max abs error | time | status |",
            "|---|---|---|---|---|---|",
        ]
        for item in result.verification:
            error = "-" if item.max_abs_error is None else f"{item.max_abs_error:.1e}"
            status = item.status if item.status == "pass" else f"**{item.status}**"
            if item.reason:
                status += f": {item.reason}"
            cells = (
                f"{item.kind}: `{item.target}`",
                item.relation or "-",
                str(item.batches),
                error,
                f"{item.seconds:.2f}s",
                status,
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        lines.append("")
        for item in result.verification:
            if item.notes:
                target = _html_escape(item.target)
                lines += [f"<details><summary>notes: <code>{target}</code></summary>", ""]
                lines += [*(f"- {note}" for note in item.notes), "", "</details>", ""]
        if result.verification_error:
            lines += [f"**{_cell(result.verification_error)}**", ""]
    next_step = _next_step(result, style)
    if next_step:
        lines.append(next_step)
    return "\n".join(lines).rstrip("\n") + "\n"


def _markdown_verdict(result: RunResult, style: ReportStyle) -> str:
    if style.command == "verify":
        if not result.verification:
            return "no changed model to verify"
        return _verification_verdict(result.verification).removeprefix("verification: ")
    count = len(result.findings)
    if not count:
        return "no findings"
    files = len({report.display for report, _ in result.findings})
    verdict = f"{count} finding(s) in {files} file(s)"
    if result.verification:
        failed = any(item.status == "fail" for item in result.verification)
        verdict += "; verification failed" if failed else "; verification passed"
    return verdict


def _markdown_fix(violation: Violation, finding: Finding, style: ReportStyle) -> str:
    if finding.fixed and style.writing:
        return "fixed"
    if violation.fix is not None:
        return f"{violation.fix.applicability.value}: {violation.fix.title}"
    if violation.no_fix_reason:
        return f"no fix: {violation.no_fix_reason}"
    return "no fix"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for character in text:
        current = current + 1 if character == "`" else 0
        longest = max(longest, current)
    return longest
