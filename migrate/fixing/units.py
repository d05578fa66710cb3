"""Migration units: what a migration rewrites is written whole or not at all.

A unit is one model output with everything its value reaches (README.md, *What is a
migration unit*). Until the analysis names those pieces itself, a unit is approximated from the
outside, erring towards larger units: the files the migration changes or leaves a
multi-label piece in, joined when one imports the other (directly or through other files of
the run). Joining too much refuses more; it never writes half of a unit.

A unit is refused, and every file of it keeps its original text, when

- a multi-label piece in it was not fixed (MC101-MC105, MC107, MC108: a reader or a loss
  the rules could not prove). MC106 is not a blocker: one-hot float targets stay valid
  class probabilities for `CrossEntropyLoss`;
- the planned tree still has an activation/loss finding (MC2xx) or an internal error
  (MC002) in one of its files: the post-condition gate;
- its code shows that no automatic migration is right: a single-column head, an
  elementwise or user-written BCE loss (focal, asymmetric), `pos_weight`, soft targets made
  from a sigmoid (distillation), a loss chosen at run time from a table.

Pure: outcomes in, refused units out (the outcomes of refused units are reset in place).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from migrate.analysis.graph import import_statements, imported_modules
from migrate.findings import Edit, FileOutcome, Finding
from migrate.rule import Violation

# Reported but never blocking: see the module docstring.
NOT_BLOCKING = frozenset({"MC106"})
BCE_NAMES = frozenset(
    {"BCELoss", "BCEWithLogitsLoss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
)
SIGMOID_NAMES = frozenset({"sigmoid", "Sigmoid"})
SOFTMAX_NAMES = frozenset({"softmax", "Softmax"})
THRESHOLD_METHODS = frozenset({"gt", "ge", "lt", "le", "round"})
POSITION_CALLS = frozenset({"argwhere", "nonzero", "where"})
CROSS_ENTROPY = re.compile(r"\bcross_entropy\b|\bCrossEntropyLoss\b")
# Attributes a model's output layer is usually bound to.
HEAD_ATTRIBUTE = re.compile(
    r"^(fc|head|classifier|out|output|out_layer|output_layer|final|logits?|clf|predictor"
    r"|linear_out|dense_out|.*_head|.*_classifier|.*_out)$"
)
MODEL_NAMES = frozenset({"model", "net", "network"})
USER_LOSS_FUNCTION = re.compile(r"focal|asymmetric|asl|dice|tversky|lovasz", re.IGNORECASE)
SINGLE_CLASS_KEYWORDS = frozenset({"num_classes", "num_labels", "n_classes", "out_features"})


@dataclass(frozen=True)
class Blocker:
    file: str
    line: int
    reason: str


@dataclass(frozen=True)
class RefusedUnit:
    files: tuple[str, ...]
    blockers: tuple[Blocker, ...]
    # Files of the unit that `--write` may not touch (read-only, uncommitted changes): a unit
    # refused for one of them is a write that failed, not a finding (the run exits 1).
    unwritable: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitPlan:
    """What the gate decided: the units to write (each the files it changes, written
    together by `migrate.writer.write_unit`) and the units refused."""

    written: tuple[tuple[str, ...], ...] = ()
    refused: tuple[RefusedUnit, ...] = ()


def gate_units(
    outcomes: dict[str, FileOutcome],
    sources: dict[str, str],
    module_names: dict[str, str],
    unwritable: Mapping[str, str] | None = None,
) -> UnitPlan:
    """Group the migration's files into units and reset the outcomes of every unit that is
    refused. `sources` and `module_names` cover every readable file of the run (a model file
    that names no activation has no outcome but may show a binary head). `unwritable` says
    why a file cannot be written ("is read-only"); a fix that edits one was not applied, and
    its unit is refused with that reason."""
    involved = [
        path
        for path, outcome in outcomes.items()
        if outcome.changed
        or _refused_pieces(outcome)
        or _post_condition(outcome)
        or _rule_failed(outcome)
    ]
    if not involved:
        return UnitPlan()
    by_module = {module: file for file, module in module_names.items()}
    imports = {
        path: _imported_files(path, source, module_names[path], by_module)
        for path, source in sources.items()
    }
    found_evidence: dict[str, list[tuple[int, str]]] = {}
    refused: list[RefusedUnit] = []
    written: list[tuple[str, ...]] = []
    # A file where a rule failed may hold any multi-label piece: it joins like one.
    migrating = {
        path
        for path in involved
        if _rule_failed(outcomes[path])
        or any(finding.violation.code.startswith("MC1") for finding in outcomes[path].findings)
    }
    edited_together = [
        {edit.path for edit in finding.violation.fix.edits} & set(involved)
        for outcome in outcomes.values()
        for finding in outcome.findings
        if finding.fixed and finding.violation.fix is not None
    ]
    for unit in _units(involved, migrating, imports, [f for f in edited_together if f]):
        if not any(outcomes[path].changed for path in unit) and not any(
            _refused_pieces(outcomes[path]) for path in unit
        ):
            continue
        blocked_files = _unwritable_files(unit, outcomes, unwritable or {})
        blockers = [
            *_unwritable_blockers(unit, outcomes, unwritable or {}, sources),
            *_piece_blockers(unit, outcomes, unwritable or {}, bool(blocked_files)),
            *_evidence_blockers(unit, imports, sources, found_evidence),
            *_planned_tree_blockers(unit, imports, sources, outcomes),
        ]
        if not blockers:
            changed = tuple(sorted(path for path in unit if outcomes[path].changed))
            if changed:
                written.append(changed)
            continue
        for path in unit:
            _reset(outcomes[path])
        files = tuple(sorted({*unit, *blocked_files}))
        refused.append(RefusedUnit(files, tuple(blockers), tuple(sorted(blocked_files))))
    return UnitPlan(tuple(written), tuple(refused))


def _imported_files(
    path: str, source: str, module_name: str, by_module: dict[str, str]
) -> set[str]:
    imported = imported_modules(
        import_statements(source), module_name, PurePosixPath(path).name == "__init__.py"
    )
    found: set[str] = set()
    for item in imported:
        # `import a.b.c` loads the packages on the way too.
        parts = item.module.split(".")
        for end in range(len(parts), 0, -1):
            file = by_module.get(".".join(parts[:end]))
            if file is not None and file != path:
                found.add(file)
    return found


def _reachable(start: str, imports: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for following in imports.get(stack.pop(), ()):
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen


def _units(
    involved: list[str],
    migrating: set[str],
    imports: dict[str, set[str]],
    edited_together: list[set[str]],
) -> list[list[str]]:
    """Involved files joined when one fix edits both (a sigmoid moved out of `forward` to a
    reader in another file), or when one file of the run reaches both through imports (a
    training script importing the model and the metrics joins them). Package `__init__`
    files re-export whole trees, so they join nothing as the common importer."""
    importers: dict[str, set[str]] = {}
    for importer, imported in imports.items():
        for path in imported:
            importers.setdefault(path, set()).add(importer)
    parent = {path: path for path in involved}

    def root(path: str) -> str:
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for files in edited_together:
        first, *others = sorted(files)
        for other in others:
            parent[root(other)] = root(first)
    joined_by: dict[str, str] = {}
    for path in migrating:
        # A flat project (or one package) is where a model, its loop and its readers live
        # side by side even when no file imports the others (a notebook or a test ties them).
        # Only multi-label pieces are joined so: two independent activation/loss bugs in
        # neighbouring files stay two units.
        folder = f"folder:{PurePosixPath(path).parent}"
        parent[root(path)] = root(joined_by.setdefault(folder, path))
        for ancestor in _reachable(path, importers):
            if PurePosixPath(ancestor).name == "__init__.py" and ancestor != path:
                continue
            first = joined_by.setdefault(ancestor, path)
            parent[root(path)] = root(first)
            if ancestor in parent:
                # An involved file that imports this piece (a loop reading the model) is part
                # of its unit too.
                parent[root(ancestor)] = root(path)
    groups: dict[str, list[str]] = {}
    for path in sorted(involved):
        groups.setdefault(root(path), []).append(path)
    return list(groups.values())


def _refused_pieces(outcome: FileOutcome) -> list[Finding]:
    return [
        finding
        for finding in outcome.findings
        if finding.violation.code.startswith("MC1")
        and finding.violation.code not in NOT_BLOCKING
        and not finding.fixed
    ]


def _rule_failed(outcome: FileOutcome) -> bool:
    return any(finding.violation.code == "MC002" for finding in outcome.findings)


def _post_condition(outcome: FileOutcome) -> list[Violation]:
    """What the planned tree still reports: an activation/loss finding or an internal error."""
    return [
        violation
        for violation in outcome.remaining
        if violation.code.startswith("MC2") or violation.code == "MC002"
    ]


def _piece_blockers(
    unit: list[str],
    outcomes: dict[str, FileOutcome],
    unwritable: Mapping[str, str],
    partial: bool = False,
) -> Iterator[Blocker]:
    """`partial`: a fix was left out because a file it edits cannot be written, so what the
    planned tree still reports is that fix's absence, not a finding of its own."""
    for path in unit:
        outcome = outcomes[path]
        for finding in _refused_pieces(outcome):
            violation = finding.violation
            if _unwritable_edits(violation, unwritable):
                continue  # said by `_unwritable_blockers`, on the file that could not be written
            why = violation.no_fix_reason or "no fix could be proven"
            yield Blocker(path, violation.span.line, f"{violation.code} not migrated: {why}")
        for finding in outcome.findings:
            if finding.violation.code == "MC002":
                # A rule failed on this file: what it would have found (a loss, a reader) is
                # unknown, so the unit cannot be proven whole.
                yield Blocker(
                    path,
                    finding.violation.span.line,
                    f"MC002 (a rule failed here; the unit cannot be proven): "
                    f"{finding.violation.message}",
                )
        for violation in [] if partial else _post_condition(outcome):
            yield Blocker(
                path,
                violation.span.line,
                f"after the rewrite, {violation.code}: {violation.message}",
            )


