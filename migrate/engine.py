"""Source in, findings and fixed source out. Pure: no files, no printing, no torch.

Fixes are applied in passes: each pass applies every fix whose edits do not overlap an
earlier one, re-parses, and runs the rules again, until nothing is left to fix. A fix that
overlaps another is not dropped: it is planned again on the next pass's source.
"""

from __future__ import annotations

import ast
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from migrate.analysis.facts import ModuleFacts, line_starts
from migrate.analysis.index import ProjectIndex
from migrate.analysis.interpreter import LogProbs, Mixture, ModuleFlow, Probs, refine_parameters
from migrate.analysis.names import might_match
from migrate.findings import FileOutcome, Finding
from migrate.interrupts import find_interrupt
from migrate.registry import matches
from migrate.rule import Applicability, Edit, Fix, Rule, Span, Violation

MAX_PASSES = 10
_FILE_NOQA = re.compile(r"#\s*ml2mc:\s*noqa\b", re.IGNORECASE)
_LINE_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_START = Span(1, 1, 1, 1)


def diagnostic(code: str, message: str, span: Span = _START) -> Violation:
    name = "unreadable-file" if code == "MC001" else "internal-error"
    return Violation(code=code, name=name, message=message, span=span)


@dataclass(frozen=True)
class ModuleInput:
    """One file of a run: its source and the dotted module name it is imported as."""

    source: str
    module_name: str = "__main__"
    # Codes or prefixes not to run on this file (per-file-ignores).
    ignored: tuple[str, ...] = ()
    # False when the file cannot be written: no fix may edit it, so a fix that spans files
    # is applied everywhere or nowhere.
    writable: bool = True
    # The file's `ast`, when the run parsed it already (it is parsed once per run).
    tree: ast.Module | None = None


class Context(Protocol):
    """Modules outside the run's selection, found by module name when a flow reaches them.
    Their own rules are not run; they are never edited."""

    def find(self, module_name: str) -> tuple[str, ModuleInput] | None:
        """The display path and input of the module, or None when the run has no such file."""
        ...

    def importers_of(self, module_name: str) -> list[str]:
        """The modules that import it, a few imports back (where its readers may be)."""
        ...

    def canonical(self, module_name: str) -> str | None:
        """The module a dotted path names when it is not a module name (a namespace
        package: `src.models.train` for the module `train`), or None."""
        ...


def analyze(path: str, source: str, rules: Iterable[Rule]) -> list[Violation]:
    """The findings of the rules on one module on its own."""
    if not might_match(source):
        return []
    return analyze_project({path: ModuleInput(source)}, list(rules))[path]


