"""Robustness of `ml2mc` on real code: run it over whole real trees and check its promises.

For each corpus (see corpora.py) and each scenario, on a fresh temporary copy:

    migrate     ml2mc migrate . --write --no-verify --output-format json
    check-fix   ml2mc check . --fix --unsafe-fixes --no-verify --output-format json

then check:

  1. no crash: exit code is not 2 and stderr holds no Python traceback;
  2. internal errors are findings: every MC002 (and every MC001) is listed with its file;
  3. files without changes stay byte-identical: every file not listed in `changes` is the
     original byte for byte (and nothing is created or deleted);
  4. every file listed in `changes` was written, compiles (`compile()`), and has no undefined
     name or duplicate import that the original did not have (ruff F821/F811/F823);
  5. a rerun is a no-op: the same command on the written tree changes nothing (skipped, unless
     --always-rerun, when the first run changed nothing: the input is then the same).

    python benchmarks/robustness.py                  # every corpus, both scenarios
    python benchmarks/robustness.py timm --keep      # one corpus, keep the temporary copy

Prints a summary and every violation with file names; writes benchmarks/.cache/robustness.json.
Exit 1 when any property is violated.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CACHE, ensure
from speed import git_state

SCENARIOS: dict[str, list[str]] = {
    "migrate": ["migrate", ".", "--write", "--no-verify", "--output-format", "json"],
    "check-fix": [
        "check",
        ".",
        "--fix",
        "--unsafe-fixes",
        "--no-verify",
        "--output-format",
        "json",
    ],
}
RESULTS = CACHE / "robustness.json"


@dataclass
class Violation:
    corpus: str
    scenario: str
    kind: str  # crash, no-json, unreported-change, not-written, created, deleted, ...
    file: str
    detail: str


@dataclass
class RunOutcome:
    returncode: int
    seconds: float
    stderr_tail: str
    report: dict[str, Any] | None


@dataclass
class ScenarioResult:
    corpus: str
    scenario: str
    files: int = 0
    changed: list[str] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)  # MC001 / MC002 findings
    changed_without_finding: list[str] = field(default_factory=list)
    first_seconds: float = 0.0
    rerun_seconds: float | None = None  # None: skipped
    first_exit: int = 0
    rerun_exit: int = 0
    violations: list[Violation] = field(default_factory=list)


def ml2mc_command() -> list[str]:
    found = shutil.which("ml2mc")
    return [found] if found else [sys.executable, "-m", "migrate"]


def run_ml2mc(arguments: list[str], cwd: Path, timeout: float) -> RunOutcome:
    started = time.perf_counter()
    completed = subprocess.run(
        [*ml2mc_command(), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    report = None
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pass
    return RunOutcome(completed.returncode, seconds, completed.stderr[-4000:], report)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts
    }


def _normal(file: str) -> str:
    return Path(file).as_posix().removeprefix("./")


def compiles(data: bytes, name: str) -> str | None:
    """None when `data` compiles, else the error."""
    try:
        compile(data, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None


# Name errors that compile() cannot see: a rewrite that renames an import but not its uses
# leaves an undefined name (the module then fails on import) or a duplicate import.
NAME_CODES = "F821,F811,F823"


def name_problems(root: Path, files: list[str]) -> dict[str, Counter[str]]:
    """ruff's undefined-name / redefinition diagnostics, per file: "code message" counts."""
    found: dict[str, Counter[str]] = {name: Counter() for name in files}
    if not files or shutil.which("ruff") is None:
        return found
    for start in range(0, len(files), 500):
        completed = subprocess.run(
            [
                "ruff",
                "check",
                "--isolated",
                "--no-cache",
                "--select",
                NAME_CODES,
                "--output-format",
                "json",
                "--exit-zero",
                *files[start : start + 500],
            ],
            cwd=root,
            capture_output=True,
            text=True,
        )
        try:
            items = json.loads(completed.stdout or "[]")
        except json.JSONDecodeError:
            continue
        for item in items:
            name = Path(item["filename"]).resolve().relative_to(root.resolve()).as_posix()
            if name in found:
                found[name][f"{item['code']} {item['message']}"] += 1
    return found


