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

import sys

import pytest

from benchmarks.migrations import (
    CORRECT,
    MIGRATED,
    REFUSED,
    MigrationCase,
    case_sets,
    discover,
    load_known_verdicts,
    run_case,
)

CASES: list[tuple[MigrationCase, str | None]] = [
    (case, load_known_verdicts(case_set).get(case.name))
    for case_set in case_sets()
    for case in discover(case_set)
]


def test_the_fixture_projects_are_labelled() -> None:
    names = {case.id for case, _ in CASES}
    assert {"projects/example", "projects/image_backbone", "projects/text_hf"} <= names


@pytest.mark.parametrize(("case", "known"), CASES, ids=[case.id for case, _ in CASES])
def test_migration_verdict(case: MigrationCase, known: str | None) -> None:
    assert known is None or known not in CORRECT, "KNOWN_GAPS.toml lists a correct verdict"
    run = run_case(case, [sys.executable, "-m", "migrate"])
    expected = known or (MIGRATED if case.outcome == "migrate" else REFUSED)
    assert run.verdict == expected, (
        f"{run.verdict}: written {run.written}; refusals {run.refusals}; "
        f"{run.detail} {run.probe_output}"
    )