def _unwritable_edits(violation: Violation, unwritable: Mapping[str, str]) -> list[Edit]:
    if violation.fix is None:
        return []
    return [edit for edit in violation.fix.edits if edit.path in unwritable]


def _unwritable_files(
    unit: list[str], outcomes: dict[str, FileOutcome], unwritable: Mapping[str, str]
) -> set[str]:
    """The files `--write` may not touch that a refused piece of the unit would have edited
    (a reader in another file counts, though no finding of its own sits there)."""
    return {
        edit.path
        for path in unit
        for finding in _refused_pieces(outcomes[path])
        for edit in _unwritable_edits(finding.violation, unwritable)
    }


def _unwritable_blockers(
    unit: list[str],
    outcomes: dict[str, FileOutcome],
    unwritable: Mapping[str, str],
    sources: Mapping[str, str],
) -> Iterator[Blocker]:
    """One blocker per file that could not be written, on that file, naming the fixes that
    needed it: "tagger/predict.py has uncommitted changes (...); the MC101 fix of
    tagger/model.py:15 edits it"."""
    needed: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for path in unit:
        for finding in _refused_pieces(outcomes[path]):
            violation = finding.violation
            for edit in _unwritable_edits(violation, unwritable):
                fix = f"the {violation.code} fix of {path}:{violation.span.line}"
                if fix not in needed.setdefault(edit.path, []):
                    needed[edit.path].append(fix)
                line = sources.get(edit.path, "")[: edit.start].count("\n") + 1
                lines[edit.path] = min(lines.get(edit.path, line), line)
    for file in sorted(needed):
        fixes = needed[file]
        verb = "edits" if len(fixes) == 1 else "edit"
        yield Blocker(file, lines[file], f"{file} {unwritable[file]}; {', '.join(fixes)} {verb} it")