def analyze_project(
    modules: dict[str, ModuleInput],
    rules: list[Rule],
    data_dependent_fixes: bool = False,
    context: Context | None = None,
    loaded: dict[str, ModuleInput] | None = None,
    parameter_sites: dict[str, set[str]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[Violation]]:
    """The findings of the rules on every module, each seeing the others through the index.

    Modules of the `context` are read when a flow reaches them; a finding that starts in one
    is reported there, and its input is put in `loaded`. `parameter_sites` receives, per
    module, the functions whose callers decide what reaches a loss (see the interpreter)."""

    def load(module_name: str) -> ModuleFacts | None:
        found = context.find(module_name) if context is not None else None
        if found is None or found[0] in modules:
            return None  # in the run already (unparsable, or `# ml2mc: noqa`): not read
        path, module = found
        tree = parse_python(module.source)
        if isinstance(tree, Violation):
            return None
        if loaded is not None:
            loaded[path] = module
        return ModuleFacts(
            path, module.source, module.module_name, index, data_dependent_fixes, tree=tree
        )

    index = ProjectIndex(
        load if context is not None else None,
        context.importers_of if context is not None else None,
        context.canonical if context is not None else None,
    )
    results: dict[str, list[Violation]] = {path: [] for path in modules}
    facts_by_path: dict[str, ModuleFacts] = {}
    for path, module in modules.items():
        if not rules or _FILE_NOQA.search(module.source):
            continue
        tree = module.tree if module.tree is not None else parse_python(module.source)
        if isinstance(tree, Violation):
            results[path] = [tree]
            continue
        facts = ModuleFacts(
            path, module.source, module.module_name, index, data_dependent_fixes, tree=tree
        )
        index.add(facts)
        facts_by_path[path] = facts
    flows = []
    for number, facts in enumerate(facts_by_path.values(), start=1):
        flows.append(facts.flow)  # interpreting: most of a run's time
        if progress is not None:
            progress(number, len(facts_by_path))
    # Modules read on demand take part too: a training engine that names no loss itself
    # (`loss_fn(scores, y)`) learns its criterion from its callers.
    refine_parameters(_all_flows(flows, index))
    if parameter_sites is not None:
        for path, facts in facts_by_path.items():
            if facts.flow.parameter_sites:
                parameter_sites[path] = set(facts.flow.parameter_sites)
    reported: dict[str, list[Violation]] = {path: [] for path in facts_by_path}

    def owner_of(violation: Violation, path: str) -> str | None:
        """A finding that starts in another file is reported there."""
        if violation.path in reported:
            return violation.path
        if violation.path is not None and violation.path in index.loaded and loaded is not None:
            reported[violation.path] = []
            facts_by_path[violation.path] = index.loaded[violation.path]
            return violation.path
        return path if path in reported else None

    in_run = list(facts_by_path.items())
    for path, facts in in_run:
        ignored = modules[path].ignored
        file_rules = [rule for rule in rules if not matches(rule.code, ignored)]
        for violation in _run_rules(facts, file_rules):
            owner = owner_of(violation, path)
            assert owner is not None
            reported[owner].append(violation)
    for path, facts in list(index.loaded.items()):
        if path in dict(in_run) or not _reaches_a_loss(facts):
            continue
        # A loss in a module read on demand (a training engine that names no loss itself):
        # reported at the activation, without a fix, since a fix never edits a module the
        # run only reads.
        reason = f"the loss is in {path}, a module this run only reads"
        for violation in _run_rules(facts, [rule for rule in rules if rule.code[:3] == "MC2"]):
            owner = owner_of(violation, path) if violation.path != path else None
            if owner is not None and owner != path:
                reported[owner].append(replace(violation, fix=None, no_fix_reason=reason))
    for path, violations in reported.items():
        facts = facts_by_path[path]
        ignored = modules[path].ignored if path in modules else loaded_ignores(loaded, path)
        kept = [v for v in violations if not _suppressed(facts, v) and not matches(v.code, ignored)]
        results[path] = sorted(_unique(kept), key=lambda v: (v.span, v.code))
    return results


def _all_flows(flows: list[ModuleFlow], index: ProjectIndex) -> list[ModuleFlow]:
    known = {id(flow) for flow in flows}
    extra = [facts.uninterpreted_flow for facts in index.loaded.values()]
    return [*flows, *(flow for flow in extra if id(flow) not in known)]


def _reaches_a_loss(facts: ModuleFacts) -> bool:
    """Whether a module read on demand feeds an activation's output to a loss."""
    flow = facts.uninterpreted_flow
    return bool(flow.logs_of_probs) or any(
        isinstance(use.input_kind, (Probs, LogProbs, Mixture)) for use in flow.loss_uses
    )


def loaded_ignores(loaded: dict[str, ModuleInput] | None, path: str) -> tuple[str, ...]:
    module = loaded.get(path) if loaded is not None else None
    return module.ignored if module is not None else ()


def parse_python(source: str) -> ast.Module | Violation:
    """The module's `ast`, or MC001 saying why CPython cannot parse it."""
    try:
        return ast.parse(source)
    except SyntaxError as error:
        line = error.lineno or 1
        column = error.offset or 1
        message = f"cannot parse: {error.msg} (line {line})"
        return diagnostic("MC001", message, Span(line, column, line, column))
    except (RecursionError, MemoryError, ValueError) as error:
        return diagnostic("MC001", f"cannot parse: {type(error).__name__}: {error}")


def _run_rules(facts: ModuleFacts, rules: list[Rule]) -> list[Violation]:
    violations: list[Violation] = []
    for rule in rules:
        try:
            violations.extend(rule.check(facts))
        except RecursionError:
            violations.append(diagnostic("MC002", f"{rule.code} gave up: nesting too deep"))
        except Exception as error:  # a rule bug must not stop the run or lose other findings
            reraise_interrupt(error)
            where = traceback.extract_tb(error.__traceback__)[-1]
            message = (
                f"internal error in {rule.code}: {type(error).__name__}: {error} "
                f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); please report it"
            )
            violations.append(diagnostic("MC002", message))
    return violations