def _crash_checks(result: ScenarioResult, outcome: RunOutcome, which: str) -> None:
    if outcome.returncode == 2 or outcome.returncode < 0:
        result.violations.append(
            Violation(
                result.corpus,
                result.scenario,
                "crash",
                "",
                f"{which}: exit code {outcome.returncode}: {outcome.stderr_tail[-1500:]}",
            )
        )
    if "Traceback (most recent call last)" in outcome.stderr_tail:
        result.violations.append(
            Violation(
                result.corpus,
                result.scenario,
                "traceback",
                "",
                f"{which}: traceback on stderr:\n{outcome.stderr_tail[-3000:]}",
            )
        )
    if outcome.report is None:
        result.violations.append(
            Violation(
                result.corpus,
                result.scenario,
                "no-json",
                "",
                f"{which}: stdout is not one JSON object (exit {outcome.returncode})",
            )
        )


def run_scenario(
    corpus_name: str,
    source: Path,
    scenario: str,
    timeout: float,
    keep: bool,
    full_rerun: bool = False,
) -> ScenarioResult:
    result = ScenarioResult(corpus_name, scenario)
    original = snapshot(source)
    result.files = sum(1 for name in original if name.endswith(".py"))
    temporary = Path(tempfile.mkdtemp(prefix=f"ml2mc-robust-{corpus_name}-{scenario}-"))
    tree = temporary / corpus_name
    shutil.copytree(source, tree, symlinks=True)
    arguments = SCENARIOS[scenario]
    try:
        first = run_ml2mc(arguments, tree, timeout)
        result.first_seconds = first.seconds
        result.first_exit = first.returncode
        _crash_checks(result, first, "first run")
        report = first.report or {}
        findings = report.get("findings", [])
        result.findings = dict(sorted(Counter(f["code"] for f in findings).items()))
        result.diagnostics = [
            {
                "code": f["code"],
                "file": _normal(f["file"]),
                "line": f.get("line"),
                "message": f["message"],
            }
            for f in findings
            if f["code"] in ("MC001", "MC002")
        ]
        for item in result.diagnostics:
            if item["code"] == "MC002":
                result.violations.append(
                    Violation(
                        corpus_name,
                        scenario,
                        "internal-error",
                        item["file"],
                        f"line {item['line']}: {item['message']}",
                    )
                )
        files_with_findings = {
            _normal(f["file"]) for f in findings if f["code"] not in ("MC001", "MC002")
        }
        listed = {_normal(change["file"]) for change in report.get("changes", [])}
        write_errors = report.get("summary", {}).get("write_errors") or []
        after = snapshot(tree)
        for name in sorted(set(original) - set(after)):
            result.violations.append(
                Violation(corpus_name, scenario, "deleted", name, "file disappeared")
            )
        for name in sorted(set(after) - set(original)):
            result.violations.append(
                Violation(corpus_name, scenario, "created", name, "new file appeared")
            )
        for name in sorted(set(original) & set(after)):
            differs = original[name] != after[name]
            if differs and name not in listed:
                result.violations.append(
                    Violation(
                        corpus_name,
                        scenario,
                        "unreported-change",
                        name,
                        "file changed but is not listed in `changes`",
                    )
                )
            if name in listed and not differs:
                result.violations.append(
                    Violation(
                        corpus_name,
                        scenario,
                        "not-written",
                        name,
                        f"listed in `changes` but unchanged on disk; write errors: {write_errors}",
                    )
                )
            if differs:
                result.changed.append(name)
                if name not in files_with_findings:
                    result.changed_without_finding.append(name)
                error = compiles(after[name], name)
                if error is not None:
                    before = compiles(original[name], name)
                    kind = "does-not-compile" if before is None else "does-not-compile-before"
                    result.violations.append(Violation(corpus_name, scenario, kind, name, error))
        before_names = name_problems(source, result.changed)
        after_names = name_problems(tree, result.changed)
        for name in result.changed:
            new = after_names[name] - before_names[name]
            for problem in sorted(new):
                result.violations.append(
                    Violation(
                        corpus_name,
                        scenario,
                        "new-name-error",
                        name,
                        f"ruff {problem} (not in the original)",
                    )
                )
        for name in sorted(listed - set(original)):
            result.violations.append(
                Violation(
                    corpus_name,
                    scenario,
                    "unknown-file",
                    name,
                    "listed in `changes` but not in the tree",
                )
            )
        if not result.changed and not listed and not full_rerun:
            # Same input, same (deterministic) output: the rerun would repeat the first run.
            result.rerun_seconds = None
            result.rerun_exit = result.first_exit
            return result
        second = run_ml2mc(arguments, tree, timeout)
        result.rerun_seconds = second.seconds
        result.rerun_exit = second.returncode
        _crash_checks(result, second, "rerun")
        again = snapshot(tree)
        second_changes = {
            _normal(change["file"]): change.get("diff", "")
            for change in (second.report or {}).get("changes", [])
        }
        for name in sorted(set(second_changes) | {n for n in again if again[n] != after.get(n)}):
            diff = second_changes.get(name, "")
            result.violations.append(
                Violation(
                    corpus_name,
                    scenario,
                    "rerun-not-a-no-op",
                    name,
                    "the second run changed it again:\n" + diff[:3000],
                )
            )
    finally:
        if keep:
            print(f"kept {tree}", file=sys.stderr)
        else:
            shutil.rmtree(temporary, ignore_errors=True)
    return result


