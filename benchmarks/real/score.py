"""Score ml2mc on the real repositories labelled blind in ``benchmarks/real/<set>/``.

The labels (``labels_*.json``, format in ``PROTOCOL.md``) name each repository, the commit
labelled, the folders scanned, every activation that reaches a loss that expects something
else (a *bug*) and every other activation (a *trap*). Nothing of the repositories' code is
kept here: ``fetch.py`` brings them, and this script extracts each one at its commit (only
``.py`` files and ``pyproject.toml``/``setup.cfg``) into a temporary folder and runs::

    python -m migrate check <scan...> --select MC201,MC202,MC203,MC204,MC205,MC208 \
        --output-format json --no-cache

with the extracted repository as the working directory. A bug counts as found when a finding
lies on one of its activation or loss lines (the code is reported beside: a finding with
another code is "found, other code"); a trap is hit when a finding lies on its line and on no
bug's line. Findings on lines nobody labelled are listed for a person to judge.

    python benchmarks/real/score.py set1                      # table and figures
    python benchmarks/real/score.py set1 --engine /tmp/old    # an older checkout's engine
    python benchmarks/real/score.py set1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from real_repos import extract, find_git_dir  # noqa: E402  (beside this folder)

SELECT = "MC201,MC202,MC203,MC204,MC205,MC208"
EXPECTED_CODE = {
    "softmax->cross_entropy": "MC201",
    "sigmoid->bce_with_logits": "MC202",
    "softmax->nll": "MC203",
    "sigmoid->cross_entropy": "MC204",
    "log_softmax->cross_entropy": "MC205",
    "log_of_softmax": "MC208",
}
Place = tuple[str, int]


@dataclass
class Bug:
    ident: str
    kind: str
    places: set[Place]
    shapes: list[str]
    sure: bool


@dataclass
class Trap:
    kind: str
    place: Place


@dataclass
class RepoLabels:
    slug: str
    commit: str
    scan: list[str]
    labeller: str
    bugs: list[Bug]
    traps: list[Trap]


@dataclass
class RepoResult:
    labels: RepoLabels
    status: str = "ok"
    detail: str = ""
    findings: list[tuple[str, int, str]] = field(default_factory=list)
    found: dict[str, str] = field(default_factory=dict)  # bug id -> code found
    trap_hits: list[tuple[Trap, str]] = field(default_factory=list)
    unlabelled: list[tuple[str, int, str]] = field(default_factory=list)


def normal(path: str) -> str:
    path = path.replace("\\", "/")
    return path[2:] if path.startswith("./") else path


def load_labels(set_dir: Path) -> list[RepoLabels]:
    repos: list[RepoLabels] = []
    for labels_file in sorted(set_dir.glob("labels_*.json")):
        data = json.loads(labels_file.read_text(encoding="utf-8"))
        for entry in data["repositories"]:
            bugs = []
            for number, bug in enumerate(entry.get("bugs", []), 1):
                places = {
                    (normal(p["file"]), int(p["line"]))
                    for p in [*bug.get("activation", []), *bug.get("loss", [])]
                }
                bugs.append(
                    Bug(
                        bug.get("id") or f"{entry['repo']}#{number}",
                        bug["kind"],
                        places,
                        list(bug.get("shapes", [])),
                        bug.get("confidence", "sure") == "sure",
                    )
                )
            traps = [
                Trap(trap["kind"], (normal(trap["file"]), int(trap["line"])))
                for trap in entry.get("traps", [])
            ]
            repos.append(
                RepoLabels(
                    entry["repo"],
                    entry["commit"],
                    list(entry.get("scan") or ["."]),
                    data.get("labeller", labels_file.stem),
                    bugs,
                    traps,
                )
            )
    return repos


def run_check(engine: Path, python: str, root: Path, scan: Sequence[str]) -> list[Any]:
    command = [python, "-m", "migrate", "check", *scan, "--select", SELECT]
    command += ["--output-format", "json", "--no-cache"]
    proc = subprocess.run(
        command,
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(engine)},
        timeout=900,
    )
    try:
        findings: list[Any] = json.loads(proc.stdout)["findings"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise RuntimeError((proc.stderr or proc.stdout)[-600:]) from exc
    return findings


def score_repo(labels: RepoLabels, findings: Iterable[tuple[str, int, str]]) -> RepoResult:
    result = RepoResult(labels)
    bug_places = {place for bug in labels.bugs for place in bug.places}
    for file, line, code in findings:
        if not code.startswith("MC2"):
            continue
        result.findings.append((file, line, code))
        place = (file, line)
        for bug in labels.bugs:
            if place in bug.places and (
                bug.ident not in result.found or code == EXPECTED_CODE.get(bug.kind)
            ):
                result.found[bug.ident] = code
        if place in bug_places:
            continue
        traps = [trap for trap in labels.traps if trap.place == place]
        if traps:
            result.trap_hits.extend((trap, code) for trap in traps)
        else:
            result.unlabelled.append((file, line, code))
    return result


def evaluate(labels: RepoLabels, mirrors: Path, engine: Path, python: str) -> RepoResult:
    git_dir = find_git_dir(mirrors, labels.slug)
    if git_dir is None:
        return RepoResult(labels, "missing", f"no fetched copy under {mirrors}")
    with tempfile.TemporaryDirectory(prefix="ml2mc_real_") as tmp:
        root = Path(tmp) / labels.slug.replace("/", "+")
        root.mkdir(parents=True)
        try:
            extract(git_dir, labels.commit, root)
            raw = run_check(engine, python, root, labels.scan)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            return RepoResult(labels, "error", str(exc).strip().splitlines()[-1][:300])
    findings = [(normal(f["file"]), int(f["line"]), str(f["code"])) for f in raw]
    return score_repo(labels, findings)


def ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "-"


def report(results: Sequence[RepoResult]) -> dict[str, Any]:
    bugs = [bug for r in results for bug in r.labels.bugs]
    found = {ident for r in results for ident in r.found}
    sure = [bug for bug in bugs if bug.sure]
    trap_count = sum(len(r.labels.traps) for r in results)
    trap_hits = sum(len(r.trap_hits) for r in results)
    matched_findings = sum(
        1
        for r in results
        for (file, line, _) in r.findings
        if any((file, line) in bug.places for bug in r.labels.bugs)
    )
    all_findings = sum(len(r.findings) for r in results)
    by_shape: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for bug in bugs:
        for shape in bug.shapes or ["(none)"]:
            by_shape[shape]["labelled"] += 1
            by_shape[shape]["found"] += bug.ident in found
        by_kind[bug.kind]["labelled"] += 1
        by_kind[bug.kind]["found"] += bug.ident in found
    return {
        "repositories": len(results),
        "errors": [f"{r.labels.slug}: {r.status}: {r.detail}" for r in results if r.status != "ok"],
        "bugs": len(bugs),
        "found": len(found),
        "recall": ratio(len(found), len(bugs)),
        "recall_sure": ratio(sum(b.ident in found for b in sure), len(sure)),
        "sure_bugs": len(sure),
        "traps": trap_count,
        "trap_hits": trap_hits,
        "findings": all_findings,
        "findings_on_bug_lines": matched_findings,
        "precision": ratio(matched_findings, all_findings),
        "other_code": sum(
            1
            for r in results
            for bug in r.labels.bugs
            if bug.ident in r.found and r.found[bug.ident] != EXPECTED_CODE.get(bug.kind)
        ),
        "by_shape": {k: dict(v) for k, v in sorted(by_shape.items())},
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "per_repository": [
            {
                "repo": r.labels.slug,
                "commit": r.labels.commit,
                "labeller": r.labels.labeller,
                "status": r.status,
                "bugs": len(r.labels.bugs),
                "found": len(r.found),
                "traps": len(r.labels.traps),
                "trap_hits": [
                    f"{t.place[0]}:{t.place[1]} {t.kind} ({code})" for t, code in r.trap_hits
                ],
                "missed": [
                    f"{b.ident} {b.kind} [{', '.join(b.shapes)}] "
                    + " ".join(f"{f}:{n}" for f, n in sorted(b.places))
                    for b in r.labels.bugs
                    if b.ident not in r.found
                ],
                "unlabelled": [f"{f}:{n} {c}" for f, n, c in r.unlabelled],
            }
            for r in results
        ],
    }


def print_report(summary: dict[str, Any]) -> None:
    print(f"{'repository':<52} {'bugs':>5} {'found':>6} {'traps':>6} {'hits':>5} {'other':>6}")
    for row in summary["per_repository"]:
        print(
            f"{row['repo']:<52} {row['bugs']:>5} {row['found']:>6} {row['traps']:>6} "
            f"{len(row['trap_hits']):>5} {len(row['unlabelled']):>6}"
            + ("" if row["status"] == "ok" else f"  {row['status']}")
        )
    print()
    for key in (
        "repositories",
        "bugs",
        "found",
        "recall",
        "sure_bugs",
        "recall_sure",
        "traps",
        "trap_hits",
        "findings",
        "findings_on_bug_lines",
        "precision",
        "other_code",
    ):
        print(f"{key}: {summary[key]}")
    print("\nrecall by shape (a bug counts under each of its shapes):")
    for shape, counts in summary["by_shape"].items():
        print(f"  {shape:<22} {counts.get('found', 0)}/{counts['labelled']}")
    print("recall by kind:")
    for kind, counts in summary["by_kind"].items():
        print(f"  {kind:<28} {counts.get('found', 0)}/{counts['labelled']}")
    for row in summary["per_repository"]:
        for title in ("missed", "trap_hits", "unlabelled"):
            for item in row[title]:
                print(f"{title}: {row['repo']}: {item}")
    for error in summary["errors"]:
        print(f"error: {error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set", help="a folder under benchmarks/real (set1, set2) or a path")
    parser.add_argument(
        "--mirrors", type=Path, default=Path(os.environ.get("ML2MC_MIRRORS", "/work/.mirror"))
    )
    parser.add_argument("--engine", type=Path, default=ROOT, help="an ml2mc checkout to run")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--repo", action="append", default=[], help="only these owner/name")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    set_dir = Path(args.set) if Path(args.set).is_dir() else HERE / args.set
    labels = [r for r in load_labels(set_dir) if not args.repo or r.slug in args.repo]
    results = [evaluate(r, args.mirrors, args.engine.resolve(), args.python) for r in labels]
    summary = report(results)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_report(summary)
    not_run = [r.labels.slug for r in results if r.status != "ok"]
    if not_run:
        # Their bugs count as not found above: the figures are not a measurement.
        print(
            f"not a measurement: {len(not_run)} repositories were not scored "
            f"({', '.join(not_run[:3])}{', ...' if len(not_run) > 3 else ''}); "
            "bring them with fetch.py first",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
