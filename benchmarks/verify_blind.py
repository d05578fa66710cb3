"""Score `ml2mc verify` on blind verify cases: does it fail the wrong migrations and pass the
right ones?

A case (`fixtures/blind/verify1/<case>/`, written by a helper that had not read
`migrate/verify`) holds `before/` (the multi-label project as committed), `after/` (the working
tree after a migration attempt), `probe.py` (the ground truth: exit 0 only for a correct
multi-class pipeline) and `case.toml` (`expected = "fail" | "pass"`, `run` = a smoke command,
`why`). Each case becomes a fresh git repository: `before/` committed, the work tree replaced
by `after/`. Then, from its root:

- `ml2mc verify` (models changed since HEAD, and the static check of the changed files);
- `ml2mc verify --run "<run>"` (the same, plus the smoke command on both trees, instrumented).

Exit 1 is a "fail" verdict, exit 0 a "pass"; anything else is an error.

    python benchmarks/verify_blind.py fixtures/blind/verify1 [--no-run] [--case NAME]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from migrations import tomllib  # beside this script

ML2MC = [sys.executable, "-m", "migrate"]
MODES = ("verify", "verify --run")


@dataclass
class VerifyCase:
    path: Path
    expected: str
    run: str
    why: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class CaseResult:
    case: VerifyCase
    verdicts: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def discover(batch: Path) -> list[VerifyCase]:
    cases: list[VerifyCase] = []
    for folder in sorted(path for path in batch.iterdir() if (path / "case.toml").is_file()):
        data = tomllib.loads((folder / "case.toml").read_text(encoding="utf-8"))
        cases.append(
            VerifyCase(folder, str(data["expected"]), str(data.get("run", "")), str(data["why"]))
        )
    return cases


def make_repository(case: VerifyCase, root: Path) -> None:
    """`before/` committed, then the work tree replaced by `after/`."""
    shutil.copytree(case.path / "before", root, ignore=shutil.ignore_patterns("__pycache__"))
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "before"],
    ):
        subprocess.run(command, cwd=root, check=True)
    for item in root.iterdir():
        if item.name != ".git":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    shutil.copytree(
        case.path / "after", root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )


def run_mode(case: VerifyCase, root: Path, mode: str) -> tuple[str, str]:
    arguments = ["verify", "--output-format", "json", "--timeout", "120"]
    if mode == "verify --run" and case.run:
        arguments += ["--run", case.run]
    completed = subprocess.run(
        [*ML2MC, *arguments], cwd=root, capture_output=True, text=True, timeout=900, check=False
    )
    verdict = {0: "pass", 1: "fail"}.get(completed.returncode, f"error {completed.returncode}")
    try:
        payload = json.loads(completed.stdout)
    except json.JSONDecodeError:
        return verdict, completed.stderr.strip()[-300:]
    reasons = [
        f"{item['target']}: {item['status']} {item.get('reason') or ''}".strip()
        for item in payload.get("verification", [])
    ]
    reasons += [f"{f['file']}:{f['line']} {f['code']}" for f in payload.get("findings", [])]
    return verdict, " | ".join(reasons)[:400]


def score(cases: list[VerifyCase], modes: tuple[str, ...]) -> list[CaseResult]:
    results: list[CaseResult] = []
    for case in cases:
        result = CaseResult(case)
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="ml2mc-verify-blind-") as work:
                root = Path(work) / "project"
                make_repository(case, root)
                result.verdicts[mode], result.reasons[mode] = run_mode(case, root, mode)
        results.append(result)
        shown = "  ".join(f"{mode}: {result.verdicts[mode]}" for mode in modes)
        print(f"{case.name:<40} expected {case.expected:<5} {shown}", flush=True)
        for mode in modes:
            if result.verdicts[mode] != case.expected:
                print(f"    {mode}: {result.reasons[mode]}")
    return results


def summary(results: list[CaseResult], modes: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    wrong = [r for r in results if r.case.expected == "fail"]
    right = [r for r in results if r.case.expected == "pass"]
    for mode in modes:
        caught = sum(r.verdicts[mode] == "fail" for r in wrong)
        passed = sum(r.verdicts[mode] == "pass" for r in right)
        errors = sum(r.verdicts[mode].startswith("error") for r in results)
        lines.append(
            f"{mode}: wrong migrations failed {caught}/{len(wrong)}, "
            f"correct migrations passed {passed}/{len(right)}, errors {errors}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batch", type=Path)
    parser.add_argument("--no-run", action="store_true", help="only plain `verify`")
    parser.add_argument("--case", action="append", default=[], help="only these cases")
    arguments = parser.parse_args()
    cases = [c for c in discover(arguments.batch) if not arguments.case or c.name in arguments.case]
    modes = MODES[:1] if arguments.no_run else MODES
    results = score(cases, modes)
    print()
    print("\n".join(summary(results, modes)))


if __name__ == "__main__":
    main()
