"""Plan the edits at every place that reads a model's output, when the model stops applying
its output activation (MC101 sigmoid, MC201 softmax in `forward`).

A reader that feeds a loss gets the logits (the loss is migrated or was the bug); a threshold
decision becomes `argmax(dim=1)`; anything else that reads the output gets
`torch.softmax(..., dim=1)`, so it still sees probabilities. A reader the plan cannot account
for (the output returned to unknown callers, passed to a project function, unpacked) makes the
whole fix refuse, with the reason.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from migrate.analysis.api import (
    Activation,
    LossUse,
    ModelCall,
    ModelEscape,
    ModuleQueries,
    Probs,
    names,
)
from migrate.fixing.edits import (
    argument_call,
    argument_count,
    argument_keyword,
    argument_value,
    arguments,
    describe,
    loss_path_edits,
    name_occurrences,
    parenthesized,
    remove_activation,
)
from migrate.rule import Applicability, Edit, Fix, ModelRelation

_CASTS = frozenset({"int", "float", "long", "bool", "byte", "half", "double"})
_BLOCKING_LOSS_ARGUMENTS = frozenset({"weight", "pos_weight", "size_average", "reduce"})


class Refusal(Exception):
    """A reader that cannot be accounted for."""


@dataclass(frozen=True)
class ReaderPlan:
    edits: list[Edit]
    readers: int


@dataclass(frozen=True)
class ReaderPolicy:
    """How readers are rewritten: which activation they get back, which losses may take the
    logits, and whether threshold decisions become argmax (migration) or keep probabilities."""

    activation: str = names.SOFTMAX
    losses: frozenset[str] = frozenset({names.CROSS_ENTROPY})
    decisions_to_argmax: bool = False

    def wrap(self, code: str) -> str:
        if self.activation == names.SIGMOID:
            return f"torch.sigmoid({code})"
        if self.activation == names.LOG_SOFTMAX:
            return f"torch.log_softmax({code}, dim=1)"
        return f"torch.softmax({code}, dim=1)"


MIGRATION = ReaderPolicy(
    names.SOFTMAX,
    frozenset({names.CROSS_ENTROPY, names.BCE, names.BCE_WITH_LOGITS}),
    decisions_to_argmax=True,
)


def plan_readers(facts: ModuleQueries, class_key: str, policy: ReaderPolicy) -> ReaderPlan:
    """Edits for every call of the model class `class_key` in the whole project."""
    project = facts.project
    if project is not None:
        project.load_importers(class_key.rsplit(".", 1)[0])
    # In path order, so that the reader named first does not depend on reading order.
    all_facts = [project.by_path[path] for path in sorted(project.by_path)] if project else [facts]
    for reader_facts in all_facts:
        for escape in reader_facts.flow.model_escapes:
            if escape.class_key == class_key and not _followed(reader_facts, escape):
                raise Refusal(
                    f"the model is passed to `{describe(reader_facts, escape.call.func)}` "
                    f"({reader_facts.path}:{reader_facts.span(escape.call).line}), whose use of "
                    "it is not followed"
                )
    edits: list[Edit] = []
    readers = 0
    for reader_facts in all_facts:
        file_edits: list[Edit] = []
        for model_call in reader_facts.flow.model_calls:
            if model_call.class_key != class_key:
                continue
            readers += 1
            file_edits.extend(_call_edits(reader_facts, model_call, policy))
        if any(edit.replacement.startswith("torch.") for edit in file_edits):
            file_edits.extend(torch_import_edits(reader_facts))
        edits.extend(file_edits)
    return ReaderPlan(edits, readers)


def _followed(facts: ModuleQueries, escape: ModelEscape) -> bool:
    """A model passed to a project function whose parameter was refined to that model: the
    function's own calls of it are model calls like any other."""
    if escape.function_key is None or facts.project is None:
        return False
    module_name, _, name = escape.function_key.rpartition(".")
    flow = facts.project.flow_of(module_name)
    # A model handed to a method or a constructor (`Trainer(model)`) is not counted as
    # followed: the blind migration batches showed readers there that a rewrite gets wrong
    # (a threshold compared with multi-hot targets), so the unit stays refused.
    return flow is not None and flow.refined_with_model(name, escape.class_key)