def _scope(unit: list[str], imports: dict[str, set[str]], sources: dict[str, str]) -> list[str]:
    """The unit's files, the files beside them and the files they import."""
    folders = {PurePosixPath(path).parent for path in unit}
    files = {path for path in sources if PurePosixPath(path).parent in folders}
    for path in unit:
        files |= _reachable(path, imports)
    return sorted(files)


def _evidence_blockers(
    unit: list[str],
    imports: dict[str, set[str]],
    sources: dict[str, str],
    found: dict[str, list[tuple[int, str]]],
) -> Iterator[Blocker]:
    """What the unit's files, the files beside them and the files they import show about
    the pipeline (each file read once per run: `found` keeps what it showed)."""
    for path in _scope(unit, imports, sources):
        if path not in found:
            try:
                found[path] = sorted(set(evidence(ast.parse(sources[path]))))
            except (SyntaxError, ValueError, RecursionError):
                found[path] = []
        for line, reason in found[path]:
            yield Blocker(path, line, reason)


def _planned_tree_blockers(
    unit: list[str],
    imports: dict[str, set[str]],
    sources: dict[str, str],
    outcomes: dict[str, FileOutcome],
) -> Iterator[Blocker]:
    """The post-condition on the tree the rewrite would leave. In the files it changes: a
    threshold on softmax probabilities (softmax rows sum to 1, so a fixed threshold picks none
    or several classes), or the indices of argmax decisions taken as label positions. Once
    the unit's loss becomes cross-entropy, in every file around it: a sigmoid still applied
    to what the loss reads (multi-label probabilities left beside a multi-class loss)."""
    planned = {path: outcome.fixed for path, outcome in outcomes.items() if outcome.changed}
    # More mentions than before: the rewrite introduced one (a comment may name it already).
    becomes_cross_entropy = any(
        len(CROSS_ENTROPY.findall(planned[path]))
        > len(CROSS_ENTROPY.findall(outcomes[path].original))
        for path in unit
        if path in planned
    )
    for path in _scope(unit, imports, sources):
        changed = path in planned and path in unit
        if not changed and not becomes_cross_entropy:
            continue
        try:
            tree = ast.parse(planned.get(path, sources[path]))
        except (SyntaxError, ValueError, RecursionError):
            continue
        if changed:
            for line in sorted(set(thresholds_on_softmax(tree))):
                yield Blocker(path, line, "after the rewrite, a threshold on softmax probabilities")
            for line in sorted(set(_positions_of_argmax(tree))):
                yield Blocker(
                    path,
                    line,
                    "after the rewrite, the positions of argmax decisions are read as the "
                    "labels a sample has (`argwhere`/`nonzero` of a class index)",
                )
        if becomes_cross_entropy:
            for line in sorted(set(_sigmoid_beside_loss(tree))):
                yield Blocker(
                    path,
                    line,
                    "after the rewrite, a sigmoid is still applied to what the cross-entropy "
                    "loss reads: multi-label probabilities left beside a multi-class loss",
                )


