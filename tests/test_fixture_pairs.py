"""Every `fixtures/<CODE>/<case>.input.py` becomes `<case>.expected.py`, byte for byte.

`pytest --update-fixtures` rewrites the expectations from the tool's output instead; review
them in the diff before keeping them.
"""

from __future__ import annotations

import pytest

from migrate.engine import check_source
from migrate.registry import all_rules
from migrate.rule import Applicability, Rule
from migrate.testing import FixturePair, fixture_pairs

PAIRS = fixture_pairs()


def _rules_for(code: str) -> list[Rule]:
    rules = [rule() for rule in all_rules() if rule.code == code]
    assert rules, f"fixtures/{code}/ names no known rule"
    return rules


def _read(pair: FixturePair) -> str:
    # newline="" keeps CRLF fixtures intact; the engine works on text, not bytes.
    with pair.input_path.open(encoding="utf-8", newline="") as stream:
        return stream.read()


def test_fixture_pairs_are_found() -> None:
    assert len([pair for pair in PAIRS if pair.code == "MC201"]) >= 3
    assert len({pair.id for pair in PAIRS}) == len(PAIRS)


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.id for pair in PAIRS])
def test_fixture_pair(pair: FixturePair, update_fixtures: bool) -> None:
    rules = _rules_for(pair.code)
    source = _read(pair)
    outcome = check_source(pair.input_path.name, source, rules, fix=Applicability.UNSAFE)
    produced = outcome.fixed.encode("utf-8")

    if update_fixtures:
        if not pair.expected_path.exists() or pair.expected_path.read_bytes() != produced:
            pair.expected_path.write_bytes(produced)
    else:
        assert pair.expected_path.exists(), (
            f"{pair.expected_path} is missing; run `pytest --update-fixtures` and review it"
        )
        expected = pair.expected_path.read_bytes()
        assert produced == expected, (
            f"{pair.id}: the fixed code differs from {pair.expected_path.name}\n"
            f"--- got ---\n{outcome.fixed}--- expected ---\n{expected.decode('utf-8')}"
        )

    compile(outcome.fixed, str(pair.expected_path), "exec")
    again = check_source(pair.expected_path.name, outcome.fixed, rules, fix=Applicability.UNSAFE)
    assert again.fixed == outcome.fixed, f"{pair.id}: a second run changed the code again"
    assert not any(v.code.startswith("MC0") for v in again.remaining), again.remaining


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.id for pair in PAIRS])
def test_fixture_input_is_reported(pair: FixturePair) -> None:
    """A fixture pair exists to show the rule at work: its input must produce a finding."""
    outcome = check_source(pair.input_path.name, _read(pair), _rules_for(pair.code))
    assert any(finding.violation.code == pair.code for finding in outcome.findings), (
        f"{pair.id}: {pair.code} reports nothing on the input"
    )
