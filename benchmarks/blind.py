"""The blind batches under ``fixtures/blind/``: check that every case's probe can fail, and
measure what `check --fix` does to the detection cases.

A blind case was written by someone who had not read the engine. Each has a torch
``probe.py`` (``python probe.py DIR``) and several trees of the same project:

- detection cases (``# expect:`` labels): ``before/`` (as written, the probe fails on it) and
  ``fixed/`` (fixed by hand, the probe passes); a trap has only ``before/`` (the probe passes);
- migration cases (``expected.toml``): ``before/``; ``after/`` (hand-migrated, the probe
  passes, and fails on ``before/``) for a migrate case; ``naive/`` (the careless migration, the
  probe fails, and passes on ``before/``) for a refuse case.

``--validate`` runs every probe on every tree and reports a case whose probe does not tell
them apart (a probe that cannot fail proves nothing). ``--fixes`` runs ``ml2mc check --fix
--unsafe-fixes --no-verify`` on a copy of each detection case's ``before/`` and then its probe:
a labelled case should end with the probe passing, a trap byte-identical. Label scores are
``benchmarks/precision_recall.py --cases-dir fixtures/blind/<batch>`` and migration verdicts
``benchmarks/migrations.py fixtures/blind/<batch>``.

Usage::

    python benchmarks/blind.py --validate fixtures/blind/detect1
    python benchmarks/blind.py --fixes fixtures/blind/detect1
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from migrations import python_files, run_probe_file  # beside this script

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ProbeRun:
    tree: str
    passed: bool
    tail: str


def probe(case_dir: Path, tree: Path) -> ProbeRun:
    passed, tail = run_probe_file(case_dir / "probe.py", tree, last_lines=1)
    return ProbeRun(tree.name, passed, tail[:160])


def expected_probe_results(case_dir: Path) -> dict[str, bool]:
    """Which trees the probe must pass (True) and fail (False)."""
    trees = {name: (case_dir / name).is_dir() for name in ("before", "fixed", "after", "naive")}
    if trees["naive"]:  # a refuse case: the original works, the careless migration does not
        return {"before": True, "naive": False}
    if trees["fixed"] or trees["after"]:
        repaired = "fixed" if trees["fixed"] else "after"
        return {"before": False, repaired: True}
    return {"before": True}  # a trap, or a project that must stay untouched


def cases(batch: Path) -> list[Path]:
    return sorted(
        p for p in batch.iterdir() if (p / "probe.py").is_file() and (p / "before").is_dir()
    )


def validate(batch: Path) -> int:
    bad = 0
    for case_dir in cases(batch):
        results = []
        for tree, should_pass in expected_probe_results(case_dir).items():
            run = probe(case_dir, case_dir / tree)
            good = run.passed == should_pass
            bad += not good
            mark = "ok " if good else "BAD"
            verdict = "pass" if run.passed else "fail"
            results.append(f"{mark} {tree}={verdict}")
            if not good:
                results.append(f"({run.tail})")
        print(f"{case_dir.name:<44} " + "  ".join(results))
    print(f"\n{bad} probe result(s) not as the case says")
    return 1 if bad else 0


def remaining_findings(tree: Path) -> list[str]:
    command = [sys.executable, "-m", "migrate", "check", ".", "--select", "MC2"]
    completed = subprocess.run(
        [*command, "--output-format", "json"],
        cwd=tree, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    findings = json.loads(completed.stdout)["findings"]
    return [f"{item['file']}:{item['line']} {item['code']}" for item in findings]


def fixes(batch: Path) -> int:
    """`check --fix --unsafe-fixes` on each detection case, judged by its probe."""
    tally = {
        "repaired": 0,
        "partly fixed": 0,
        "wrong fix": 0,
        "not fixed": 0,
        "trap kept": 0,
        "trap touched": 0,
    }
    for case_dir in cases(batch):
        if (case_dir / "expected.toml").is_file():
            continue  # a migration case: benchmarks/migrations.py scores it
        is_trap = not (case_dir / "fixed").is_dir()
        with tempfile.TemporaryDirectory(prefix="ml2mc-blind-") as temporary:
            work = Path(temporary) / "before"
            shutil.copytree(case_dir / "before", work, ignore=shutil.ignore_patterns("__pycache__"))
            subprocess.run(
                [sys.executable, "-m", "migrate", "check", ".", "--fix", "--unsafe-fixes",
                 "--no-verify", "--output-format", "json"],
                cwd=work, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            changed = python_files(work) != python_files(case_dir / "before")
            if is_trap:
                verdict = "trap touched" if changed else "trap kept"
                detail = ""
            elif not changed:
                verdict, detail = "not fixed", ""
            else:
                run = probe(case_dir, work)
                left = remaining_findings(work)
                if run.passed:
                    verdict, detail = "repaired", ""
                elif left:
                    # The fixes applied may be right; the probe also sees the bugs left.
                    verdict, detail = "partly fixed", f"left: {', '.join(left)}"
                else:
                    verdict, detail = "wrong fix", run.tail
        tally[verdict] += 1
        print(f"{case_dir.name:<44} {verdict}  {detail}")
    print("\n" + ", ".join(f"{name} {count}" for name, count in tally.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("batch", type=Path, help="a folder of blind cases")
    parser.add_argument("--validate", action="store_true", help="every probe tells trees apart")
    parser.add_argument("--fixes", action="store_true", help="score check --fix on detection cases")
    args = parser.parse_args(argv)
    batch = args.batch.resolve()
    status = 0
    if args.validate:
        status |= validate(batch)
    if args.fixes:
        status |= fixes(batch)
    if not (args.validate or args.fixes):
        parser.error("give --validate and/or --fixes")
    return status


if __name__ == "__main__":
    sys.exit(main())
