"""How well `ml2mc migrate --write` does on labelled migration cases, per file and per unit.

A migration case is a directory with the project as written in ``before/`` and an
``expected.toml``::

    outcome = "migrate"            # or "refuse" (nothing may be written, the refusal said)
                                   # or "untouched" (correct code: nothing may be written)
    options = ["--unsafe-fixes"]   # optional: extra `migrate` options
    reason = "..."                 # refuse: why no correct automatic migration exists
    blocking = ["losses.py:12"]    # refuse: the piece that blocks the unit
    [files]                        # every .py file of before/: "change" or "keep"
    "models/net.py" = "change"

and, to judge the rewrite itself, an ``after/`` tree (the hand migration) and/or a torch
``probe.py``: ``python probe.py DIR`` exits 0 when DIR is a correct multi-class pipeline (for
a migrate case) or still the working pipeline it was (for a refuse case). With a probe, the
probe is the judge (a correct rewrite need not match ``after/`` byte for byte); without one,
the written tree must equal ``after/`` exactly.

Each case is one unit, scored on a fresh copy of ``before/`` with ``ml2mc migrate .
--write --no-verify --output-format json`` run inside it, and gets one verdict:

``migrated``            a migrate case, every "change" file written, no "keep" file touched,
                        and the probe passes (or the tree equals ``after/``);
``wrong rewrite``       files were written but the probe fails (or the tree differs from
                        ``after/``): the tool broke the user's model;
``partial``             some "change" file left alone or a "keep" file touched, probe passing;
``not migrated``        a migrate case where nothing was written (over-refusal);
``refused``             a refuse case left byte-identical, with a finding that names it;
``refused silently``    a refuse case left byte-identical with no MC1xx finding at all;
``written on refuse``   a refuse case where something was written;
``left alone``          an untouched case (correct code) left byte-identical;
``written on untouched`` an untouched case where something was written.

Unit precision = migrated / units where something was written; unit recall = migrated /
migrate cases; refusal = (refused + refused silently) / refuse cases; left alone = left alone
/ untouched cases. Files: a "change" file
written is TP, a "keep" file written FP, a "change" file left alone FN.

Case sets: ``fixtures/projects`` (written next to the engine) and the blind batches under
``fixtures/blind/`` that hold ``expected.toml`` cases. A batch's ``KNOWN_GAPS.toml`` may
record ``[verdicts] "<case>" = "<verdict>"`` for the cases its first run got wrong;
``tests/test_migrations.py`` holds the tool to exactly those.

Usage::

    python benchmarks/migrations.py                 # every set
    python benchmarks/migrations.py fixtures/blind/migrate1 --case 03
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"
EXPECTED_FILE = "expected.toml"
KNOWN_GAPS_FILE = "KNOWN_GAPS.toml"
PROBE_TIMEOUT = 180.0

MIGRATED = "migrated"
WRONG = "wrong rewrite"
PARTIAL = "partial"
NOT_MIGRATED = "not migrated"
REFUSED = "refused"
REFUSED_SILENTLY = "refused silently"
WRITTEN_ON_REFUSE = "written on refuse"
LEFT_ALONE = "left alone"
WRITTEN_ON_UNTOUCHED = "written on untouched"
VERDICTS = (
    MIGRATED,
    WRONG,
    PARTIAL,
    NOT_MIGRATED,
    REFUSED,
    REFUSED_SILENTLY,
    WRITTEN_ON_REFUSE,
    LEFT_ALONE,
    WRITTEN_ON_UNTOUCHED,
)
CORRECT = {MIGRATED, REFUSED, LEFT_ALONE}
EXPECTED_VERDICT = {"migrate": MIGRATED, "refuse": REFUSED, "untouched": LEFT_ALONE}


@dataclass(frozen=True)
class MigrationCase:
    name: str
    path: Path
    outcome: str  # "migrate" | "refuse" | "untouched"
    files: dict[str, str]  # relative path -> "change" | "keep"
    options: tuple[str, ...] = ()
    reason: str = ""

    @property
    def before(self) -> Path:
        return self.path / "before"

    @property
    def after(self) -> Path | None:
        after = self.path / "after"
        return after if after.is_dir() else None

    @property
    def probe(self) -> Path | None:
        probe = self.path / "probe.py"
        return probe if probe.is_file() else None

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.name}"


@dataclass
class MigrationRun:
    case: MigrationCase
    verdict: str
    written: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # MC1xx findings without a fix
    probe_output: str = ""
    detail: str = ""


def python_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def load_case(case_dir: Path) -> MigrationCase:
    table = tomllib.loads((case_dir / EXPECTED_FILE).read_text(encoding="utf-8"))
    outcome = str(table.get("outcome", ""))
    if outcome not in EXPECTED_VERDICT:
        raise ValueError(f"{case_dir}: outcome must be one of {sorted(EXPECTED_VERDICT)}")
    files = {str(name): str(label) for name, label in dict(table.get("files", {})).items()}
    on_disk = set(python_files(case_dir / "before"))
    if set(files) != on_disk or not set(files.values()) <= {"change", "keep"}:
        raise ValueError(
            f"{case_dir}: [files] must label every .py file of before/ 'change' or 'keep' "
            f"(unlabelled: {sorted(on_disk - set(files))}, unknown: {sorted(set(files) - on_disk)})"
        )
    return MigrationCase(
        name=case_dir.name,
        path=case_dir,
        outcome=outcome,
        files=files,
        options=tuple(str(option) for option in table.get("options", [])),
        reason=str(table.get("reason", "")),
    )


def discover(case_set: Path) -> list[MigrationCase]:
    return [
        load_case(case_dir)
        for case_dir in sorted(case_set.iterdir())
        if (case_dir / EXPECTED_FILE).is_file()
    ]


def case_sets() -> list[Path]:
    blind = FIXTURES / "blind"
    sets = [FIXTURES / "projects"]
    if blind.is_dir():
        sets.extend(sorted(p for p in blind.iterdir() if p.is_dir() and discover(p)))
    return sets


def load_known_verdicts(case_set: Path) -> dict[str, str]:
    path = case_set / KNOWN_GAPS_FILE
    if not path.is_file():
        return {}
    verdicts = tomllib.loads(path.read_text(encoding="utf-8")).get("verdicts", {})
    return {str(name): str(verdict) for name, verdict in dict(verdicts).items()}


def run_probe_file(probe: Path, tree: Path, last_lines: int = 3) -> tuple[bool, str]:
    """Run `python probe.py TREE`: whether it passed, and its last words (torch's own import
    warnings left out: they are noise, the probe's last lines say why it failed)."""
    try:
        completed = subprocess.run(
            [sys.executable, str(probe), str(tree)],
            cwd=tree.parent,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except subprocess.TimeoutExpired:
        return False, f"probe timed out after {PROBE_TIMEOUT:g}s"
    lines = [
        line
        for line in (completed.stdout + completed.stderr).strip().splitlines()
        if "Warning" not in line and "_conversion_method_template" not in line
    ]
    return completed.returncode == 0, " | ".join(lines[-last_lines:])


def run_probe(case: MigrationCase, tree: Path) -> tuple[bool, str]:
    assert case.probe is not None
    return run_probe_file(case.probe, tree)


def judge(
    case: MigrationCase, work: Path, payload: dict[str, Any], leftovers: Sequence[str] = ()
) -> MigrationRun:
    """The case's verdict. `leftovers` is what `check --select MC1,MC2` still reports on the
    written tree outside the refused units: a migration that leaves any is partial."""
    original = python_files(case.before)
    now = python_files(work)
    written = sorted(name for name in original if now.get(name) != original[name])
    written += sorted(set(now) - set(original))
    refusals = [
        f"{item['file']}:{item['line']} {item['code']}"
        for item in payload.get("findings", [])
        if str(item.get("code", "")).startswith("MC1") and item.get("fix") is None
    ] + [
        f"{blocker['file']}:{blocker['line']} {blocker['reason']}"
        for unit in payload.get("refused_units", [])
        for blocker in unit["blocking"]
    ]
    run = MigrationRun(case=case, verdict="", written=written, refusals=refusals)
    if case.outcome == "untouched":
        run.verdict = WRITTEN_ON_UNTOUCHED if written else LEFT_ALONE
        return run
    if case.outcome == "refuse":
        if written:
            run.verdict = WRITTEN_ON_REFUSE
        else:
            run.verdict = REFUSED if refusals else REFUSED_SILENTLY
        return run
    if not written:
        run.verdict = NOT_MIGRATED
        return run
    if case.probe is not None:
        passed, run.probe_output = run_probe(case, work)
    else:
        assert case.after is not None, f"{case.id}: a migrate case needs after/ or probe.py"
        passed = now == python_files(case.after)
        run.detail = "" if passed else "the written tree differs from after/"
    if not passed:
        run.verdict = WRONG
        return run
    should_change = {name for name, label in case.files.items() if label == "change"}
    run.verdict = MIGRATED if set(written) == should_change and not leftovers else PARTIAL
    if set(written) != should_change:
        run.detail = (
            f"left alone: {sorted(should_change - set(written))}; "
            f"touched: {sorted(set(written) - should_change)}"
        )
    elif leftovers:
        run.detail = f"`check --select MC1,MC2` after the write reports: {', '.join(leftovers)}"
    return run


def run_case(case: MigrationCase, command: Sequence[str]) -> MigrationRun:
    """Migrate a fresh copy of the case's before/ tree with `command` (argv of `ml2mc`)."""
    with tempfile.TemporaryDirectory(prefix="ml2mc-migration-") as temporary:
        work = Path(temporary) / "before"
        shutil.copytree(case.before, work, ignore=shutil.ignore_patterns("__pycache__"))
        arguments = ["migrate", ".", "--write", "--no-verify", "--output-format", "json"]
        completed = _ml2mc(command, [*arguments, *case.options], work)
        if completed.returncode not in (0, 1):
            tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
            return MigrationRun(
                case=case, verdict=WRONG, detail=f"exit {completed.returncode}: {tail}"
            )
        payload = json.loads(completed.stdout)
        leftovers = _check_after_write(command, work, payload) if payload.get("changes") else []
        return judge(case, work, payload, leftovers)


def _ml2mc(
    command: Sequence[str], arguments: Sequence[str], work: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *arguments], cwd=work, capture_output=True, text=True, timeout=300, check=False
    )


def _check_after_write(command: Sequence[str], work: Path, payload: dict[str, Any]) -> list[str]:
    """`ml2mc check --select MC1,MC2` on the written tree: what it reports outside the refused
    units (DESIGN.md: a tree `migrate --write` produced is clean but for those). MC106 stays
    reported by design (one-hot float targets are valid class probabilities) and MC0xx are
    about files, not about the migration."""
    refused = {name for unit in payload.get("refused_units", []) for name in unit["files"]}
    arguments = ["check", ".", "--select", "MC1,MC2", "--output-format", "json"]
    completed = _ml2mc(command, arguments, work)
    if completed.returncode not in (0, 1):
        return [f"check exited {completed.returncode}"]
    return [
        f"{item['file']}:{item['line']} {item['code']}"
        for item in json.loads(completed.stdout).get("findings", [])
        if item["file"] not in refused and item["code"] not in ("MC106", "MC001", "MC002")
    ]


@dataclass
class FileTally:
    tp: int = 0
    fp: int = 0
    fn: int = 0


def file_tally(runs: Sequence[MigrationRun]) -> FileTally:
    tally = FileTally()
    for run in runs:
        for name, label in run.case.files.items():
            written = name in run.written
            if written and label == "change":
                tally.tp += 1
            elif written:
                tally.fp += 1
            elif label == "change":
                tally.fn += 1
    return tally


def ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f} ({numerator}/{denominator})" if denominator else "n/a"


