"""Precision and recall of ml2mc's MC2xx rules on the labelled cases in ``fixtures/cases/``.

Each case is a directory of Python files. A finding that the tool must report is labelled with
a trailing comment on the line where it must be reported (the activation that produces the bad
value)::

    probs = F.softmax(logits, dim=1)  # expect: MC201
    nn.Softmax(),  # expect: MC201, MC207

Other comments the scorer reads, anywhere in a case's files:

``# trap: <why>``
    the case must produce no finding at all (it carries no ``expect`` label);
``# flow: local, tuple``
    the flow shape(s) of a case's MC201 labels, for the per-shape recall table;

A case written blind (``fixtures/blind/<batch>/<case>/``) keeps the code as written in
``before/`` (labels there), a hand-fixed copy in ``fixed/`` and a torch ``probe.py``; only
``before/`` is scored. A batch may list the gaps its first run showed in ``KNOWN_GAPS.toml``
(``missed = ["<file>:<line>:<code>", ...]`` and ``unlabelled = [...]``, paths relative to the
case's ``before/``): the labels test (``tests/test_labels.py``) asserts exactly those gaps, so
closing one means deleting its entry, and a new miss fails the suite.

For every case the scorer runs ``python -m migrate check <case> --select MC2 --output-format
json`` with the repository root as the working directory, and compares the set of
``(file, line, code)`` it reports with the labels. Tool diagnostics (``MC0xx``) are counted as
errors and printed. It is a measurement, not a test: the exit status is 0 unless the CLI itself
fails on a case (exit 2, a crash or output that is not JSON), then 2.

Usage::

    python benchmarks/precision_recall.py                  # table, FP/FN lists, overall figures
    python benchmarks/precision_recall.py --json           # the same as one JSON object
    python benchmarks/precision_recall.py --case 09 --case trap_gan
    python benchmarks/precision_recall.py --list-labels    # parse and check labels, run nothing
    python benchmarks/precision_recall.py --migrations     # and migrate --write scored beside
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tokenize
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES_DIR = REPO_ROOT / "fixtures" / "cases"
SELECTION = "MC2"
# Rows always shown in the per-rule table, so runs stay comparable even when a rule is silent.
KNOWN_RULES = ("MC201", "MC202", "MC203", "MC204", "MC205", "MC206", "MC207", "MC208")
KNOWN_FLOWS = (
    "inline",
    "local",
    "forward-same-file",
    "forward-other-file",
    "sequential",
    "tuple",
    "dict",
    "self-criterion",
    "arg-criterion",
    "factory-criterion",
    "bound-function",
    "alias-import",
)
FLOW_RULE = "MC201"
UNTAGGED_FLOW = "(untagged)"

CODE_RE = re.compile(r"^MC\d{3}$")
DIRECTIVE_RE = re.compile(r"^#\s*(expect|trap|flow)\s*:\s*(.*)$")
CODE_LIST_SPLIT_RE = re.compile(r"[,\s]+")
FLOW_LIST_SPLIT_RE = re.compile(r"[,|\s]+")


@dataclass(frozen=True, order=True)
class Key:
    """One finding or one label: where it is reported and under which code."""

    file: str  # POSIX path relative to the repository root
    line: int
    code: str

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Case:
    name: str
    path: Path
    labels: set[Key] = field(default_factory=set)
    trap_reasons: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def is_trap(self) -> bool:
        return bool(self.trap_reasons)

    @property
    def relative_path(self) -> str:
        return relative_to_root(self.path)

    @property
    def scanned_path(self) -> Path:
        """What the tool is run on: a blind case's ``before/`` tree, or the case itself."""
        before = self.path / "before"
        return before if before.is_dir() else self.path


@dataclass
class Finding:
    key: Key
    message: str


@dataclass
class CaseRun:
    case: Case
    exit_code: int | None = None
    findings: list[Finding] = field(default_factory=list)  # scored MC2xx findings
    diagnostics: list[Finding] = field(default_factory=list)  # MC0xx
    unselected: list[Finding] = field(default_factory=list)  # codes outside MC0/MC2
    cli_error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def found(self) -> set[Key]:
        return {finding.key for finding in self.findings}


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
        }


