"""Output for other programs: SARIF 2.1.0 (code scanning) and GitHub workflow annotations.

Pure: a `RunResult` in, the text to print out. `report.print_run` chooses and prints it.

A finding counts as resolved only when its fix was applied *and* its file was written: in a
dry run the code still has the problem, so it is reported at its usual level, with its fix.
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from migrate.findings import Finding
from migrate.output.docs import TOOL_DIAGNOSTICS, rule_page
from migrate.registry import all_rules
from migrate.rule import Fix, Rule, Span
from migrate.version import __version__

if TYPE_CHECKING:
    from migrate.pipeline import FileReport, RunResult
    from migrate.verify import VerifyResult

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SOURCE_ROOT = "%SRCROOT%"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def level_of(code: str) -> str:
    """Activation/loss bugs and tool diagnostics are errors; migration findings are warnings
    (the multi-label code is correct for a multi-label task)."""
    return "warning" if code.startswith("MC1") else "error"


def _resolved(report: FileReport, finding: Finding) -> bool:
    return finding.fixed and report.written


# ---------------------------------------------------------------------------------------------
# SARIF


def sarif(result: RunResult, root: Path | None = None) -> str:
    return json.dumps(sarif_log(result, root), indent=2, ensure_ascii=False) + "\n"


def sarif_log(result: RunResult, root: Path | None = None) -> dict[str, Any]:
    """The SARIF log of one run. Relative paths are relative to `root` (default: the current
    folder), which is recorded as the `%SRCROOT%` base."""
    base = (root or Path.cwd()).resolve()
    descriptors = rule_descriptors()
    rule_index = {descriptor["id"]: number for number, descriptor in enumerate(descriptors)}
    sources = {report.display: report.outcome.original for report in result.files}
    written = {report.display for report in result.files if report.written}
    results = [
        _sarif_result(report, finding, rule_index, sources, written)
        for report, finding in result.findings
    ]
    notifications = [
        {
            "level": "error",
            "message": {"text": f"{report.display}: not written: {report.write_error}"},
            "locations": [{"physicalLocation": {"artifactLocation": _artifact(report.display)}}],
        }
        for report in result.files
        if report.write_error
    ]
    if result.verification_error:
        notifications.append({"level": "error", "message": {"text": result.verification_error}})
    invocation: dict[str, Any] = {
        "executionSuccessful": not notifications
        and not any(item.status == "fail" for item in result.verification)
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "ml2mc",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": descriptors,
            }
        },
        "originalUriBaseIds": {SOURCE_ROOT: {"uri": base.as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [invocation],
        "results": results,
        "properties": {
            "filesScanned": len(result.files),
            "filesChanged": len(result.changed_files),
            "verification": [_verification_json(item) for item in result.verification],
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def rule_descriptors() -> list[dict[str, Any]]:
    """One `reportingDescriptor` per rule, then the tool diagnostics (MC001, MC002)."""
    descriptors = [_rule_descriptor(rule) for rule in all_rules()]
    for item in TOOL_DIAGNOSTICS:
        descriptors.append(
            {
                "id": item.code,
                "name": item.name,
                "shortDescription": {"text": item.summary},
                "fullDescription": {"text": item.documentation},
                "help": {"text": item.documentation, "markdown": item.documentation},
                "defaultConfiguration": {"level": "error", "enabled": True},
                "properties": {"tags": ["ml2mc", "diagnostic"], "fixSafety": "none"},
            }
        )
    return descriptors


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    documentation = rule.documentation()
    what = _section(documentation, "What it does") or rule.summary
    family = "migration" if rule.code.startswith("MC1") else "activation-loss"
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": what},
        "help": {"text": f"{rule.summary}.\n\n{documentation}", "markdown": rule_page(rule)},
        "defaultConfiguration": {
            "level": level_of(rule.code),
            "enabled": rule.default_enabled,
        },
        "properties": {
            "tags": ["ml2mc", family, "pytorch"],
            "fixSafety": rule.safety.value if rule.safety else "none",
        },
    }


def _section(documentation: str, title: str) -> str:
    match = re.search(
        rf"^## {re.escape(title)}\s*\n(?P<body>.*?)(?=^## |\Z)",
        documentation,
        flags=re.MULTILINE | re.DOTALL,
    )
    if match is None:
        return ""
    return " ".join(match.group("body").split())


def _sarif_result(
    report: FileReport,
    finding: Finding,
    rule_index: dict[str, int],
    sources: dict[str, str],
    written: set[str],
) -> dict[str, Any]:
    violation = finding.violation
    resolved = _resolved(report, finding)
    message = violation.message + (" (fixed)" if resolved else "")
    entry: dict[str, Any] = {
        "ruleId": violation.code,
        "level": "note" if resolved else level_of(violation.code),
        "message": {"text": message},
        "locations": [_location(report.display, violation.span)],
    }
    if violation.code in rule_index:
        entry["ruleIndex"] = rule_index[violation.code]
    if violation.related:
        entry["relatedLocations"] = [
            {**_location(path, span), "id": number, "message": {"text": "consumed here"}}
            for number, (path, span) in enumerate(violation.related, start=1)
        ]
    fix = violation.fix
    # A fix whose files were written no longer applies to what is on disk.
    if fix is not None and not any(edit.path in written for edit in fix.edits):
        converted = _sarif_fix(fix, sources)
        if converted is not None:
            entry["fixes"] = [converted]
    properties: dict[str, Any] = {"name": violation.name, "fixed": resolved}
    if fix is not None:
        properties["fix"] = {"title": fix.title, "applicability": fix.applicability.value}
    if violation.no_fix_reason:
        properties["noFixReason"] = violation.no_fix_reason
    entry["properties"] = properties
    return entry


def _location(display: str, span: Span) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": _artifact(display),
            "region": {
                "startLine": span.line,
                "startColumn": span.column,
                "endLine": span.end_line,
                "endColumn": span.end_column,
            },
        }
    }


def _artifact(display: str) -> dict[str, Any]:
    path = PurePath(display)
    if path.is_absolute():
        return {"uri": Path(display).as_uri()}
    return {"uri": quote(path.as_posix()), "uriBaseId": SOURCE_ROOT}


def _sarif_fix(fix: Fix, sources: dict[str, str]) -> dict[str, Any] | None:
    """The fix's edits as replacements; None when an edit is in a file the run did not read."""
    changes: dict[str, list[dict[str, Any]]] = {}
    for edit in sorted(fix.edits):
        source = sources.get(edit.path)
        if source is None:
            return None
        changes.setdefault(edit.path, []).append(
            {
                "deletedRegion": offsets_to_region(source, edit.start, edit.end),
                "insertedContent": {"text": edit.replacement},
            }
        )
    return {
        "description": {"text": fix.title},
        "artifactChanges": [
            {"artifactLocation": _artifact(path), "replacements": replacements}
            for path, replacements in changes.items()
        ],
    }