def summary(runs: Sequence[MigrationRun]) -> dict[str, Any]:
    counts = {verdict: sum(run.verdict == verdict for run in runs) for verdict in VERDICTS}
    wrote = sum(bool(run.written) for run in runs)
    migrate_cases = sum(run.case.outcome == "migrate" for run in runs)
    refuse_cases = sum(run.case.outcome == "refuse" for run in runs)
    untouched_cases = sum(run.case.outcome == "untouched" for run in runs)
    files = file_tally(runs)
    return {
        "units": len(runs),
        "verdicts": counts,
        "unit_precision": ratio(counts[MIGRATED], wrote),
        "unit_recall": ratio(counts[MIGRATED], migrate_cases),
        "refusal": ratio(counts[REFUSED] + counts[REFUSED_SILENTLY], refuse_cases),
        "left_alone": ratio(counts[LEFT_ALONE], untouched_cases),
        "file_precision": ratio(files.tp, files.tp + files.fp),
        "file_recall": ratio(files.tp, files.tp + files.fn),
    }


def render(runs: Sequence[MigrationRun]) -> str:
    lines = [f"{'case':<48} {'expected':<8} verdict"]
    for run in runs:
        lines.append(f"{run.case.id:<48} {run.case.outcome:<8} {run.verdict}")
        for text in (run.detail, run.probe_output):
            if text and run.verdict not in CORRECT:
                lines.append(f"{'':<4}{text[:200]}")
    figures = summary(runs)
    lines.append("")
    lines.append("verdicts: " + ", ".join(f"{v} {n}" for v, n in figures["verdicts"].items() if n))
    keys = (
        "unit_precision",
        "unit_recall",
        "refusal",
        "left_alone",
        "file_precision",
        "file_recall",
    )
    for key in keys:
        lines.append(f"{key.replace('_', ' ')}: {figures[key]}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("sets", nargs="*", type=Path, help="case sets (default: all)")
    parser.add_argument("--case", action="append", default=[], help="substring of a case name")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sets = [path.resolve() for path in args.sets] or case_sets()
    cases = [case for case_set in sets for case in discover(case_set)]
    if args.case:
        cases = [case for case in cases if any(part in case.name for part in args.case)]
    runs = [run_case(case, [sys.executable, "-m", "migrate"]) for case in cases]
    if args.json:
        print(
            json.dumps(
                {
                    "summary": summary(runs),
                    "cases": [
                        {
                            "case": run.case.id,
                            "expected": run.case.outcome,
                            "verdict": run.verdict,
                            "written": run.written,
                            "refusals": run.refusals,
                            "detail": run.detail,
                            "probe": run.probe_output,
                        }
                        for run in runs
                    ],
                },
                indent=2,
            )
        )
    else:
        print(render(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