def _call_edits(facts: ModuleQueries, model_call: ModelCall, policy: ReaderPolicy) -> list[Edit]:
    call = model_call.call
    flow = facts.flow
    if call in flow.loss_inputs:
        _check_loss(facts, call, policy)
        return []
    if model_call.shared_with:
        others = ", ".join(f"`{key.rsplit('.', 1)[-1]}`" for key in model_call.shared_with)
        raise Refusal(
            f"`{describe(facts, call)}` ({facts.path}:{facts.span(call).line}) may also run "
            f"{others}, whose output the fix does not change"
        )
    parent = facts.parents.get(call)
    decision = _decision_node(facts, call) if policy.decisions_to_argmax else None
    if decision is not None:
        return decision_edits(facts, decision, call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        target = parent.targets[0]
        if isinstance(target, ast.Name):
            return _variable_edits(facts, model_call, target, policy)
        raise Refusal(
            f"the output of `{describe(facts, call)}` is unpacked at line "
            f"{facts.span(call).line}; its elements are not followed"
        )
    if isinstance(parent, ast.Return) and _is_prediction_entry(facts, model_call.function):
        # `predict_step` returns probabilities to whoever predicts: keep giving them.
        return [facts.replace(call, policy.wrap(facts.code(call)))]
    if isinstance(parent, ast.Return):
        raise Refusal(
            f"`{model_call.function}` returns the output of `{describe(facts, call)}` "
            f"(line {facts.span(call).line}); its callers are not followed"
        )
    _check_not_passed_to_unknown(facts, call)
    return [facts.replace(call, policy.wrap(facts.code(call)))]


def _is_prediction_entry(facts: ModuleQueries, function: str) -> bool:
    """A prediction entry point (`predict`, `predict_step`, `inference`) that nothing in the
    scanned files calls by name: its callers are the user or a framework, who read
    probabilities. One that the project calls itself is followed no further: refuse."""
    name = function.rsplit(".", 1)[-1]
    if not any(word in name.lower() for word in ("predict", "infer")):
        return False
    project = facts.project
    sources = (
        [f.source for f in project.by_path.values()] if project is not None else [facts.source]
    )
    call = re.compile(rf"(?<!def )\b{re.escape(name)}\s*\(")
    return not any(call.search(source) for source in sources)


def _variable_edits(
    facts: ModuleQueries, model_call: ModelCall, target: ast.Name, policy: ReaderPolicy
) -> list[Edit]:
    flow = facts.flow
    binding = flow.assignments.get(target)
    reads = flow.reads.get(binding, []) if binding is not None else []
    spelled = name_occurrences(facts, model_call.function, target.id)
    if spelled != len(reads) + 1:
        raise Refusal(
            f"`{facts.code(target)}` (line {facts.span(target).line}) is assigned or read in ways "
            "that are not followed (reassigned, or read in a nested function)"
        )
    edits: list[Edit] = []
    loss_reads = [read for read in reads if read in flow.loss_inputs]
    for read in loss_reads:
        _check_loss(facts, read, policy)
    other_reads: list[ast.Name] = []
    for read in reads:
        if read in flow.loss_inputs:
            continue
        decision = _decision_node(facts, read) if policy.decisions_to_argmax else None
        if decision is not None:
            edits.extend(decision_edits(facts, decision, read))
        else:
            other_reads.append(read)
    if not other_reads:
        return edits
    for read in other_reads:
        _check_not_passed_to_unknown(facts, read)
    if not loss_reads:
        # Nothing trains on this value: it may hold probabilities from the start.
        call = model_call.call
        edits.append(facts.replace(call, policy.wrap(facts.code(call))))
        return edits
    for read in other_reads:
        edits.append(facts.replace(read, policy.wrap(facts.code(read))))
    return edits


def _check_loss(facts: ModuleQueries, node: ast.AST, policy: ReaderPolicy) -> None:
    use = facts.flow.loss_inputs[node]
    if use.loss not in policy.losses:
        raise Refusal(
            f"the output feeds `{names.LOSS_DISPLAY[use.loss]}` at line "
            f"{facts.span(use.call).line}, which does not take logits"
        )
    constructor = use.criterion.node
    keywords = constructor.keywords if isinstance(constructor, ast.Call) else []
    for keyword in (*keywords, *use.call.keywords):
        if keyword.arg is not None and keyword.arg in _BLOCKING_LOSS_ARGUMENTS:
            if use.loss != names.CROSS_ENTROPY:
                raise Refusal(
                    f"the loss at line {facts.span(use.call).line} uses "
                    f"`{keyword.arg}=`, which has no CrossEntropyLoss equivalent"
                )


def _decision_node(facts: ModuleQueries, node: ast.AST) -> ast.expr | None:
    """The threshold expression around `node` (`p > 0.5`, `(p >= t).int()`, `torch.round(p)`,
    `p.round()`), widened to the casts around it; None when `node` is not thresholded."""
    parent = facts.parents.get(node)
    decision: ast.expr | None = None
    if isinstance(parent, ast.Compare) and parent.left is node and len(parent.ops) == 1:
        if isinstance(parent.ops[0], (ast.Gt, ast.GtE)):
            decision = parent
    elif isinstance(parent, ast.Attribute) and parent.value is node and parent.attr == "round":
        grand = facts.parents.get(parent)
        if _is_call_without_arguments(grand, parent):
            assert isinstance(grand, ast.Call)
            decision = grand
    else:
        call = argument_call(facts, node)
        if call is not None and argument_count(call) == 1:
            if facts.imports.qualify(call.func) == "torch.round":
                decision = call
    if decision is None:
        return None
    return widen_decision(facts, decision)


def _is_call_without_arguments(node: ast.AST | None, func: ast.expr) -> bool:
    """`func()`: `node` calls `func` with no argument."""
    return isinstance(node, ast.Call) and node.func is func and argument_count(node) == 0


def widen_decision(facts: ModuleQueries, decision: ast.expr) -> ast.expr:
    """`(p > 0.5).int()`: the cast goes with the threshold, argmax is already integral."""
    while True:
        outer = facts.parents.get(decision)
        if isinstance(outer, ast.Attribute) and outer.value is decision and outer.attr in _CASTS:
            call = facts.parents.get(outer)
            if _is_call_without_arguments(call, outer):
                assert isinstance(call, ast.Call)
                decision = call
                continue
        return decision


def _decision_edit(facts: ModuleQueries, decision: ast.expr, value: ast.expr) -> Edit:
    return argmax_edit(facts, decision, value)


def argmax_edit(facts: ModuleQueries, decision: ast.expr, value: ast.expr) -> Edit:
    """Replace the decision, its own parentheses included, by `value.argmax(dim=1)`."""
    start, end = facts.offsets_with_parentheses(decision)
    return Edit(facts.path, start, end, f"{parenthesized(facts, value)}.argmax(dim=1)")


def strip_casts(node: ast.expr) -> ast.expr:
    """`y.bool()` -> `y`: the cast is meaningless once the value is taken by argmax."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _CASTS
        and argument_count(node) == 0
    ):
        node = node.func.value
    return node


def decision_edits(facts: ModuleQueries, decision: ast.expr, value: ast.expr) -> list[Edit]:
    """The threshold becomes `argmax(dim=1)`, and what compares the decision element-wise is
    adapted to its new shape: a `(N, C)` indicator matrix becomes `(N,)` class indices."""
    return [_decision_edit(facts, decision, value), *decision_followups(facts, decision)]


def decision_followups(facts: ModuleQueries, decision: ast.expr) -> list[Edit]:
    parent = facts.parents.get(decision)
    # Only as the left side: `a == (p > 0.5)` compares something else with the decision.
    if isinstance(parent, ast.Compare) and parent.left is decision:
        raise Refusal(
            f"the decision at line {facts.span(decision).line} is compared in place; its shape "
            "changes from (N, C) to (N,)"
        )
    if not (isinstance(parent, ast.Assign) and len(parent.targets) == 1):
        return []
    target = parent.targets[0]
    if not isinstance(target, ast.Name):
        return []
    flow = facts.flow
    binding = flow.assignments.get(target)
    edits: list[Edit] = []
    for read in flow.reads.get(binding, []) if binding is not None else []:
        comparison = facts.parents.get(read)
        # `preds == y`: the decision read on the left of a single comparison.
        if not isinstance(comparison, ast.Compare) or len(comparison.ops) != 1:
            continue
        if comparison.left is not read:
            continue
        if not isinstance(comparison.ops[0], (ast.Eq, ast.NotEq)):
            continue
        other = comparison.comparators[0]
        if not will_be_class_indices(facts, other):
            if not facts.data_dependent_fixes:
                raise Refusal(
                    f"`{facts.code(target)}` is compared with `{describe(facts, other)}` at line "
                    f"{facts.span(comparison).line}, which is not proven to be one-hot; "
                    "rerun with --unsafe-fixes to compare with its argmax"
                )
            base = strip_casts(other)
            edits.append(facts.replace(other, f"{parenthesized(facts, base)}.argmax(dim=1)"))
        edits.extend(_drop_row_reduction(facts, comparison))
    return edits


def _drop_row_reduction(facts: ModuleQueries, comparison: ast.Compare) -> list[Edit]:
    """`(preds == targets).all(dim=1)` compared rows of labels; on class indices the
    comparison is already per example, so the `.all(dim=1)` goes."""
    attribute = facts.parents.get(comparison)
    if not (
        isinstance(attribute, ast.Attribute)
        and attribute.value is comparison
        and attribute.attr in ("all", "any")
    ):
        return []
    call = facts.parents.get(attribute)
    if not isinstance(call, ast.Call) or call.func is not attribute or argument_count(call) != 1:
        return []
    if facts.code(argument_value(arguments(call)[0])) not in ("1", "-1"):
        return []
    start = _dot_offset(facts, facts.offsets(comparison)[1])
    if start is None:
        return []
    end = facts.offsets(call)[1]
    return [Edit(facts.path, start, end, "")]


def _dot_offset(facts: ModuleQueries, offset: int) -> int | None:
    """Where the `.` of an attribute is, from the end of the attribute's value: past the
    value's closing parentheses, spaces, line continuations and comments (inside brackets a
    line may end in one)."""
    source = facts.source
    while offset < len(source):
        character = source[offset]
        if character == ".":
            return offset
        if character == "#":
            line_end = source.find("\n", offset)
            offset = len(source) if line_end < 0 else line_end
        elif character.isspace() or character in "\\)":
            offset += 1
        else:
            return None
    return None


def one_hot_index(facts: ModuleQueries, node: ast.expr) -> ast.expr | None:
    """`idx` when `node` is `F.one_hot(idx, C)` (with casts), or a name assigned exactly that."""
    value: ast.expr = node
    if isinstance(node, ast.Name):
        assigned = assigned_value(facts, node)
        if assigned is None:
            return None
        value = assigned
    value = strip_casts(value)
    if isinstance(value, ast.Call) and argument_count(value):
        qualified = facts.imports.qualify(value.func)
        first = arguments(value)[0]
        if qualified == "torch.nn.functional.one_hot" and argument_keyword(first) is None:
            return argument_value(first)
    return None


def assigned_value(facts: ModuleQueries, read: ast.Name) -> ast.expr | None:
    """The value a read name was assigned, when the binding comes from one plain assignment."""
    flow = facts.flow
    # A function interpreted twice (refined parameters) has two bindings for the same read.
    bindings = {binding for binding, reads in flow.reads.items() if read in reads}
    for target, target_binding in flow.assignments.items():
        if target_binding in bindings:
            assign = facts.parents.get(target)
            if isinstance(assign, ast.Assign) and len(assign.targets) == 1:
                return assign.value
            if isinstance(assign, ast.NamedExpr):
                # `y = (x := value)`: the walrus itself is what the outer assignment holds.
                outer = facts.parents.get(assign)
                if isinstance(outer, ast.Assign) and len(outer.targets) == 1:
                    return outer.value
    return None


def will_be_class_indices(facts: ModuleQueries, node: ast.expr) -> bool:
    """A one-hot of class indices: MC106 turns its non-loss reads into the indices."""
    return one_hot_index(facts, node) is not None


def _check_not_passed_to_unknown(facts: ModuleQueries, node: ast.AST) -> None:
    """Refuse when the output is an argument of a call that may be a loss or may forward it to
    one: a parameter, a method of an unknown object, a project function. Builtins and
    functions imported from libraries only read it."""
    call = argument_call(facts, node)
    if call is None:
        return
    func = call.func
    if isinstance(func, ast.Name) and func.id in _READING_BUILTINS:
        if func.id not in facts.imports.names:
            return
    qualified = facts.imports.qualify(func)
    project = facts.project
    is_project = qualified is not None and (
        qualified.startswith((names.LOCAL_PREFIX, "."))
        or (project is not None and project.resolve(qualified, facts.module_name) is not None)
    )
    if qualified is None or is_project:
        raise Refusal(
            f"the output is passed to `{describe(facts, func)}` at line "
            f"{facts.span(call).line}, which is not followed (it may compute a loss)"
        )


_READING_BUILTINS = frozenset(
    {
        "print",
        "len",
        "str",
        "repr",
        "float",
        "list",
        "tuple",
        "zip",
        "enumerate",
        "sorted",
        "max",
        "min",
        "sum",
        "isinstance",
        "format",
    }
)


def torch_import_edits(facts: ModuleQueries) -> list[Edit]:
    """`import torch` after the module's last top-level import, unless `torch` is bound."""
    if facts.imports.names.get("torch") == "torch":
        return []
    body = facts.tree.body
    last_import: int | None = None
    for index, statement in enumerate(body):
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            last_import = index
    if last_import is None:
        return [facts.insert_at(0, "import torch\n")]
    # After the whole line: `import a; b = f(\n  1)` ends where `b = ...` ends.
    while last_import + 1 < len(body) and body[last_import + 1].lineno == _end_line(
        body[last_import]
    ):
        last_import += 1
    next_line = facts.span(body[last_import]).end_line + 1
    return [facts.insert_at(facts.line_offset(next_line), "import torch\n")]


