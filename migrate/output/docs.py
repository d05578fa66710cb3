"""The rule reference, generated from each rule's docstring and inline examples.

`rule_page` is what `ml2mc explain CODE` renders; `rules_markdown` is `docs/rules.md`, the same
pages one heading level down under a catalogue table. After changing a rule's docstring or
examples, regenerate the file with `python -m migrate.output.docs` (a test fails while it is stale).
Pure: text in, text out; only `main` writes the file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from migrate.registry import all_rules
from migrate.rule import Invalid, Rule, Valid

# The project root is three levels up: migrate/output/docs.py.
RULES_MARKDOWN = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
GENERATED_NOTICE = (
    "<!-- Generated from the rules' docstrings and examples by `python -m migrate.output.docs`; "
    "do not edit by hand. -->"
)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


@dataclass(frozen=True)
class Diagnostic:
    """A finding about the run itself rather than the code (MC0xx): no rule class behind it."""

    code: str
    name: str
    summary: str
    documentation: str


TOOL_DIAGNOSTICS = (
    Diagnostic(
        "MC001",
        "unreadable-file",
        "A file could not be read, decoded or parsed",
        "The file is reported and skipped; the run goes on with the other files and exits 1. "
        "Causes: a syntax error, bytes that do not decode in the file's declared encoding, a "
        "permission error, a directory whose name ends in `.py`, or nesting deeper than the "
        "parser allows.",
    ),
    Diagnostic(
        "MC002",
        "internal-error",
        "A rule or a fix failed on a file",
        "A rule raised an error, or a fix produced code that does not parse (the fix is then "
        "not applied). The file's other findings are still reported and the run exits 1. "
        "Please report it with the file that triggers it.",
    ),
)


def diagnostic_by_code(code: str) -> Diagnostic | None:
    for item in TOOL_DIAGNOSTICS:
        if code.upper() == item.code or code == item.name:
            return item
    return None


def diagnostic_markdown(item: Diagnostic) -> str:
    return f"# {item.code} {item.name}\n\n{item.summary}. Tool diagnostic, no fix.\n\n" + (
        f"{item.documentation}\n"
    )


def rule_markdown(rule: type[Rule]) -> str:
    fix = rule.safety.value if rule.safety else "none"
    header = f"# {rule.code} {rule.name}\n\n{rule.summary}. Fix: {fix}."
    if not rule.default_enabled:
        header += " Opt-in: runs only when selected explicitly."
    return f"{header}\n\n{rule.documentation()}\n"


def rule_page(rule: type[Rule]) -> str:
    """One rule's documentation: the docstring under a header, then its tested examples."""
    page = rule_markdown(rule)
    examples = examples_markdown(rule)
    return f"{page}\n{examples}" if examples else page


def examples_markdown(rule: type[Rule]) -> str:
    """The rule's inline examples, which run as tests: reported ones first, then silent ones."""
    fixed = [e for e in rule.examples if isinstance(e, Invalid) and e.fixed is not None]
    unfixed = [e for e in rule.examples if isinstance(e, Invalid) and e.fixed is None]
    silent = [e for e in rule.examples if isinstance(e, Valid)]
    if not rule.examples:
        return ""
    parts = [
        "## Tested examples\n",
        "Each example runs as a test of the rule (`tests/test_rule_examples.py`).\n",
    ]
    for example in fixed:
        assert example.fixed_source is not None
        parts.append(f"**Reported and fixed**{_count(example)}: `{example.id}`\n")
        parts.append(_code_block(example.source))
        parts.append("becomes\n")
        parts.append(_code_block(example.fixed_source))
    for example in unfixed:
        parts.append(f"**Reported, no fix**{_count(example)}: `{example.id}`\n")
        parts.append(_code_block(example.source))
    for valid in silent:
        parts.append(f"**Not reported**: `{valid.id}`\n")
        parts.append(_code_block(valid.source))
    return "\n".join(parts)


def _count(example: Invalid) -> str:
    return f" ({example.count} findings)" if example.count != 1 else ""