def _seconds(value: float | None) -> str:
    return "skipped" if value is None else f"{value:.1f}"


def print_summary(results: list[ScenarioResult]) -> None:
    print()
    print(
        "| corpus | scenario | files | changed | findings | MC001 | MC002 | first s | "
        "rerun s | exit | violations |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---|---:|")
    for result in results:
        findings = (
            ", ".join(
                f"{code} {count}"
                for code, count in result.findings.items()
                if code not in ("MC001", "MC002")
            )
            or "-"
        )
        print(
            f"| {result.corpus} | {result.scenario} | {result.files} | {len(result.changed)} | "
            f"{findings} | {result.findings.get('MC001', 0)} | "
            f"{result.findings.get('MC002', 0)} | {result.first_seconds:.1f} | "
            f"{_seconds(result.rerun_seconds)} | {result.first_exit}/{result.rerun_exit} | "
            f"{len(result.violations)} |"
        )
    print()
    for result in results:
        for item in result.diagnostics:
            print(
                f"{result.corpus}/{result.scenario}: {item['code']} {item['file']}:"
                f"{item['line']}: {item['message']}"
            )
        for name in result.changed_without_finding:
            print(
                f"{result.corpus}/{result.scenario}: note: {name} changed without a "
                f"finding of its own (a fix that spans files?)"
            )
    violations = [v for result in results for v in result.violations]
    print()
    if not violations:
        print("no violations")
        return
    print(f"{len(violations)} violation(s):")
    for violation in violations:
        print(
            f"- [{violation.corpus}/{violation.scenario}] {violation.kind} "
            f"{violation.file}: {violation.detail}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="corpora (default: all)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="scenario to run (repeatable; default: all)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per ml2mc run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--always-rerun",
        action="store_true",
        help="rerun even when the first run changed nothing (by default such "
        "a rerun is skipped: same input, same output)",
    )
    args = parser.parse_args()
    corpora = ensure(args.names or None)
    scenarios = args.scenario or list(SCENARIOS)
    results: list[ScenarioResult] = []
    for corpus in corpora:
        for scenario in scenarios:
            print(f"== {corpus.name} / {scenario}", file=sys.stderr, flush=True)
            result = run_scenario(
                corpus.name, corpus.folder, scenario, args.timeout, args.keep, args.always_rerun
            )
            print(
                f"   {len(result.changed)} changed, {len(result.violations)} violation(s), "
                f"{result.first_seconds:.1f} s + {_seconds(result.rerun_seconds)} s",
                file=sys.stderr,
                flush=True,
            )
            results.append(result)
            data = {"git": git_state(), "results": [asdict(r) for r in results]}
            args.output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"ml2mc at {git_state()}")
    print_summary(results)
    raise SystemExit(1 if any(result.violations for result in results) else 0)


if __name__ == "__main__":
    main()