def model_sigmoid_fix(
    facts: ModuleQueries, class_name: str, activation: Activation, title: str
) -> tuple[Fix | None, str | None]:
    """Remove the sigmoid from `class_name`'s output and plan every reader (MC101).

    `class_name` is a class of this module, or the key of a patched pretrained model
    (`module.<model.fc in build_model>`), which the equivalence check cannot build."""
    if binary_head(facts, activation):
        return None, (
            "the head has a single output (a binary classifier): argmax over one column is "
            "always 0; a multi-class head needs one output per class"
        )
    removal = remove_activation(facts, activation)
    if removal is None:
        return None, "the sigmoid is applied in a way that cannot be removed safely"
    removal = [*removal, *unused_attribute_edits(facts, activation)]
    try:
        patched = class_name.startswith(facts.module_name + ".<")
        key = class_name if patched else facts.uninterpreted_flow.key(class_name)
        plan = plan_readers(facts, key, MIGRATION)
    except Refusal as refusal:
        return None, f"not every reader of the output is accounted for: {refusal}"
    relations = () if patched else (ModelRelation(facts.path, class_name, "sigmoid"),)
    edits = (*removal, *plan.edits)
    return Fix(title.format(model=class_name), Applicability.UNSAFE, edits, relations), None


def sigmoid_will_be_removed(facts: ModuleQueries, use: LossUse) -> str | None:
    """None when the sigmoid feeding `use` is taken away by the migration (so a loss that
    becomes CrossEntropyLoss gets logits); otherwise why not."""
    kind = use.input_kind
    if not isinstance(kind, Probs) or kind.activation.op != names.SIGMOID or not kind.exact:
        return (
            f"the input of the loss at line {facts.span(use.call).line} is not proven to be a "
            "sigmoid output that the migration removes"
        )
    activation = kind.activation
    if activation.function == use.function and activation.path == facts.path:
        if loss_path_edits(facts, use, activation) is None:
            return "the sigmoid before the loss cannot be removed safely"
        return None
    owner_facts = facts.facts_for(activation.path)
    if owner_facts is None:
        return "the sigmoid before the loss is applied where the migration does not reach"
    for patched in owner_facts.flow.patched_models:
        if patched.activation.node is activation.node:
            _, reason = model_sigmoid_fix(owner_facts, patched.key, activation, "{model}")
            return reason
    class_name = activation.function.split(".")[0]
    if not activation.function.endswith(".forward"):
        return "the sigmoid before the loss is applied where the migration does not reach"
    _, reason = model_sigmoid_fix(owner_facts, class_name, activation, "{model}")
    return reason