def _positions_of_argmax(tree: ast.Module) -> Iterator[int]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and called_name(node.func) in POSITION_CALLS:
            subject = node.func.value if isinstance(node.func, ast.Attribute) else None
            arguments = [*node.args, *([subject] if subject is not None else [])]
            if any(_has_call(argument, ("argmax",)) for argument in arguments):
                yield node.lineno


def _sigmoid_beside_loss(tree: ast.Module) -> Iterator[int]:
    """Lines applying a sigmoid to a name that, in the same scope, is also the first argument
    of a loss call (`criterion(outputs, y)` ... `torch.sigmoid(outputs)`)."""
    loss_inputs: dict[str, set[str]] = {}
    sigmoids: list[tuple[str, str, int]] = []
    for owner, node in _walk_with_owner(tree):
        if not isinstance(node, ast.Call):
            continue
        if _looks_like_loss_call(node) and node.args and isinstance(node.args[0], ast.Name):
            loss_inputs.setdefault(owner, set()).add(node.args[0].id)
        if called_name(node.func) in SIGMOID_NAMES:
            subject = node.args[0] if node.args else None
            if subject is None and isinstance(node.func, ast.Attribute):
                subject = node.func.value  # `outputs.sigmoid()`
            if isinstance(subject, ast.Name):
                sigmoids.append((owner, subject.id, node.lineno))
    for owner, name, line in sigmoids:
        if name in loss_inputs.get(owner, set()):
            yield line


