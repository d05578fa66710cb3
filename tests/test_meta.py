"""Every rule keeps its contract: identity, texts, documentation, examples, fix safety."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from migrate.registry import all_rules
from migrate.rule import DOC_SECTIONS, Applicability, Invalid, Rule, Valid

RULES = all_rules()
RULE_IDS = [rule.code for rule in RULES]
REQUIRED_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")
KEBAB_CASE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def test_rules_are_discovered() -> None:
    assert "MC201" in RULE_IDS


def test_codes_are_unique() -> None:
    duplicates = [code for code, count in Counter(RULE_IDS).items() if count > 1]
    assert not duplicates


def test_names_are_unique() -> None:
    duplicates = [name for name, count in Counter(r.name for r in RULES).items() if count > 1]
    assert not duplicates


def test_required_sections_are_the_documented_ones() -> None:
    assert set(REQUIRED_SECTIONS) <= set(DOC_SECTIONS)


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_identity(rule: type[Rule]) -> None:
    assert re.fullmatch(r"MC[0-9]{3}", rule.code), rule.code
    assert not rule.code.startswith("MC0"), "MC0xx is reserved for tool diagnostics"
    assert KEBAB_CASE.fullmatch(rule.name), rule.name


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_texts(rule: type[Rule]) -> None:
    assert rule.summary.strip(), "a one-line summary"
    assert "\n" not in rule.summary.strip()
    assert rule.message.strip(), "a message that says what is wrong"
    if rule.safety is not None:
        assert rule.fix_title, "a fixable rule says what its fix does"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_docstring_sections(rule: type[Rule]) -> None:
    documentation = rule.documentation()
    headings = re.findall(r"^## (.+?)\s*$", documentation, flags=re.MULTILINE)
    missing = [section for section in REQUIRED_SECTIONS if section not in headings]
    assert not missing, f"{rule.code} lacks the docstring section(s) {missing}"
    for section in REQUIRED_SECTIONS:
        body = documentation.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
        assert body.strip(), f"{rule.code}: section {section!r} is empty"
    order = [headings.index(section) for section in REQUIRED_SECTIONS]
    assert order == sorted(order), f"{rule.code}: sections out of order: {headings}"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_examples(rule: type[Rule]) -> None:
    valid = [example for example in rule.examples if isinstance(example, Valid)]
    invalid = [example for example in rule.examples if isinstance(example, Invalid)]
    assert valid, f"{rule.code} needs at least one Valid example"
    assert invalid, f"{rule.code} needs at least one Invalid example"
    ids = Counter(example.id for example in rule.examples)
    duplicates = [example_id for example_id, count in ids.items() if count > 1]
    assert not duplicates, f"{rule.code}: duplicate example ids {duplicates}"
    for example in rule.examples:
        assert example.id.strip(), f"{rule.code}: an example without an id"
        compile(example.source, f"{rule.code}-{example.id}", "exec")
        if isinstance(example, Invalid) and example.fixed_source is not None:
            compile(example.fixed_source, f"{rule.code}-{example.id}-fixed", "exec")


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_fixable_agrees_with_safety(rule: type[Rule]) -> None:
    fixed_examples = [e for e in rule.examples if isinstance(e, Invalid) and e.fixed is not None]
    if rule.safety is None:
        assert not fixed_examples, f"{rule.code} has no fix but shows a fixed example"
        assert not rule.fixable()
    else:
        assert isinstance(rule.safety, Applicability)
        assert fixed_examples, f"{rule.code} has a fix but no example shows it"
        assert rule.fixable()


def test_rule_modules_do_not_import_torch() -> None:
    """Importing every rule (and the engine they run in) must not load torch."""
    program = (
        "import json, sys\n"
        "from migrate.registry import all_rules\n"
        "import migrate.engine, migrate.pipeline, migrate.cli\n"
        "rules = all_rules()\n"
        "print(json.dumps({'rules': [r.code for r in rules],\n"
        "                  'torch': sorted(m for m in sys.modules\n"
        "                                  if m == 'torch' or m.startswith('torch.'))}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(completed.stdout)
    assert sorted(loaded["rules"]) == sorted(RULE_IDS)
    assert loaded["torch"] == [], f"torch was imported: {loaded['torch'][:5]}"


def test_every_named_mutant_still_applies() -> None:
    # benchmarks/mutants.py edits the engine by exact text; an anchor that moved away makes a
    # mutant silently test nothing (two had rotted before the analysis moved to `ast`).
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import mutants
    finally:
        sys.path.remove(str(root / "benchmarks"))
    stale = [
        mutant.name
        for mutant in mutants.MUTANTS
        if (root / mutant.file).read_text(encoding="utf-8").count(mutant.old) != 1
    ]
    assert mutants.MUTANTS and stale == []