def offsets_to_region(source: str, start: int, end: int) -> dict[str, int]:
    """Character offsets into `source` as a SARIF region: 1-based lines and columns (code
    points), lines ended by CR, LF or CRLF. An empty range is an insertion point."""
    line_starts = [0, *(match.end() for match in _LINE_BREAK.finditer(source))]

    def position(offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(line_starts, offset)
        return line, offset - line_starts[line - 1] + 1

    start_line, start_column = position(start)
    end_line, end_column = position(end)
    return {
        "startLine": start_line,
        "startColumn": start_column,
        "endLine": end_line,
        "endColumn": end_column,
    }


def _verification_json(item: VerifyResult) -> dict[str, Any]:
    from migrate.verify import result_to_json

    return result_to_json(item)


# ---------------------------------------------------------------------------------------------
# GitHub workflow commands


def github(result: RunResult) -> str:
    """One workflow command per finding (`::error file=…,line=…,col=…::MC201 …`), per file
    that could not be written, and per model whose verification did not pass."""
    lines: list[str] = []
    for report, finding in result.findings:
        violation = finding.violation
        span = violation.span
        resolved = _resolved(report, finding)
        message = f"{violation.code} {violation.message}"
        if resolved:
            message += " (fixed)"
        elif violation.fix is not None:
            message += f"\nfix ({violation.fix.applicability.value}): {violation.fix.title}"
        elif violation.no_fix_reason:
            message += f"\nno fix: {violation.no_fix_reason}"
        properties = {
            "file": report.display,
            "line": span.line,
            "col": span.column,
            "endLine": span.end_line,
            "endColumn": span.end_column,
            "title": f"{violation.code} {violation.name}",
        }
        level = "notice" if resolved else level_of(violation.code)
        lines.append(_command(level, properties, message))
    for report in result.files:
        if report.write_error:
            properties = {"file": report.display, "title": "ml2mc: not written"}
            lines.append(_command("error", properties, f"not written: {report.write_error}"))
    for item in result.verification:
        if item.status == "pass":
            continue
        level = "error" if item.status == "fail" else "warning"
        properties = {"title": f"ml2mc verify: {item.status}"}
        if item.kind == "model" and ":" in item.target:
            properties["file"] = item.target.rsplit(":", 1)[0]
        text = f"{item.target}: verification {item.status}: {item.reason or 'no reason given'}"
        lines.append(_command(level, properties, text))
    if result.verification_error:
        lines.append(_command("error", {"title": "ml2mc verify"}, result.verification_error))
    return "".join(f"{line}\n" for line in lines)


def _command(level: str, properties: dict[str, object], message: str) -> str:
    rendered = ",".join(
        f"{key}={_escape_property(str(value))}" for key, value in properties.items()
    )
    return f"::{level} {rendered}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
