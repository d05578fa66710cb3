"""Source in, findings and fixed source out. Pure: no files, no printing, no torch.

Fixes are applied in passes: each pass applies every fix whose edits do not overlap an
earlier one, re-parses, and runs the rules again, until nothing is left to fix. A fix that
overlaps another is not dropped: it is planned again on the next pass's source.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst

from migrate.facts import ModuleFacts
from migrate.names import TRIGGER_WORDS
from migrate.rule import Applicability, Edit, Fix, ModelRelation, Rule, Span, Violation

MAX_PASSES = 10
_FILE_NOQA = re.compile(r"#\s*ml2mc:\s*noqa\b", re.IGNORECASE)
_LINE_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_START = Span(1, 1, 1, 1)


@dataclass(frozen=True)
class Finding:
    violation: Violation
    fixed: bool = False


@dataclass
class FileOutcome:
    path: str
    original: str
    fixed: str
    findings: list[Finding] = field(default_factory=list)
    # What is still reported after the fixes were applied (equals the findings when not fixing).
    remaining: list[Violation] = field(default_factory=list)
    model_relations: list[ModelRelation] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original


def might_match(source: str) -> bool:
    """Cheap token test: a file that names no activation or loss cannot produce a finding."""
    return any(word in source for word in TRIGGER_WORDS)


def diagnostic(code: str, message: str, span: Span = _START) -> Violation:
    name = "unreadable-file" if code == "MC001" else "internal-error"
    return Violation(code=code, name=name, message=message, span=span)


def analyze(path: str, source: str, rules: Iterable[Rule]) -> list[Violation]:
    """The findings of the rules on one module (MC001/MC002 for a file that cannot be analyzed)."""
    rule_list = list(rules)
    if not rule_list or not might_match(source) or _FILE_NOQA.search(source):
        return []
    try:
        facts = ModuleFacts(path, source)
    except cst.ParserSyntaxError as error:
        span = Span(error.raw_line, error.raw_column + 1, error.raw_line, error.raw_column + 1)
        message = f"cannot parse: {error.message} (line {error.raw_line})"
        return [diagnostic("MC001", message, span)]
    except RecursionError:
        return [diagnostic("MC001", "cannot parse: the file nests deeper than the parser allows")]
    violations: list[Violation] = []
    for rule in rule_list:
        try:
            violations.extend(rule.check(facts))
        except RecursionError:
            violations.append(diagnostic("MC002", f"{rule.code} gave up: nesting too deep"))
        except Exception as error:  # a rule bug must not stop the run or lose other findings
            where = traceback.extract_tb(error.__traceback__)[-1]
            message = (
                f"internal error in {rule.code}: {type(error).__name__}: {error} "
                f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); please report it"
            )
            violations.append(diagnostic("MC002", message))
    kept = [v for v in violations if not _suppressed(facts, v)]
    return sorted(_unique(kept), key=lambda v: (v.span, v.code))


def check_source(
    path: str, source: str, rules: Iterable[Rule], fix: Applicability | None = None
) -> FileOutcome:
    """Analyze one module and, when `fix` is set, apply the fixes up to that applicability."""
    rule_list = list(rules)
    violations = analyze(path, source, rule_list)
    outcome = FileOutcome(path, source, source)
    if fix is None:
        outcome.findings = [Finding(v) for v in violations]
        outcome.remaining = violations
        return outcome
    current_source, current = source, violations
    applied_first_pass: set[int] = set()
    for pass_number in range(MAX_PASSES):
        chosen = _choose_fixes(current, fix)
        if not chosen:
            break
        edits = [edit for violation in chosen for edit in _fix_of(violation).edits]
        candidate = apply_edits(current_source, edits)
        if _parses(candidate) is False:
            # A fix that breaks the syntax is a bug of ours: keep the last good source.
            current.append(diagnostic("MC002", "a fix produced invalid code; it was not applied"))
            break
        if pass_number == 0:
            applied_first_pass = {id(violation) for violation in chosen}
        for violation in chosen:
            outcome.model_relations.extend(_fix_of(violation).model_relations)
        current_source = candidate
        current = analyze(path, current_source, rule_list)
    outcome.fixed = current_source
    outcome.findings = [Finding(v, id(v) in applied_first_pass) for v in violations]
    outcome.remaining = current
    return outcome


def apply_edits(source: str, edits: Iterable[Edit]) -> str:
    pieces: list[str] = []
    position = 0
    for edit in sorted(edits):
        pieces.append(source[position : edit.start])
        pieces.append(edit.replacement)
        position = edit.end
    pieces.append(source[position:])
    return "".join(pieces)


def _fix_of(violation: Violation) -> Fix:
    assert violation.fix is not None
    return violation.fix


def _choose_fixes(violations: list[Violation], allowed: Applicability) -> list[Violation]:
    """Fixes whose edits overlap no fix chosen before them; the rest wait for the next pass."""
    chosen: list[Violation] = []
    taken: list[Edit] = []
    for violation in violations:
        fix = violation.fix
        if fix is None or not fix.edits:
            continue
        if allowed is Applicability.SAFE and fix.applicability is not Applicability.SAFE:
            continue
        if any(_overlaps(edit, other) for edit in fix.edits for other in taken):
            continue
        if any(_overlaps(a, b) for i, a in enumerate(fix.edits) for b in fix.edits[i + 1 :]):
            continue
        chosen.append(violation)
        taken.extend(fix.edits)
    return chosen


def _overlaps(first: Edit, second: Edit) -> bool:
    if first.start == first.end or second.start == second.end:
        return first.start == second.start or (
            first.start < second.start < first.end or second.start < first.start < second.end
        )
    return first.start < second.end and second.start < first.end


def _parses(source: str) -> bool:
    try:
        cst.parse_module(source)
    except (cst.ParserSyntaxError, RecursionError):
        return False
    return True


def _suppressed(facts: ModuleFacts, violation: Violation) -> bool:
    match = _LINE_NOQA.search(facts.line_text(violation.span.line))
    if match is None:
        return False
    codes = match.group("codes")
    if codes is None:
        return True
    return violation.code in {code.upper() for code in re.split(r"[\s,]+", codes)}


def _unique(violations: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, Span]] = set()
    unique: list[Violation] = []
    for violation in violations:
        key = (violation.code, violation.span)
        if key not in seen:
            seen.add(key)
            unique.append(violation)
    return unique