def forward_activation_fix(
    facts: ModuleQueries, activation: Activation, policy: ReaderPolicy, title: str
) -> tuple[Fix | None, str | None]:
    """Move an activation out of a model's `forward`: forward returns the logits, and every
    reader that is not the loss gets the activation back (MC201/MC202/MC204)."""
    owner = facts.facts_for(activation.path)
    class_name, _, method = activation.function.partition(".")
    if owner is None or method != "forward" or class_name not in owner.uninterpreted_flow.classes:
        return None, (
            f"the activation is applied in `{activation.function}`, not in a model's forward; "
            "its other readers are not followed"
        )
    removal = remove_activation(owner, activation)
    if removal is None:
        return None, "the activation cannot be removed from forward safely"
    try:
        plan = plan_readers(owner, owner.uninterpreted_flow.key(class_name), policy)
    except Refusal as refusal:
        return None, f"not every reader of `{class_name}`'s output is accounted for: {refusal}"
    relation = ModelRelation(owner.path, class_name, activation.op)
    edits = (*removal, *plan.edits)
    return Fix(title, Applicability.UNSAFE, edits, (relation,)), None


def unused_attribute_edits(facts: ModuleQueries, activation: Activation) -> list[Edit]:
    """`self.act = nn.Sigmoid()` goes when `self.act(...)` was its only use (it holds no
    parameters, so old checkpoints still load)."""
    call = activation.call
    if call is None or not isinstance(call.func, ast.Attribute):
        return []
    receiver = call.func.value
    if not (isinstance(receiver, ast.Name) and receiver.id == "self"):
        return []
    attribute = call.func.attr
    uses = len(re.findall(rf"\.{re.escape(attribute)}\b", facts.source))
    if uses != 2:  # the assignment and the call being removed
        return []
    constructor = activation.callee
    assign = facts.parents.get(constructor) if constructor is not None else None
    if not isinstance(assign, ast.Assign) or assign.value is not constructor:
        return []
    if not facts.is_only_statement_on_line(assign):
        return []
    span = facts.span(assign)
    return [
        Edit(facts.path, facts.line_offset(span.line), facts.line_offset(span.end_line + 1), "")
    ]


