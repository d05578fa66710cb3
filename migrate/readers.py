"""Plan the edits at every place that reads a model's output, when the model stops applying
its output activation (MC101 sigmoid, MC201 softmax in `forward`).

A reader that feeds a loss gets the logits (the loss is migrated or was the bug); a threshold
decision becomes `argmax(dim=1)`; anything else that reads the output gets
`torch.softmax(..., dim=1)`, so it still sees probabilities. A reader the plan cannot account
for (the output returned to unknown callers, passed to a project function, unpacked) makes the
whole fix refuse, with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from migrate import names
from migrate.facts import ModuleFacts
from migrate.fixes import (
    describe,
    loss_path_edits,
    name_occurrences,
    parenthesized,
    remove_activation,
)
from migrate.flow import Activation, LossUse, ModelCall, ModelEscape, Probs
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


def plan_readers(facts: ModuleFacts, class_key: str, policy: ReaderPolicy) -> ReaderPlan:
    """Edits for every call of the model class `class_key` in the whole project."""
    project = facts.project
    all_facts = list(project.by_path.values()) if project is not None else [facts]
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


def _followed(facts: ModuleFacts, escape: ModelEscape) -> bool:
    """A model passed to a project function whose parameter was refined to that model: the
    function's own calls of it are model calls like any other."""
    if escape.function_key is None or facts.project is None:
        return False
    module_name, _, name = escape.function_key.rpartition(".")
    flow = facts.project.flow_of(module_name)
    return flow is not None and flow.refined_with_model(name, escape.class_key)


def _call_edits(facts: ModuleFacts, model_call: ModelCall, policy: ReaderPolicy) -> list[Edit]:
    call = model_call.call
    flow = facts.flow
    if call in flow.loss_inputs:
        _check_loss(facts, call, policy)
        return []
    parent = facts.parents.get(call)
    decision = _decision_node(facts, call) if policy.decisions_to_argmax else None
    if decision is not None:
        return decision_edits(facts, decision, call)
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
        target = parent.targets[0].target
        if isinstance(target, cst.Name):
            return _variable_edits(facts, model_call, target, policy)
        raise Refusal(
            f"the output of `{describe(facts, call)}` is unpacked at line "
            f"{facts.span(call).line}; its elements are not followed"
        )
    if isinstance(parent, cst.Return) and _is_prediction_entry(facts, model_call.function):
        # `predict_step` returns probabilities to whoever predicts: keep giving them.
        return [facts.replace(call, policy.wrap(facts.code(call)))]
    if isinstance(parent, cst.Return):
        raise Refusal(
            f"`{model_call.function}` returns the output of `{describe(facts, call)}` "
            f"(line {facts.span(call).line}); its callers are not followed"
        )
    _check_not_passed_to_unknown(facts, call)
    return [facts.replace(call, policy.wrap(facts.code(call)))]


def _is_prediction_entry(facts: ModuleFacts, function: str) -> bool:
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
    facts: ModuleFacts, model_call: ModelCall, target: cst.Name, policy: ReaderPolicy
) -> list[Edit]:
    flow = facts.flow
    binding = flow.assignments.get(target)
    reads = flow.reads.get(binding, []) if binding is not None else []
    spelled = name_occurrences(facts, model_call.function, target.value)
    if spelled != len(reads) + 1:
        raise Refusal(
            f"`{target.value}` (line {facts.span(target).line}) is assigned or read in ways "
            "that are not followed (reassigned, or read in a nested function)"
        )
    edits: list[Edit] = []
    loss_reads = [read for read in reads if read in flow.loss_inputs]
    for read in loss_reads:
        _check_loss(facts, read, policy)
    other_reads: list[cst.Name] = []
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
        edits.append(facts.replace(read, policy.wrap(read.value)))
    return edits


def _check_loss(facts: ModuleFacts, node: cst.CSTNode, policy: ReaderPolicy) -> None:
    use = facts.flow.loss_inputs[node]
    if use.loss not in policy.losses:
        raise Refusal(
            f"the output feeds `{names.LOSS_DISPLAY[use.loss]}` at line "
            f"{facts.span(use.call).line}, which does not take logits"
        )
    constructor = use.criterion.node
    arguments = constructor.args if isinstance(constructor, cst.Call) else ()
    call_arguments = use.call.args
    for argument in (*arguments, *call_arguments):
        if argument.keyword is not None and argument.keyword.value in _BLOCKING_LOSS_ARGUMENTS:
            if use.loss != names.CROSS_ENTROPY:
                raise Refusal(
                    f"the loss at line {facts.span(use.call).line} uses "
                    f"`{argument.keyword.value}=`, which has no CrossEntropyLoss equivalent"
                )


