"""Opt-in rules (`default_enabled = False`) stay out of every default selection.

DESIGN.md: MC206 is "opt-in: not in the default selection; `--select MC206` or `MC2` turns it
on". `check` (default MC2xx) and `migrate` (default MC1xx + MC2xx) leave an opt-in rule out
unless it is selected explicitly, by its code or by a prefix; the registry's own defaults do
too. Each rule is run on the sources its own Invalid examples say it reports, so a run that
stays silent proves the rule was off, not that the source was harmless.

The rules checked are those the registry marks opt-in *and* the ones known to be opt-in today
(OPT_IN_TODAY): a flag dropped by mistake makes the rule run by default, and these tests fail
for it instead of quietly running on an empty list.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from migrate.pipeline import CHECK_DEFAULT, MIGRATE_DEFAULT
from migrate.registry import all_rules, rule_by_code, select_rules
from migrate.rule import Invalid

Cli = Callable[..., Result]

OPT_IN_TODAY = frozenset({"MC206"})
OPT_IN = frozenset(rule.code for rule in all_rules() if not rule.default_enabled)
CHECKED = sorted(OPT_IN | OPT_IN_TODAY)
# What `select_rules(None)` falls back to.
REGISTRY_DEFAULT = tuple(inspect.signature(select_rules).parameters["default"].default)
# Every selection a run makes when the user selects nothing. ("ALL",) is not a default of any
# command; it shows that even the widest default leaves an opt-in rule out.
DEFAULTS = {
    "registry": REGISTRY_DEFAULT,
    "check": CHECK_DEFAULT,
    "migrate": MIGRATE_DEFAULT,
    "all": ("ALL",),
}


def _family(code: str) -> str:
    """The prefix of the rule's family: MC206 -> MC2."""
    return code[:3]


def _examples() -> list[Any]:
    """(code, Invalid example) for each checked rule's Invalid examples."""
    cases: list[Any] = []
    for code in CHECKED:
        rule = rule_by_code(code)
        invalid = [] if rule is None else [e for e in rule.examples if isinstance(e, Invalid)]
        if not invalid:
            # A vanished rule or one without an Invalid example fails, never drops out.
            cases.append(pytest.param(code, None, id=f"{code}-missing"))
        cases.extend(pytest.param(code, example, id=f"{code}-{example.id}") for example in invalid)
    return cases


EXAMPLES = _examples()


def _run(cli: Cli, project: Path, example: Invalid | None, *args: str) -> dict[str, Any]:
    """Write the example into the project and run `ml2mc ARGS --output-format json` on it."""
    assert example is not None, "the rule (or an Invalid example of it) is missing"
    (project / "example.py").write_text(example.source)
    result = cli(*args, "--output-format", "json", "example.py")
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    # The run looked at the example: silence below is the rule's, not an empty run's.
    assert data["summary"]["files_scanned"] == 1, data
    assert data["summary"]["errors"] == 0, data
    return data


def _count(data: dict[str, Any], code: str) -> int:
    return sum(1 for finding in data["findings"] if finding["code"] == code)


# ---------------------------------------------------------------------------------------------
# The registry


def test_opt_in_rules_are_exactly_the_known_ones() -> None:
    # A rule that lost its `default_enabled = False` (or a new opt-in rule) shows up here;
    # update OPT_IN_TODAY, DESIGN.md and the README's rule table together.
    assert OPT_IN == OPT_IN_TODAY


@pytest.mark.parametrize("code", CHECKED)
def test_registry_defaults_leave_out_opt_in_rule(code: str) -> None:
    for label, default in DEFAULTS.items():
        chosen = {rule.code for rule in select_rules(None, default=default)}
        assert code not in chosen, f"{code} runs under the {label} default {default}"
    # The registry's own default, called as the pipeline does when nothing is configured.
    assert code not in {rule.code for rule in select_rules(None)}


@pytest.mark.parametrize("code", CHECKED)
def test_registry_explicit_selection_turns_opt_in_rule_on(code: str) -> None:
    for select in ([code], [code.lower()], [_family(code)], ["ALL"]):
        for default in DEFAULTS.values():
            chosen = {rule.code for rule in select_rules(select, default=default)}
            assert code in chosen, f"--select {','.join(select)} leaves {code} out"
    assert code not in {rule.code for rule in select_rules([code], ignore=[code])}


# ---------------------------------------------------------------------------------------------
# `ml2mc check`


@pytest.mark.parametrize(("code", "example"), EXAMPLES)
def test_default_check_does_not_report_opt_in_rule(
    code: str, example: Invalid | None, project: Path, cli: Cli
) -> None:
    data = _run(cli, project, example, "check")
    assert _count(data, code) == 0, data["findings"]


@pytest.mark.parametrize(("code", "example"), EXAMPLES)
@pytest.mark.parametrize("how", ["code", "family"])
def test_check_select_reports_opt_in_rule(
    code: str, example: Invalid | None, how: str, project: Path, cli: Cli
) -> None:
    selection = code if how == "code" else _family(code)
    data = _run(cli, project, example, "check", "--select", selection)
    assert example is not None
    assert _count(data, code) == example.count, data["findings"]


# ---------------------------------------------------------------------------------------------
# `ml2mc migrate`: its default (MC1 + MC2) leaves opt-in rules out as well; DESIGN.md names no
# exception, and an opt-in fix (MC206: BCELoss -> BCEWithLogitsLoss) is not a migration step.


@pytest.mark.parametrize(("code", "example"), EXAMPLES)
def test_default_migrate_does_not_report_opt_in_rule(
    code: str, example: Invalid | None, project: Path, cli: Cli
) -> None:
    data = _run(cli, project, example, "migrate", "--no-verify")
    assert _count(data, code) == 0, data["findings"]


@pytest.mark.parametrize(("code", "example"), EXAMPLES)
@pytest.mark.parametrize("how", ["code", "family"])
def test_migrate_select_reports_opt_in_rule(
    code: str, example: Invalid | None, how: str, project: Path, cli: Cli
) -> None:
    selection = code if how == "code" else _family(code)
    data = _run(cli, project, example, "migrate", "--no-verify", "--select", selection)
    assert example is not None
    assert _count(data, code) == example.count, data["findings"]