def _code_block(source: str, language: str = "python") -> str:
    longest = max((len(run) for run in re.findall(r"`{3,}", source)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{source.rstrip(chr(10))}\n{fence}\n"


def demote_headings(markdown: str) -> str:
    """Every heading one level down (`#` -> `##`), leaving code blocks alone."""
    lines: list[str] = []
    fence: str | None = None
    for line in markdown.splitlines(keepends=True):
        match = _FENCE.match(line)
        if match is not None:
            marker = match.group(1)
            if fence is None:
                fence = marker
            elif line.strip() == marker and marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
        elif fence is None and line.startswith("#"):
            line = "#" + line
        lines.append(line)
    return "".join(lines)


def anchor(title: str) -> str:
    """The anchor GitHub gives a heading."""
    slug = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return slug.replace(" ", "-")


# How `migrate` applies the MC1xx fixes together (README.md, FAQ).
MIGRATION_UNITS = (
    "**Migration units.** `ml2mc migrate` does not apply the MC1xx fixes one by one: it plans "
    "them per *unit*, one model output with the losses it feeds, the readers of its "
    "probabilities and decisions, and the helpers that return it, and writes a unit whole or "
    "not at all. Before anything is written the planned tree is analysed again (the gate): a "
    "unit with a piece that could not be fixed, an activation/loss finding left in its planned "
    "code, a threshold on softmax probabilities, or evidence that no automatic rewrite is right "
    '(a single-column head, a BCE inside a user-written or `reduction="none"` loss, '
    "`pos_weight`, sigmoid soft targets, a loss chosen at run time, a file that is read-only or "
    "has uncommitted changes) is *refused*: every file of it keeps its bytes, and the report "
    "lists the refused units first with the blocking piece (`file:line`) and the reason. The "
    "files of a unit are written to temporary files first, then renamed together, with "
    "Ctrl-C held back during the renames: an interrupt leaves each unit fully applied or "
    "untouched.",
)


def rules_markdown(rules: Sequence[type[Rule]] | None = None) -> str:
    """The whole of `docs/rules.md`."""
    chosen = list(all_rules() if rules is None else rules)
    lines = [
        "# Rules",
        "",
        GENERATED_NOTICE,
        "",
        "`ml2mc explain CODE` prints the same page in the terminal. `MC1xx` rules migrate "
        "multi-label code to multi-class (`ml2mc migrate`); `MC2xx` rules find activation/loss "
        "bugs (`ml2mc check`); `MC0xx` are diagnostics about the run itself. A fix is *safe* "
        "when every value the code reads stays the same, *unsafe* when numerics or label "
        "semantics change (`check --fix` applies unsafe fixes only with `--unsafe-fixes`).",
        "",
        *MIGRATION_UNITS,
        "",
        "| code | name | summary | fix | default |",
        "|---|---|---|---|---|",
    ]
    for rule in chosen:
        fix = rule.safety.value if rule.safety else "none"
        default = "on" if rule.default_enabled else "opt-in"
        lines.append(_catalogue_row(rule.code, rule.name, rule.summary, fix, default))
    for item in TOOL_DIAGNOSTICS:
        lines.append(_catalogue_row(item.code, item.name, item.summary, "none", "always"))
    sections = [demote_headings(rule_page(rule)) for rule in chosen]
    sections.extend(demote_headings(diagnostic_markdown(item)) for item in TOOL_DIAGNOSTICS)
    return "\n".join(lines) + "\n\n" + "\n".join(sections)


def _catalogue_row(code: str, name: str, summary: str, fix: str, default: str) -> str:
    link = anchor(f"{code} {name}")
    return f"| [{code}](#{link}) | `{name}` | {summary} | {fix} | {default} |"


def main(argv: Iterable[str] | None = None) -> int:
    """`python -m migrate.output.docs [PATH]`: write the rule reference (default
    `docs/rules.md`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    target = Path(arguments[0]) if arguments else RULES_MARKDOWN
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(rules_markdown(), encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