def _decision_node(facts: ModuleFacts, node: cst.CSTNode) -> cst.CSTNode | None:
    """The threshold expression around `node` (`p > 0.5`, `(p >= t).int()`, `torch.round(p)`,
    `p.round()`), widened to the casts around it; None when `node` is not thresholded."""
    parent = facts.parents.get(node)
    decision: cst.CSTNode | None = None
    if isinstance(parent, cst.Comparison) and parent.left is node and len(parent.comparisons) == 1:
        operator = parent.comparisons[0].operator
        if isinstance(operator, (cst.GreaterThan, cst.GreaterThanEqual)):
            decision = parent
    elif (
        isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value == "round"
    ):
        grand = facts.parents.get(parent)
        if isinstance(grand, cst.Call) and not grand.args:
            decision = grand
    elif isinstance(parent, cst.Arg):
        call = facts.parents.get(parent)
        if isinstance(call, cst.Call) and len(call.args) == 1:
            if facts.imports.qualify(call.func) == "torch.round":
                decision = call
    if decision is None:
        return None
    return widen_decision(facts, decision)


def widen_decision(facts: ModuleFacts, decision: cst.CSTNode) -> cst.CSTNode:
    """`(p > 0.5).int()`: the cast goes with the threshold, argmax is already integral."""
    while True:
        outer = facts.parents.get(decision)
        if (
            isinstance(outer, cst.Attribute)
            and outer.value is decision
            and outer.attr.value in _CASTS
        ):
            call = facts.parents.get(outer)
            if isinstance(call, cst.Call) and not call.args:
                decision = call
                continue
        return decision


def _decision_edit(facts: ModuleFacts, decision: cst.CSTNode, value: cst.BaseExpression) -> Edit:
    return argmax_edit(facts, decision, value)


def argmax_edit(facts: ModuleFacts, decision: cst.CSTNode, value: cst.BaseExpression) -> Edit:
    """Replace the decision, its own parentheses included, by `value.argmax(dim=1)`."""
    start, end = facts.offsets_with_parentheses(decision)
    return Edit(facts.path, start, end, f"{parenthesized(facts, value)}.argmax(dim=1)")


def strip_casts(node: cst.BaseExpression) -> cst.BaseExpression:
    """`y.bool()` -> `y`: the cast is meaningless once the value is taken by argmax."""
    while (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Attribute)
        and node.func.attr.value in _CASTS
        and not node.args
    ):
        node = node.func.value
    return node


def decision_edits(
    facts: ModuleFacts, decision: cst.CSTNode, value: cst.BaseExpression
) -> list[Edit]:
    """The threshold becomes `argmax(dim=1)`, and what compares the decision element-wise is
    adapted to its new shape: a `(N, C)` indicator matrix becomes `(N,)` class indices."""
    return [_decision_edit(facts, decision, value), *decision_followups(facts, decision)]


def decision_followups(facts: ModuleFacts, decision: cst.CSTNode) -> list[Edit]:
    parent = facts.parents.get(decision)
    if isinstance(parent, cst.Comparison):
        raise Refusal(
            f"the decision at line {facts.span(decision).line} is compared in place; its shape "
            "changes from (N, C) to (N,)"
        )
    if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1):
        return []
    target = parent.targets[0].target
    if not isinstance(target, cst.Name):
        return []
    flow = facts.flow
    binding = flow.assignments.get(target)
    edits: list[Edit] = []
    for read in flow.reads.get(binding, []) if binding is not None else []:
        comparison = facts.parents.get(read)
        if not isinstance(comparison, cst.Comparison) or len(comparison.comparisons) != 1:
            continue
        if not isinstance(comparison.comparisons[0].operator, (cst.Equal, cst.NotEqual)):
            continue
        other = comparison.comparisons[0].comparator if comparison.left is read else comparison.left
        if not will_be_class_indices(facts, other):
            if not facts.data_dependent_fixes:
                raise Refusal(
                    f"`{target.value}` is compared with `{describe(facts, other)}` at line "
                    f"{facts.span(comparison).line}, which is not proven to be one-hot; "
                    "rerun with --unsafe-fixes to compare with its argmax"
                )
            base = strip_casts(other)
            edits.append(facts.replace(other, f"{parenthesized(facts, base)}.argmax(dim=1)"))
        edits.extend(_drop_row_reduction(facts, comparison))
    return edits


def _drop_row_reduction(facts: ModuleFacts, comparison: cst.Comparison) -> list[Edit]:
    """`(preds == targets).all(dim=1)` compared rows of labels; on class indices the
    comparison is already per example, so the `.all(dim=1)` goes."""
    attribute = facts.parents.get(comparison)
    if not (
        isinstance(attribute, cst.Attribute)
        and attribute.value is comparison
        and attribute.attr.value in ("all", "any")
    ):
        return []
    call = facts.parents.get(attribute)
    if not isinstance(call, cst.Call) or len(call.args) != 1:
        return []
    if facts.code(call.args[0].value) not in ("1", "-1"):
        return []
    start = facts.offsets(attribute.dot)[0] if attribute.dot in facts.positions else None
    if start is None:
        return []
    end = facts.offsets(call)[1]
    return [Edit(facts.path, start, end, "")]


