"""Migrations are scored: every labelled migration case gets the verdict it is labelled with.

`benchmarks/migrations.py` runs `ml2mc migrate --write` on a fresh copy of each case and
judges the written tree with the case's own torch probe (or its exact `after/` tree): a
migrate case must end `migrated` (every unit rewritten whole and correct), a refuse case
`refused` (nothing written, the refusal reported). A blind batch's first run is recorded in
`benchmarks/README.md`, and the verdicts it got wrong are listed in its `KNOWN_GAPS.toml`;
this test holds the tool to exactly those, so a regression fails and a fixed case whose gap
is still listed fails too (delete the entry).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.migrations import (
    CORRECT,
    EXPECTED_VERDICT,
    MigrationCase,
    MigrationRun,
    case_sets,
    discover,
    load_known_verdicts,
    run_case,
)

CASES = [case for case_set in case_sets() for case in discover(case_set)]
KNOWN = {case.id: load_known_verdicts(case.path.parent).get(case.name) for case in CASES}


@pytest.fixture(scope="module")
def runs() -> dict[str, MigrationRun]:
    """Every case migrated once, a case per core (each run is a child process, and the probes
    that judge them spend most of their time importing torch)."""
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = pool.map(lambda case: run_case(case, [sys.executable, "-m", "migrate"]), CASES)
        return {run.case.id: run for run in done}


def test_the_fixture_projects_are_labelled() -> None:
    names = {case.id for case in CASES}
    assert {"projects/example", "projects/image_backbone", "projects/text_hf"} <= names


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_migration_verdict(case: MigrationCase, runs: dict[str, MigrationRun]) -> None:
    known = KNOWN[case.id]
    assert known is None or known not in CORRECT, "KNOWN_GAPS.toml lists a correct verdict"
    run = runs[case.id]
    expected = known or EXPECTED_VERDICT[case.outcome]
    assert run.verdict == expected, (
        f"{run.verdict}: written {run.written}; refusals {run.refusals}; "
        f"{run.detail} {run.probe_output}"
    )