def binary_head(facts: ModuleQueries, activation: Activation) -> bool:
    """Whether the layer under the activation is `nn.Linear(n, 1)`: in the same Sequential, or
    a `self.` attribute the activation's input calls."""
    linear: ast.AST | None = None
    if activation.sequential is not None and activation.element_index:
        elements = arguments(activation.sequential)
        linear = argument_value(elements[activation.element_index - 1])
    elif activation.input is not None:
        inner = activation.input
        while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
            if inner.func.attr in ("squeeze", "view", "flatten", "reshape"):
                inner = inner.func.value
                continue
            break
        if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute):
            attribute = inner.func.attr
            match = re.search(
                rf"self\.{re.escape(attribute)}\s*=\s*((?:nn\.|torch\.nn\.)?Linear\([^()]*\))",
                facts.source,
            )
            if match is not None:
                text = match.group(1)
                layer = ast.parse(text, mode="eval").body
                return _single_output(layer, lambda node: ast.get_source_segment(text, node))
    return _single_output(linear, facts.code)


def _single_output(node: ast.AST | None, code: Callable[[ast.AST], str | None]) -> bool:
    """`Linear(n, 1)` or `Linear(n, out_features=1)`, the `1` written as such."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if name != "Linear":
        return False
    layer_arguments = arguments(node)
    out = next(
        (argument_value(a) for a in layer_arguments if argument_keyword(a) == "out_features"),
        None,
    )
    if out is None and len(layer_arguments) > 1 and argument_keyword(layer_arguments[1]) is None:
        out = argument_value(layer_arguments[1])
    return (
        isinstance(out, ast.Constant)
        and type(out.value) is int
        and out.value == 1
        and code(out) == "1"
    )


def _end_line(statement: ast.stmt) -> int:
    return statement.end_lineno if statement.end_lineno is not None else statement.lineno