def one_hot_index(facts: ModuleFacts, node: cst.BaseExpression) -> cst.BaseExpression | None:
    """`idx` when `node` is `F.one_hot(idx, C)` (with casts), or a name assigned exactly that."""
    value: cst.BaseExpression = node
    if isinstance(node, cst.Name):
        assigned = assigned_value(facts, node)
        if assigned is None:
            return None
        value = assigned
    while (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in _CASTS
        and not value.args
    ):
        value = value.func.value
    if isinstance(value, cst.Call) and value.args:
        qualified = facts.imports.qualify(value.func)
        if qualified == "torch.nn.functional.one_hot" and value.args[0].keyword is None:
            return value.args[0].value
    return None


def assigned_value(facts: ModuleFacts, read: cst.Name) -> cst.BaseExpression | None:
    """The value a read name was assigned, when the binding comes from one plain assignment."""
    flow = facts.flow
    # A function interpreted twice (refined parameters) has two bindings for the same read.
    bindings = {binding for binding, reads in flow.reads.items() if read in reads}
    for target, target_binding in flow.assignments.items():
        if target_binding in bindings:
            assign_target = facts.parents.get(target)
            assign = facts.parents.get(assign_target) if assign_target is not None else None
            if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
                return assign.value
    return None


def will_be_class_indices(facts: ModuleFacts, node: cst.BaseExpression) -> bool:
    """A one-hot of class indices: MC106 turns its non-loss reads into the indices."""
    return one_hot_index(facts, node) is not None


def _check_not_passed_to_unknown(facts: ModuleFacts, node: cst.CSTNode) -> None:
    """Refuse when the output is an argument of a call that may be a loss or may forward it to
    one: a parameter, a method of an unknown object, a project function. Builtins and
    functions imported from libraries only read it."""
    parent = facts.parents.get(node)
    if not isinstance(parent, cst.Arg):
        return
    call = facts.parents.get(parent)
    if not isinstance(call, cst.Call):
        return
    func = call.func
    if isinstance(func, cst.Name) and func.value in _READING_BUILTINS:
        if func.value not in facts.imports.names:
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


def torch_import_edits(facts: ModuleFacts) -> list[Edit]:
    """`import torch` after the module's last top-level import, unless `torch` is bound."""
    if facts.imports.names.get("torch") == "torch":
        return []
    last_import: cst.CSTNode | None = None
    for statement in facts.module.body:
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
        ):
            last_import = statement
    if last_import is None:
        return [facts.insert_at(0, "import torch\n")]
    next_line = facts.span(last_import).end_line + 1
    return [facts.insert_at(facts.line_offset(next_line), "import torch\n")]


def model_sigmoid_fix(
    facts: ModuleFacts, class_name: str, activation: Activation, title: str
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


def sigmoid_will_be_removed(facts: ModuleFacts, use: LossUse) -> str | None:
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
    facts: ModuleFacts, activation: Activation, policy: ReaderPolicy, title: str
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


def unused_attribute_edits(facts: ModuleFacts, activation: Activation) -> list[Edit]:
    """`self.act = nn.Sigmoid()` goes when `self.act(...)` was its only use (it holds no
    parameters, so old checkpoints still load)."""
    call = activation.call
    if call is None or not isinstance(call.func, cst.Attribute):
        return []
    receiver = call.func.value
    if not (isinstance(receiver, cst.Name) and receiver.value == "self"):
        return []
    attribute = call.func.attr.value
    uses = len(re.findall(rf"\.{re.escape(attribute)}\b", facts.source))
    if uses != 2:  # the assignment and the call being removed
        return []
    constructor = activation.callee
    assign = facts.parents.get(constructor) if constructor is not None else None
    line = facts.parents.get(assign) if isinstance(assign, cst.Assign) else None
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return []
    span = facts.span(line)
    return [
        Edit(facts.path, facts.line_offset(span.line), facts.line_offset(span.end_line + 1), "")
    ]


def binary_head(facts: ModuleFacts, activation: Activation) -> bool:
    """Whether the layer under the activation is `nn.Linear(n, 1)`: in the same Sequential, or
    a `self.` attribute the activation's input calls."""
    linear: cst.CSTNode | None = None
    if activation.sequential is not None and activation.element_index:
        linear = activation.sequential.args[activation.element_index - 1].value
    elif activation.input is not None:
        inner = activation.input
        while isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute):
            if inner.func.attr.value in ("squeeze", "view", "flatten", "reshape"):
                inner = inner.func.value
                continue
            break
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute):
            attribute = inner.func.attr.value
            match = re.search(
                rf"self\.{re.escape(attribute)}\s*=\s*((?:nn\.|torch\.nn\.)?Linear\([^()]*\))",
                facts.source,
            )
            if match is not None:
                return _single_output(cst.parse_expression(match.group(1)))
    return _single_output(linear)


def _single_output(node: cst.CSTNode | None) -> bool:
    if not isinstance(node, cst.Call) or not node.func:
        return False
    name = (
        node.func.attr.value
        if isinstance(node.func, cst.Attribute)
        else getattr(node.func, "value", "")
    )
    if name != "Linear":
        return False
    out = next(
        (a.value for a in node.args if a.keyword and a.keyword.value == "out_features"), None
    )
    if out is None and len(node.args) > 1 and node.args[1].keyword is None:
        out = node.args[1].value
    return isinstance(out, cst.Integer) and out.value == "1"