def reraise_interrupt(error: BaseException) -> None:
    """Raise the Ctrl-C behind `error`, if there is one. A KeyboardInterrupt that lands
    inside a `finally` can turn into another exception there (a lookup cut short
    then raises KeyError for the node it did not reach): reported as a rule's internal error,
    the interrupt would be lost and the rule's findings with it."""
    interrupt = find_interrupt(error)
    if interrupt is not None:
        raise interrupt


def check_source(
    path: str, source: str, rules: Iterable[Rule], fix: Applicability | None = None
) -> FileOutcome:
    """Analyze one module on its own and, when `fix` is set, fix up to that applicability."""
    return check_project({path: ModuleInput(source)}, list(rules), fix)[path]


def check_project(
    modules: dict[str, ModuleInput],
    rules: list[Rule],
    fix: Applicability | None = None,
    data_dependent_fixes: bool = False,
    context: Context | None = None,
    parameter_sites: dict[str, set[str]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, FileOutcome]:
    """Analyze the modules together and, when `fix` is set, apply fixes in passes.

    A fix may edit several files (a model's forward and the code that reads its output); the
    pass applies all of its edits or none."""
    loaded: dict[str, ModuleInput] = {}
    found = analyze_project(
        modules, rules, data_dependent_fixes, context, loaded, parameter_sites, progress
    )
    inputs = {**loaded, **modules}
    outcomes = {path: FileOutcome(path, inputs[path].source, inputs[path].source) for path in found}
    if fix is None:
        for path, violations in found.items():
            outcomes[path].findings = [Finding(v) for v in violations]
            outcomes[path].remaining = violations
        return outcomes
    current = dict(modules)
    current_found = found
    applied_first_pass: set[int] = set()
    # Per file, the edits each pass applied (in that pass's text), to find what they rewrote.
    applied_edits: dict[str, list[list[Edit]]] = {}
    editable = {path for path, module in modules.items() if module.writable}
    for pass_number in range(MAX_PASSES):
        chosen = _choose_fixes(
            [v for violations in current_found.values() for v in violations], fix, editable
        )
        if not chosen:
            break
        edits_by_path: dict[str, list[Edit]] = {}
        for violation in chosen:
            for edit in _fix_of(violation).edits:
                edits_by_path.setdefault(edit.path, []).append(edit)
        candidate = dict(current)
        broken = False
        for path, edits in edits_by_path.items():
            if path not in candidate:
                continue
            new_source = apply_edits(candidate[path].source, edits)
            if not _parses(new_source):
                broken = True
                current_found[path].append(
                    diagnostic("MC002", "a fix produced invalid code; it was not applied")
                )
            candidate[path] = replace(candidate[path], source=new_source, tree=None)
        if broken:
            break
        if pass_number == 0:
            applied_first_pass = {id(violation) for violation in chosen}
        for path, edits in edits_by_path.items():
            if path in candidate:
                applied_edits.setdefault(path, []).append(edits)
        for violation in chosen:
            for relation in _fix_of(violation).model_relations:
                if relation.path in outcomes:
                    outcomes[relation.path].model_relations.append(relation)
        current = candidate
        current_found = analyze_project(current, rules, data_dependent_fixes, context, loaded)
    for path, outcome in outcomes.items():
        # A context module is never edited: its text stays the original.
        outcome.fixed = current[path].source if path in current else outcome.original
        outcome.remaining = current_found.get(path, [])
        rewritten = _rewritten_ranges(applied_edits.get(path, []))
        outcome.findings = _mark_fixed(
            found[path], applied_first_pass, outcome.remaining, rewritten, outcome.original
        )
    return outcomes


def _mark_fixed(
    original: list[Violation],
    applied_first_pass: set[int],
    remaining: list[Violation],
    rewritten: list[tuple[int, int]],
    source: str,
) -> list[Finding]:
    """A finding is fixed when its fix was applied in the first pass, or when a later pass
    (after an overlapping fix went first) left no finding of the same code and message.

    A finding without a fix whose place another fix rewrote is dropped when the fixed code no
    longer has it: it describes code that is not there any more (MC104 on the sigmoid that
    MC101 has just removed from `forward`). One the fixed code still has is kept."""
    left = Counter((v.code, v.message) for v in remaining)
    starts = line_starts(source)
    findings: list[Finding] = []
    for violation in original:
        if id(violation) in applied_first_pass:
            findings.append(Finding(violation, True))
            continue
        key = (violation.code, violation.message)
        if left[key] > 0:
            left[key] -= 1
            findings.append(Finding(violation, False))
        elif violation.fix is None:
            if violation.code.startswith("MC0") or not _overlaps_any(
                _span_offsets(violation.span, starts), rewritten
            ):
                findings.append(Finding(violation, False))
        else:
            findings.append(Finding(violation, True))
    return findings


def _rewritten_ranges(passes: list[list[Edit]]) -> list[tuple[int, int]]:
    """The ranges of a file's original text that the applied edits replaced, as offsets of
    the original: an edit of a later pass is mapped back through the passes before it."""
    ranges: list[tuple[int, int]] = []
    for number, edits in enumerate(passes):
        for edit in edits:
            start, end = edit.start, edit.end
            for earlier in reversed(passes[:number]):
                start = _offset_before(earlier, start, low=True)
                end = _offset_before(earlier, end, low=False)
            ranges.append((start, end))
    return ranges


def _offset_before(edits: list[Edit], offset: int, low: bool) -> int:
    """Where an offset of the text after `edits` was before them. An offset inside a
    replacement maps to the start (`low`) or the end of the range it replaced."""
    shift = 0
    for edit in sorted(edits):
        new_start = edit.start + shift
        new_end = new_start + len(edit.replacement)
        if offset <= new_start:
            break
        if offset < new_end or (offset == new_end and not low):
            return edit.start if low else edit.end
        shift += len(edit.replacement) - (edit.end - edit.start)
    return offset - shift


def _span_offsets(span: Span, starts: list[int]) -> tuple[int, int]:
    """A span's 1-based lines and character columns as offsets of the text."""

    def offset(line: int, column: int) -> int:
        return starts[min(line, len(starts)) - 1] + column - 1

    return offset(span.line, span.column), offset(span.end_line, span.end_column)


def _overlaps_any(place: tuple[int, int], rewritten: list[tuple[int, int]]) -> bool:
    """Whether an edit replaced part of the place, or inserted text inside it or at its
    edges (`, dim=1` before a call's closing parenthesis changes the call)."""
    start, end = place
    for first, last in rewritten:
        if first == last:
            if start <= first <= end:
                return True
        elif first < end and start < last:
            return True
    return False


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


def _choose_fixes(
    violations: list[Violation], allowed: Applicability, editable: set[str]
) -> list[Violation]:
    """Fixes whose edits overlap no fix chosen before them; the rest wait for the next pass.
    A fix that would edit a file outside the run or a read-only one is not applied at all."""
    chosen: list[Violation] = []
    taken: list[Edit] = []
    for violation in violations:
        fix = violation.fix
        if fix is None or not fix.edits:
            continue
        if any(edit.path not in editable for edit in fix.edits):
            continue
        if not allowed.allows(fix.applicability):
            continue
        if any(_overlaps(edit, other) for edit in fix.edits for other in taken):
            continue
        if any(_overlaps(a, b) for i, a in enumerate(fix.edits) for b in fix.edits[i + 1 :]):
            continue
        chosen.append(violation)
        taken.extend(fix.edits)
    return chosen


def _overlaps(first: Edit, second: Edit) -> bool:
    if first.path != second.path:
        return False
    if first.start == first.end or second.start == second.end:
        return first.start == second.start or (
            first.start < second.start < first.end or second.start < first.start < second.end
        )
    return first.start < second.end and second.start < first.end


def _parses(source: str) -> bool:
    return not isinstance(parse_python(source), Violation)


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