@dataclass
class Report:
    runs: list[CaseRun]
    per_rule: dict[str, Tally]
    overall: Tally
    per_flow: dict[str, Tally]
    false_positives: list[tuple[CaseRun, Finding]]
    false_negatives: list[tuple[CaseRun, Key, list[int]]]  # label, lines reported instead
    dirty_traps: list[CaseRun]

    @property
    def cli_failures(self) -> list[CaseRun]:
        return [run for run in self.runs if run.cli_error is not None]

    @property
    def scored_runs(self) -> list[CaseRun]:
        return [run for run in self.runs if run.cli_error is None]


# --------------------------------------------------------------------------- labels


def relative_to_root(path: Path | str) -> str:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = REPO_ROOT / candidate
    return Path(os.path.relpath(os.path.normpath(candidate), REPO_ROOT)).as_posix()


def iter_case_files(case_dir: Path) -> Iterable[Path]:
    for path in sorted(case_dir.rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield path


def split_codes(text: str) -> list[str]:
    return [part for part in CODE_LIST_SPLIT_RE.split(text.strip()) if part]


def read_comments(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment token; comment-like text inside strings is not one."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [(tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.COMMENT]


def parse_file(case: Case, path: Path) -> None:
    display = relative_to_root(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        case.problems.append(f"{display}: unreadable: {exc}")
        return
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        case.problems.append(f"{display}:{exc.lineno}: not valid Python: {exc.msg}")
        return
    try:
        comments = read_comments(source)
    except (tokenize.TokenError, SyntaxError) as exc:
        case.problems.append(f"{display}: cannot tokenize: {exc}")
        return
    for line, text in comments:
        match = DIRECTIVE_RE.match(text)
        if match is None:
            if re.search(r"#\s*expect\b", text):
                case.problems.append(f"{display}:{line}: malformed expect label {text!r}")
            continue
        directive, value = match.group(1), match.group(2).strip()
        if directive == "expect":
            codes = split_codes(value)
            bad = [code for code in codes if not CODE_RE.match(code)]
            if not codes or bad:
                case.problems.append(f"{display}:{line}: malformed expect label {text!r}")
                continue
            for code in codes:
                key = Key(display, line, code)
                if key in case.labels:
                    case.problems.append(f"{display}:{line}: {code} labelled twice")
                case.labels.add(key)
        elif directive == "trap":
            case.trap_reasons.append(value or "(no reason given)")
        else:  # flow
            for flow in FLOW_LIST_SPLIT_RE.split(value):
                if flow and flow not in case.flows:
                    case.flows.append(flow)


def load_case(case_dir: Path) -> Case:
    case = Case(name=case_dir.name, path=case_dir)
    files = list(iter_case_files(case.scanned_path))
    if not files:
        case.problems.append(f"{case.relative_path}: no .py files")
    for path in files:
        parse_file(case, path)
    if case.is_trap and case.labels:
        case.problems.append(f"{case.name}: a trap must carry no expect label")
    if not case.is_trap and not case.labels:
        case.problems.append(f"{case.name}: neither an expect label nor a '# trap:' comment")
    has_flow_rule = any(key.code == FLOW_RULE for key in case.labels)
    if case.flows and not has_flow_rule:
        case.problems.append(f"{case.name}: '# flow:' given but no {FLOW_RULE} label")
    for flow in case.flows:
        if flow not in KNOWN_FLOWS:
            case.problems.append(f"{case.name}: unknown flow shape {flow!r}")
    return case


KNOWN_GAPS_FILE = "KNOWN_GAPS.toml"


@dataclass(frozen=True)
class KnownGaps:
    """What a blind batch's first run got wrong, per case: labels it missed and findings
    nobody labelled. The labels test holds the tool to exactly these."""

    missed: frozenset[Key] = frozenset()
    unlabelled: frozenset[Key] = frozenset()


def load_known_gaps(cases_dir: Path) -> dict[str, KnownGaps]:
    """Read ``KNOWN_GAPS.toml`` of a batch (an empty mapping when there is none).

    Entries are ``"<case>/<file>:<line>:<code>"``, ``<file>`` relative to the case's
    ``before/`` tree (or to the case itself when it has none).
    """
    path = cases_dir / KNOWN_GAPS_FILE
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    per_case: dict[str, dict[str, set[Key]]] = defaultdict(
        lambda: {"missed": set(), "unlabelled": set()}
    )
    for kind in ("missed", "unlabelled"):
        for entry in table.get(kind, []):
            where, line, code = str(entry).rsplit(":", 2)
            case_name, _, file_name = where.partition("/")
            case = Case(name=case_name, path=cases_dir / case_name)
            file = relative_to_root(case.scanned_path / file_name)
            per_case[case_name][kind].add(Key(file, int(line), code))
    return {
        name: KnownGaps(frozenset(kinds["missed"]), frozenset(kinds["unlabelled"]))
        for name, kinds in per_case.items()
    }


def discover_cases(cases_dir: Path, selectors: Sequence[str]) -> list[Case]:
    case_dirs = sorted(p for p in cases_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if selectors:
        chosen: list[Path] = []
        for selector in selectors:
            matches = select_cases(case_dirs, selector)
            if not matches:
                raise LookupError(f"no case matches {selector!r}")
            chosen.extend(m for m in matches if m not in chosen)
        case_dirs = sorted(chosen)
    return [load_case(case_dir) for case_dir in case_dirs]


def select_cases(case_dirs: Sequence[Path], selector: str) -> list[Path]:
    """Exact directory name first, then the number prefix (``09``), then a substring."""
    for predicate in (
        lambda name: name == selector,
        lambda name: name.split("_", 1)[0] == selector,
        lambda name: selector in name,
    ):
        matches = [case_dir for case_dir in case_dirs if predicate(case_dir.name)]
        if matches:
            return matches
    return []


# --------------------------------------------------------------------------- running


def check_arguments(case: Case) -> list[str]:
    """The `ml2mc` arguments that score a case (run with the repository root as cwd)."""
    return [
        "check",
        relative_to_root(case.scanned_path),
        "--select",
        SELECTION,
        "--output-format",
        "json",
    ]


def run_case(case: Case, cli: Sequence[str], timeout: float) -> CaseRun:
    command = [*cli, *check_arguments(case)]
    try:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CaseRun(case=case, cli_error=f"timed out after {timeout:g}s")
    except OSError as exc:
        return CaseRun(case=case, cli_error=f"cannot start {shlex.join(command)}: {exc}")
    return read_output(case, completed.returncode, completed.stdout, completed.stderr)


def read_output(case: Case, exit_code: int, stdout: str, stderr: str) -> CaseRun:
    """Sort what one `check --output-format json` run printed into scored findings,
    diagnostics and codes outside the selection."""
    run = CaseRun(case=case, exit_code=exit_code)
    stderr_tail = stderr.strip().splitlines()[-5:]
    if exit_code not in (0, 1):
        run.cli_error = f"exit {exit_code}: " + " | ".join(stderr_tail)
        return run
    try:
        payload = json.loads(stdout)
        raw_findings = payload["findings"]
        if not isinstance(raw_findings, list):
            raise TypeError("'findings' is not a list")
        parsed = [parse_finding(item) for item in raw_findings]
    except (ValueError, KeyError, TypeError) as exc:
        head = stdout.strip()[:200]
        run.cli_error = f"exit {exit_code}, unusable JSON ({exc}): {head!r} " + (
            " | ".join(stderr_tail)
        )
        return run
    for finding in parsed:
        code = finding.key.code
        if code.startswith("MC0"):
            run.diagnostics.append(finding)
        elif code.startswith("MC2"):
            run.findings.append(finding)
        else:
            run.unselected.append(finding)
    if (exit_code == 1) != bool(parsed):
        run.warnings.append(
            f"exit {exit_code} with {len(parsed)} finding(s): exit 1 should mean findings, 0 none"
        )
    return run


def parse_finding(item: Any) -> Finding:
    if not isinstance(item, dict):
        raise TypeError(f"finding is not an object: {item!r}")
    line = item["line"]
    if not isinstance(line, int):
        raise TypeError(f"finding line is not an int: {item!r}")
    key = Key(relative_to_root(str(item["file"])), line, str(item["code"]))
    return Finding(key=key, message=str(item.get("message") or ""))


def run_all(cases: Sequence[Case], cli: Sequence[str], jobs: int, timeout: float) -> list[CaseRun]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda case: run_case(case, cli, timeout), cases))


# --------------------------------------------------------------------------- scoring


def score(runs: Sequence[CaseRun]) -> Report:
    per_rule: dict[str, Tally] = {code: Tally() for code in KNOWN_RULES}
    per_flow: dict[str, Tally] = {}
    false_positives: list[tuple[CaseRun, Finding]] = []
    false_negatives: list[tuple[CaseRun, Key, list[int]]] = []
    dirty_traps: list[CaseRun] = []
    for run in runs:
        if run.cli_error is not None:
            continue  # nothing was measured; listed under CLI failures
        expected, found = run.case.labels, run.found
        for key in found & expected:
            per_rule.setdefault(key.code, Tally()).tp += 1
        seen_fp: set[Key] = set()
        for finding in sorted(run.findings, key=lambda f: f.key):
            if finding.key not in expected and finding.key not in seen_fp:
                seen_fp.add(finding.key)
                per_rule.setdefault(finding.key.code, Tally()).fp += 1
                false_positives.append((run, finding))
        for key in sorted(expected - found):
            per_rule.setdefault(key.code, Tally()).fn += 1
            instead = sorted(
                other.line
                for other in found - expected
                if other.code == key.code and other.file == key.file
            )
            false_negatives.append((run, key, instead))
        flows = run.case.flows or [UNTAGGED_FLOW]
        for key in expected:
            if key.code != FLOW_RULE:
                continue
            for flow in flows:
                tally = per_flow.setdefault(flow, Tally())
                if key in found:
                    tally.tp += 1
                else:
                    tally.fn += 1
        if run.case.is_trap and run.findings:
            dirty_traps.append(run)
    overall = Tally(
        tp=sum(t.tp for t in per_rule.values()),
        fp=sum(t.fp for t in per_rule.values()),
        fn=sum(t.fn for t in per_rule.values()),
    )
    ordered_flows = {f: per_flow[f] for f in (*KNOWN_FLOWS, UNTAGGED_FLOW) if f in per_flow}
    ordered_flows.update({f: t for f, t in sorted(per_flow.items()) if f not in ordered_flows})
    return Report(
        runs=list(runs),
        per_rule=dict(sorted(per_rule.items())),
        overall=overall,
        per_flow=ordered_flows,
        false_positives=false_positives,
        false_negatives=false_negatives,
        dirty_traps=dirty_traps,
    )


# --------------------------------------------------------------------------- output


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def tally_row(name: str, tally: Tally) -> list[str]:
    return [
        name,
        str(tally.tp),
        str(tally.fp),
        str(tally.fn),
        fmt_ratio(tally.precision),
        fmt_ratio(tally.recall),
    ]


def render_text(report: Report) -> str:
    runs = report.runs
    traps = [run for run in runs if run.case.is_trap]
    out: list[str] = []
    out.append(
        f"ml2mc {SELECTION}xx precision/recall: {len(runs)} cases "
        f"({len(runs) - len(traps)} labelled, {len(traps)} traps), "
        f"{sum(len(run.case.labels) for run in runs)} labels"
    )
    out.append("")
    header = ["rule", "TP", "FP", "FN", "precision", "recall"]
    rows = [tally_row(code, tally) for code, tally in report.per_rule.items()]
    rows.append(tally_row("all", report.overall))
    out.extend(table(header, rows))

    if report.per_flow:
        out.append("")
        out.append(f"{FLOW_RULE} recall by flow shape (a case may count under several shapes)")
        flow_rows = [
            [flow, str(t.tp), str(t.fn), str(t.tp + t.fn), fmt_ratio(t.recall)]
            for flow, t in report.per_flow.items()
        ]
        out.extend(table(["flow", "TP", "FN", "labels", "recall"], flow_rows))

    scored_traps = [run for run in traps if run.cli_error is None]
    out.append("")
    out.append(
        f"traps without findings: {len(scored_traps) - len(report.dirty_traps)}/{len(scored_traps)}"
    )
    for run in report.dirty_traps:
        codes = ", ".join(sorted({f.key.code for f in run.findings}))
        out.append(f"  {run.case.name}: {codes}")

    out.append("")
    out.append(f"false positives ({len(report.false_positives)}):")
    for run, finding in report.false_positives:
        kind = "trap" if run.case.is_trap else "case"
        message = f"  {finding.message}" if finding.message else ""
        out.append(f"  {finding.key.where()}  {finding.key.code}  [{kind}]{message}")
    out.append(f"false negatives ({len(report.false_negatives)}):")
    for _run, key, instead in report.false_negatives:
        hint = ""
        if instead:
            hint = "  (reported at line " + ", ".join(map(str, instead)) + " instead?)"
        out.append(f"  {key.where()}  {key.code}{hint}")

    diagnostics = [(run, f) for run in runs for f in run.diagnostics]
    out.append(f"tool diagnostics, counted as errors ({len(diagnostics)}):")
    for _, finding in diagnostics:
        out.append(f"  {finding.key.where()}  {finding.key.code}  {finding.message}")
    unselected = [(run, f) for run in runs for f in run.unselected]
    if unselected:
        out.append(f"codes outside --select {SELECTION} (not scored) ({len(unselected)}):")
        for _, finding in unselected:
            out.append(f"  {finding.key.where()}  {finding.key.code}")
    warnings = [(run, w) for run in runs for w in run.warnings]
    if warnings:
        out.append(f"warnings ({len(warnings)}):")
        for run, warning in warnings:
            out.append(f"  {run.case.name}: {warning}")
    failures = report.cli_failures
    out.append(f"CLI failures, cases not scored ({len(failures)}):")
    for run in failures:
        out.append(f"  {run.case.name}: {run.cli_error}")

    overall = report.overall
    out.append("")
    out.append(
        f"overall: precision {fmt_ratio(overall.precision)}, recall {fmt_ratio(overall.recall)} "
        f"(TP {overall.tp}, FP {overall.fp}, FN {overall.fn}); "
        f"errors {len(diagnostics) + len(failures)}; "
        f"scored {len(report.scored_runs)}/{len(runs)} cases"
    )
    return "\n".join(out)


def finding_dict(run: CaseRun, finding: Finding) -> dict[str, Any]:
    return {
        "case": run.case.name,
        "file": finding.key.file,
        "line": finding.key.line,
        "code": finding.key.code,
        "message": finding.message,
    }


def render_json(report: Report) -> dict[str, Any]:
    runs = report.runs
    traps = [run for run in runs if run.case.is_trap and run.cli_error is None]
    return {
        "version": 1,
        "selection": SELECTION,
        "cases": len(runs),
        "scored_cases": len(report.scored_runs),
        "labels": sum(len(run.case.labels) for run in runs),
        "rules": {code: tally.as_dict() for code, tally in report.per_rule.items()},
        "overall": report.overall.as_dict(),
        "flows": {
            flow: {"tp": tally.tp, "fn": tally.fn, "recall": tally.recall}
            for flow, tally in report.per_flow.items()
        },
        "traps": {
            "total": len(traps),
            "clean": len(traps) - len(report.dirty_traps),
            "dirty": [run.case.name for run in report.dirty_traps],
        },
        "false_positives": [finding_dict(run, f) for run, f in report.false_positives],
        "false_negatives": [
            {
                "case": run.case.name,
                "file": key.file,
                "line": key.line,
                "code": key.code,
                "reported_lines": instead,
            }
            for run, key, instead in report.false_negatives
        ],
        "diagnostics": [finding_dict(run, f) for run in runs for f in run.diagnostics],
        "unselected": [finding_dict(run, f) for run in runs for f in run.unselected],
        "warnings": [{"case": run.case.name, "warning": w} for run in runs for w in run.warnings],
        "cli_errors": [
            {"case": run.case.name, "error": run.cli_error} for run in report.cli_failures
        ],
        "errors": sum(len(run.diagnostics) for run in runs) + len(report.cli_failures),
    }


def render_labels(cases: Sequence[Case], as_json: bool) -> str:
    if as_json:
        return json.dumps(
            [
                {
                    "case": case.name,
                    "trap": case.is_trap,
                    "trap_reasons": case.trap_reasons,
                    "flows": case.flows,
                    "labels": [
                        {"file": k.file, "line": k.line, "code": k.code}
                        for k in sorted(case.labels)
                    ],
                    "problems": case.problems,
                }
                for case in cases
            ],
            indent=2,
        )
    out: list[str] = []
    per_code: dict[str, int] = defaultdict(int)
    cases_per_code: dict[str, int] = defaultdict(int)
    flows: dict[str, int] = defaultdict(int)
    for case in cases:
        kind = "trap" if case.is_trap else "labelled"
        extra = f"  flow: {', '.join(case.flows)}" if case.flows else ""
        out.append(f"{case.name}  [{kind}]{extra}")
        for reason in case.trap_reasons:
            out.append(f"    trap: {reason}")
        for key in sorted(case.labels):
            out.append(f"    {key.where()}  {key.code}")
            per_code[key.code] += 1
        for code in sorted({key.code for key in case.labels}):
            cases_per_code[code] += 1
        for flow in case.flows:
            flows[flow] += 1
        for problem in case.problems:
            out.append(f"    PROBLEM: {problem}")
    out.append("")
    traps = sum(case.is_trap for case in cases)
    out.append(f"{len(cases)} cases: {len(cases) - traps} labelled, {traps} traps")
    for code in sorted(per_code):
        out.append(f"  {code}: {per_code[code]} label(s) in {cases_per_code[code]} case(s)")
    if flows:
        out.append("  flows: " + ", ".join(f"{flow} {flows[flow]}" for flow in sorted(flows)))
    problems = sum(len(case.problems) for case in cases)
    out.append(f"problems: {problems}")
    return "\n".join(out)


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Measure precision/recall of ml2mc's MC2xx rules on fixtures/cases/.",
    )
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this case: directory name, number prefix or substring (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--migrations",
        action="store_true",
        help="also score `migrate --write` on the labelled migration cases "
        "(benchmarks/migrations.py) and print it beside the MC2xx figures",
    )
    parser.add_argument(
        "--list-labels",
        action="store_true",
        help="print the parsed labels and any malformed case, run nothing "
        "(exit 1 when a case has problems)",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="cases checked in parallel (default: 2)"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per case (default: 300)"
    )
    parser.add_argument(
        "--cases-dir",
        type=Path,
        default=DEFAULT_CASES_DIR,
        help="directory of case directories (default: fixtures/cases)",
    )
    parser.add_argument(
        "--cli",
        default=None,
        metavar="COMMAND",
        help="command that stands for `ml2mc` (default: the current python -m migrate)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cases_dir: Path = args.cases_dir.resolve()
    if not cases_dir.is_dir():
        parser.error(f"{cases_dir} is not a directory")
    try:
        cases = discover_cases(cases_dir, args.case)
    except LookupError as exc:
        parser.error(str(exc))
    if args.list_labels:
        print(render_labels(cases, args.json))
        return 1 if any(case.problems for case in cases) else 0

    for case in cases:
        for problem in case.problems:
            print(f"warning: malformed case: {problem}", file=sys.stderr)
    cli = shlex.split(args.cli) if args.cli else [sys.executable, "-m", "migrate"]
    runs = run_all(cases, cli, args.jobs, args.timeout)
    report = score(runs)
    migration_runs = []
    if args.migrations:
        import migrations  # benchmarks/migrations.py, beside this script

        migration_runs = [
            migrations.run_case(case, cli)
            for case_set in migrations.case_sets()
            for case in migrations.discover(case_set)
        ]
    if args.json:
        payload = render_json(report)
        if args.migrations:
            payload["migrations"] = migrations.summary(migration_runs)
        print(json.dumps(payload, indent=2))
    else:
        print(render_text(report))
        if args.migrations:
            print("\nmigrate --write on the labelled migration cases (benchmarks/migrations.py)")
            print(migrations.render(migration_runs))
    return 2 if report.cli_failures else 0


if __name__ == "__main__":
    sys.exit(main())