def thresholds_on_softmax(tree: ast.Module) -> Iterator[int]:
    """Lines that compare a softmax output with a threshold (`>`, `.gt(t)`, `round`)."""
    softmax_names = _names_bound_to(tree, SOFTMAX_NAMES)

    def is_softmax(value: ast.expr, owner: str) -> bool:
        bound = softmax_names.get(owner, set())
        return _has_call(value, SOFTMAX_NAMES) or (
            isinstance(value, ast.Name) and value.id in bound
        )

    for owner, node in _walk_with_owner(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(operator, ast.Gt | ast.GtE | ast.Lt | ast.LtE) for operator in node.ops
        ):
            if any(is_softmax(side, owner) for side in [node.left, *node.comparators]):
                yield node.lineno
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in THRESHOLD_METHODS and is_softmax(node.func.value, owner):
                yield node.lineno
        if isinstance(node, ast.Call) and called_name(node.func) == "round" and node.args:
            if is_softmax(node.args[0], owner):
                yield node.lineno


# --------------------------------------------------------------------------- evidence


def evidence(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, why) for each sign in a module that no automatic multi-class rewrite is right."""
    sigmoid_names = _names_bound_to(tree, SIGMOID_NAMES)
    squeezed_names = _names_bound_to(tree, frozenset({"squeeze"}))
    for owner, node in _walk_with_owner(tree):
        if isinstance(node, ast.Call):
            yield from _call_evidence(node, owner, sigmoid_names.get(owner, set()))
            squeezed = squeezed_names.get(owner, set())
            if called_name(node.func) in SIGMOID_NAMES and any(
                isinstance(argument, ast.Name) and argument.id in squeezed for argument in node.args
            ):
                yield (node.lineno, "a sigmoid of a squeezed output: a single-column (binary) head")
        elif isinstance(node, ast.Dict):
            losses = [value for value in node.values if value is not None and _chooses_bce(value)]
            if losses and len(node.values) > 1:
                yield (
                    node.lineno,
                    "the loss is chosen at run time from a table that holds a BCE loss "
                    f"(`{ast.unparse(losses[0])}`): every candidate would need its own rewrite",
                )
        elif isinstance(node, ast.Assign):
            yield from _head_evidence(node)


def _walk_with_owner(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Every node with the dotted names of the classes and functions around it."""

    def visit(node: ast.AST, owner: str) -> Iterator[tuple[str, ast.AST]]:
        for child in ast.iter_child_nodes(node):
            yield owner, child
            inner = owner
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = f"{owner}.{child.name}" if owner else child.name
            yield from visit(child, inner)

    yield from visit(tree, "")


def _chooses_bce(node: ast.expr) -> bool:
    """A table entry that stands for a BCE loss: the class or function itself, an instance
    (`nn.BCELoss()`), or a `partial` of it; not a loss value computed on the spot."""
    if isinstance(node, ast.Name | ast.Attribute):
        return called_name(node) in BCE_NAMES
    if not isinstance(node, ast.Call):
        return False
    name = called_name(node.func)
    if name == "partial" and node.args:
        return _chooses_bce(node.args[0])
    return name in BCE_NAMES and name[:1].isupper()


def _has_call(node: ast.AST, names: Iterable[str]) -> bool:
    wanted = set(names)
    return any(
        isinstance(inner, ast.Call) and called_name(inner.func) in wanted
        for inner in ast.walk(node)
    )


def _looks_like_loss_call(call: ast.Call) -> bool:
    """A BCE call, or a call of something named like a criterion (`criterion(...)`,
    `self.loss_fn(...)`) whose class we may not know."""
    name = called_name(call.func)
    if name is None:
        return False
    return name in BCE_NAMES or bool(re.search(r"crit|loss", name, re.IGNORECASE))


def _names_bound_to(tree: ast.Module, activations: frozenset[str]) -> dict[str, set[str]]:
    """Per scope (as `_walk_with_owner` names them), the names assigned an activation's
    output."""
    bound: dict[str, set[str]] = {}
    for owner, node in _walk_with_owner(tree):
        if isinstance(node, ast.Assign) and _has_call(node.value, activations):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(owner, set()).add(target.id)
    return bound


