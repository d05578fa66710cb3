"""Labels are tests: every labelled case set is checked exactly, case by case.

Each case's `# expect:` labels must be reported exactly (same file, line and code), nothing
unlabelled may be reported, and a trap must stay silent. The sets are `fixtures/cases`,
`fixtures/cases_heldout` and every blind batch under `fixtures/blind/` (its `before/` trees).
A blind batch's first run is recorded in `benchmarks/README.md`; the gaps it showed are listed
in the batch's `KNOWN_GAPS.toml`, and this test holds the tool to exactly those gaps: a new
miss fails, and so does a gap that is closed but still listed (delete its entry).

The run is the CLI's own (`check --select MC2 --output-format json`, in-process), read by the
same code as `benchmarks/precision_recall.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.precision_recall import (
    REPO_ROOT,
    Case,
    Key,
    KnownGaps,
    check_arguments,
    discover_cases,
    load_known_gaps,
    read_output,
)
from migrate.cli import app

FIXTURES = REPO_ROOT / "fixtures"
BLIND = FIXTURES / "blind"


def _case_sets() -> list[Path]:
    blind = sorted(p for p in BLIND.iterdir() if p.is_dir()) if BLIND.is_dir() else []
    return [FIXTURES / "cases", FIXTURES / "cases_heldout", *blind]


def _all_cases() -> list[tuple[Case, KnownGaps]]:
    found: list[tuple[Case, KnownGaps]] = []
    for case_set in _case_sets():
        gaps = load_known_gaps(case_set)
        found.extend(
            (case, gaps.get(case.name, KnownGaps()))
            for case in discover_cases(case_set, [])
            # A migration case (scored by tests/test_migrations.py) and a verify case
            # (`benchmarks/verify_blind.py`) carry no detection labels.
            if not (case.path / "expected.toml").is_file()
            and not (case.path / "case.toml").is_file()
        )
    return found


CASES = _all_cases()


def _case_id(case: Case) -> str:
    return f"{case.path.parent.name}/{case.name}"


def _keys(keys: set[Key] | frozenset[Key]) -> str:
    return ", ".join(f"{key.where()} {key.code}" for key in sorted(keys)) or "nothing"


def test_every_case_set_is_found() -> None:
    names = {case.path.parent.name for case, _ in CASES}
    assert {"cases", "cases_heldout"} <= names
    assert len(CASES) >= 110, "labelled cases went missing"
    assert sum(case.is_trap for case, _ in CASES) >= 30, "traps went missing"


@pytest.mark.parametrize(("case", "gaps"), CASES, ids=[_case_id(case) for case, _ in CASES])
def test_case_labels_hold_exactly(
    case: Case, gaps: KnownGaps, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not case.problems, case.problems
    assert gaps.missed <= case.labels, "KNOWN_GAPS.toml lists a miss that is not a label"
    assert not gaps.unlabelled & case.labels, "KNOWN_GAPS.toml lists a label as unlabelled"
    monkeypatch.chdir(REPO_ROOT)
    result = CliRunner().invoke(app, check_arguments(case), catch_exceptions=False)
    run = read_output(case, result.exit_code, result.stdout, result.stderr)
    assert run.cli_error is None, run.cli_error
    assert not run.diagnostics, [
        f"{d.key.where()} {d.key.code} {d.message}" for d in run.diagnostics
    ]
    assert not run.warnings, run.warnings
    expected = (case.labels - gaps.missed) | gaps.unlabelled
    found = run.found
    assert found == expected, (
        f"missed: {_keys(expected - found)}; unlabelled: {_keys(found - expected)}"
        + (" (a trap must stay silent)" if case.is_trap else "")
    )
