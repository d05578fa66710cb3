"""Find the rules by walking the `rules` package, and choose them by `--select` / `--ignore`.

Adding a file to `rules/` registers its rule: there is no list to keep by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from functools import cache

import rules as rules_package
from migrate.rule import Rule


@cache
def all_rules() -> tuple[type[Rule], ...]:
    found: list[type[Rule]] = []
    for module_info in pkgutil.iter_modules(rules_package.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rules.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return tuple(sorted(found, key=lambda rule: rule.code))


def rule_by_code(code: str) -> type[Rule] | None:
    for rule in all_rules():
        if rule.code == code.upper() or rule.name == code:
            return rule
    return None


def matches(code: str, prefixes: Iterable[str]) -> bool:
    return any(prefix.upper() == "ALL" or code.startswith(prefix.upper()) for prefix in prefixes)


def select_rules(
    select: Iterable[str] | None, ignore: Iterable[str] = (), default: Iterable[str] = ("MC2",)
) -> list[Rule]:
    """Rules whose code starts with a selected prefix and with no ignored prefix.

    Opt-in rules (`default_enabled = False`) run only when selected by their own full code or a
    prefix that is not the default selection.
    """
    explicit = list(select) if select is not None else None
    prefixes = explicit if explicit is not None else list(default)
    chosen: list[Rule] = []
    for rule in all_rules():
        if not matches(rule.code, prefixes) or matches(rule.code, ignore):
            continue
        if not rule.default_enabled and explicit is None:
            continue
        chosen.append(rule())
    return chosen


def selected_by_default(default: Iterable[str]) -> frozenset[str]:
    """The codes a command runs without `--select` or a configured `select`: its default
    prefixes, opt-in rules left out."""
    return frozenset(rule.code for rule in select_rules(None, (), default))


def known_prefix(prefix: str) -> bool:
    upper = prefix.upper()
    return (
        upper == "ALL"
        or any(rule.code.startswith(upper) for rule in all_rules())
        or ("MC0".startswith(upper) or upper.startswith("MC0"))
    )


# The groups `--select` and `--ignore` take besides single codes, as shell completion offers them.
PREFIX_GROUPS = {
    "ALL": "every rule, opt-in ones included",
    "MC1": "multi-label code a migration rewrites",
    "MC2": "activation/loss bugs (the default of check)",
}


def code_completions(incomplete: str, prefixes: bool = True) -> list[tuple[str, str]]:
    """Rule codes (and, with `prefixes`, the groups above) that start with `incomplete`, each with
    what it names: the candidates a shell offers after `explain` or in `--select MC2`.

    In a comma-separated list (`--select MC201,MC1`) only the last item is completed."""
    done, _, last = incomplete.rpartition(",")
    lead = f"{done}," if done else ""
    candidates = [(rule.code, rule.name) for rule in all_rules()]
    if prefixes:
        candidates = [*PREFIX_GROUPS.items(), *candidates]
    return [
        (lead + code, description)
        for code, description in candidates
        if code.startswith(last.upper())
    ]
