"""Harness shared by the tests: run a rule's inline examples and the fixture pairs."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from migrate.engine import analyze, check_source
from migrate.registry import all_rules
from migrate.rule import Applicability, Invalid, Rule, Valid

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class ExampleCase:
    rule: type[Rule]
    example: Valid | Invalid

    @property
    def id(self) -> str:
        verdict = "valid" if isinstance(self.example, Valid) else "invalid"
        return f"{self.rule.code}-{verdict}-{self.example.id}"


def example_cases() -> list[ExampleCase]:
    return [ExampleCase(rule, example) for rule in all_rules() for example in rule.examples]


def run_example(case: ExampleCase) -> None:
    """Raise AssertionError with a readable message when the example does not hold."""
    rule = case.rule()
    source = case.example.source
    found = [v for v in analyze("example.py", source, [rule]) if v.code == rule.code]
    if isinstance(case.example, Valid):
        assert not found, f"{case.id}: expected no finding, got {[v.message for v in found]}"
        return
    assert len(found) == case.example.count, (
        f"{case.id}: expected {case.example.count} finding(s), got {len(found)}: "
        f"{[v.message for v in found]}"
    )
    expected_fix = case.example.fixed_source
    if expected_fix is None:
        assert all(v.fix is None for v in found), f"{case.id}: a fix was offered but none expected"
        return
    outcome = check_source("example.py", source, [rule], fix=Applicability.UNSAFE)
    assert outcome.fixed == expected_fix, (
        f"{case.id}: fixed source differs\n--- got ---\n{outcome.fixed}--- expected ---\n"
        f"{expected_fix}"
    )
    again = check_source("example.py", outcome.fixed, [rule], fix=Applicability.UNSAFE)
    assert again.fixed == outcome.fixed, f"{case.id}: a second fix run changed the code again"


@dataclass(frozen=True)
class FixturePair:
    code: str
    name: str
    input_path: Path
    expected_path: Path

    @property
    def id(self) -> str:
        return f"{self.code}/{self.name}"


def fixture_pairs() -> list[FixturePair]:
    pairs: list[FixturePair] = []
    for input_path in sorted(FIXTURES.glob("MC*/*.input.py")):
        name = input_path.name[: -len(".input.py")]
        expected = input_path.with_name(f"{name}.expected.py")
        pairs.append(FixturePair(input_path.parent.name, name, input_path, expected))
    return pairs


def calls_named(tree: ast.Module, name: str) -> list[ast.Call]:
    """The calls of the bare name `name`, outermost first, in source order (for test rules)."""
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]
    return sorted(found, key=lambda node: (node.lineno, node.col_offset))