def _call_evidence(
    call: ast.Call, owner: str, sigmoid_names: set[str]
) -> Iterator[tuple[int, str]]:
    name = called_name(call.func)
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    if name in BCE_NAMES:
        if "pos_weight" in keywords:
            yield (
                call.lineno,
                "`pos_weight` weighs each class's positives against its negatives; "
                "CrossEntropyLoss has no equivalent (its `weight=` means something else)",
            )
        reduction = keywords.get("reduction")
        if isinstance(reduction, ast.Constant) and reduction.value == "none":
            yield (
                call.lineno,
                'an elementwise BCE (`reduction="none"`) feeds a hand-written loss: '
                "cross-entropy has one term per row, not per class",
            )
        owner_class = owner.split(".", 1)[0]
        if "loss" in owner_class.lower() and owner_class[:1].isupper():
            yield (call.lineno, f"a BCE inside the user-written loss `{owner_class}`")
        elif USER_LOSS_FUNCTION.search(owner):
            yield (call.lineno, f"a BCE inside the user-written loss `{owner}`")
    if _looks_like_loss_call(call):
        target = keywords.get("target") or (call.args[1] if len(call.args) > 1 else None)
        from_sigmoid = isinstance(target, ast.Name) and target.id in sigmoid_names
        if target is not None and (from_sigmoid or _has_call(target, SIGMOID_NAMES)):
            yield (
                call.lineno,
                f"the loss's target is a sigmoid (`{ast.unparse(target)[:60]}`): soft "
                "targets from another model (distillation); the multi-class form is KL "
                "divergence on softmax targets",
            )
        for argument in [*call.args, *keywords.values()]:
            if _has_call(argument, ("squeeze", "unsqueeze")):
                yield (
                    call.lineno,
                    "the loss reads a squeezed or unsqueezed value "
                    f"(`{ast.unparse(argument)[:60]}`): a single-column (binary) output, "
                    "which argmax cannot decide",
                )
                break
    squeezed_sigmoid = name in SIGMOID_NAMES and _has_call(call, ("squeeze",))
    sigmoid_squeezed = (
        name == "squeeze"
        and isinstance(call.func, ast.Attribute)
        and _has_call(call.func.value, SIGMOID_NAMES)
    )
    if squeezed_sigmoid or sigmoid_squeezed:
        yield (call.lineno, "a sigmoid of a squeezed output: a single-column (binary) head")
    for keyword, value in keywords.items():
        if (
            keyword in SINGLE_CLASS_KEYWORDS
            and isinstance(value, ast.Constant)
            and value.value == 1
        ):
            yield (call.lineno, f"`{keyword}=1`: a single-column (binary) head")


def _head_evidence(node: ast.Assign) -> Iterator[tuple[int, str]]:
    for target in node.targets:
        bound = target.attr if isinstance(target, ast.Attribute) else None
        if isinstance(target, ast.Name):
            bound = target.id
        if bound is None or not (HEAD_ATTRIBUTE.match(bound) or bound in MODEL_NAMES):
            continue
        layer = node.value
        if isinstance(layer, ast.Call) and called_name(layer.func) == "Sequential" and layer.args:
            layer = layer.args[-1]
        if _single_column_linear(layer):
            yield (node.lineno, f"`{bound}` ends in a single-column layer: a binary head")


def _single_column_linear(node: ast.expr) -> bool:
    if not (isinstance(node, ast.Call) and called_name(node.func) == "Linear"):
        return False
    width = node.args[1] if len(node.args) > 1 else None
    for keyword in node.keywords:
        if keyword.arg == "out_features":
            width = keyword.value
    return isinstance(width, ast.Constant) and width.value == 1


def _reset(outcome: FileOutcome) -> None:
    outcome.fixed = outcome.original
    outcome.findings = [
        Finding(finding.violation, fixed=False, unit_refused=finding.violation.fix is not None)
        for finding in outcome.findings
    ]
    outcome.remaining = [finding.violation for finding in outcome.findings]
    outcome.model_relations = []


def called_name(func: ast.expr) -> str | None:
    """The last name of a callee: `torch.sigmoid` -> `sigmoid`, `Linear` -> `Linear`."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None
