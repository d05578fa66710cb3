"""Edits that several rules share: take an activation out, rename a call, add `dim`.

Each helper returns the edits, or None when it cannot prove the edit keeps the code valid;
the rule then reports without fixing.
"""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from migrate import names
from migrate.facts import ModuleFacts
from migrate.flow import Activation, LogProbs, LossUse, Probs
from migrate.rule import Applicability, Edit, Fix, Span

_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)


def parenthesized(facts: ModuleFacts, node: cst.BaseExpression) -> str:
    code = facts.code(node)
    if isinstance(node, _ATOMIC) or node.lpar:
        return code
    return f"({code})"


def remove_activation(facts: ModuleFacts, activation: Activation) -> list[Edit] | None:
    """Replace `act(x)` by `x`, or drop the activation element from its `nn.Sequential`."""
    if activation.call is not None and activation.input is not None:
        return [facts.replace(activation.call, parenthesized(facts, activation.input))]
    if activation.sequential is not None and activation.element_index is not None:
        return drop_argument(facts, activation.sequential, activation.element_index)
    return None


def drop_argument(facts: ModuleFacts, call: cst.Call, index: int) -> list[Edit] | None:
    args = call.args
    if index >= len(args):
        return None
    if index > 0:
        # From the end of the previous element: its comma and the line break go with it.
        start = facts.offsets(args[index - 1].value)[1]
        end = facts.offsets(args[index].value)[1]
        return [Edit(facts.path, start, end, "")]
    if len(args) == 1:
        # Up to the closing parenthesis, so a trailing comma does not stay behind alone.
        start = facts.offsets(args[0].value)[0]
        end = facts.offsets(call)[1] - 1
        return [Edit(facts.path, start, end, "")]
    start = facts.offsets(args[0].value)[0]
    end = facts.offsets(args[1].value)[0]
    return [Edit(facts.path, start, end, "")]


def input_still_valid(activation: Activation, bindings_at_use: dict[str, int]) -> bool:
    """True when the activation's input expression denotes the same value at the use site."""
    if activation.input_bindings is None:
        return False
    return all(
        bindings_at_use.get(name, 0) == binding for name, binding in activation.input_bindings
    )


def reads_of_result(facts: ModuleFacts, use_node: cst.BaseExpression) -> int | None:
    """How often the variable named by `use_node` is read; None if it is not a name."""
    if not isinstance(use_node, cst.Name):
        return None
    flow = facts.flow
    for reads in flow.reads.values():
        if any(read is use_node for read in reads):
            return len(reads)
    return None


def name_occurrences(facts: ModuleFacts, function_name: str, name: str) -> int:
    """Every `Name` spelled `name` in the function body: a backstop against reads that the
    interpreter does not see (closures, nested functions)."""
    function = facts.flow.function_node(function_name)
    root: cst.CSTNode = function if function is not None else facts.module
    collector = _NameCollector(name)
    root.visit(collector)
    return len(collector.found)


def loss_path_edits(facts: ModuleFacts, use: LossUse, activation: Activation) -> list[Edit] | None:
    """Take the activation off the path into the loss, keeping what other readers see.

    - the activation is the loss input itself: drop it;
    - the loss reads a variable that nothing else reads: drop the activation where it is applied;
    - the variable has other readers, and the activation's input still holds at the loss:
      pass that input to the loss instead;
    - otherwise: no proven fix.
    """
    if activation.function != use.function:
        return None
    if activation.call is not None and activation.call is use.input_node:
        return remove_activation(facts, activation)
    if activation.sequential is not None:
        return None
    if isinstance(use.input_node, cst.Name) and _sole_reader(facts, use, activation):
        return remove_activation(facts, activation)
    if activation.input is not None and input_still_valid(activation, use.bindings_at_call):
        return [facts.replace(use.input_node, facts.code(activation.input))]
    return None


def _sole_reader(facts: ModuleFacts, use: LossUse, activation: Activation) -> bool:
    assert isinstance(use.input_node, cst.Name)
    reads = reads_of_result(facts, use.input_node)
    if reads != 1:
        return False
    # The assignment target and the single read: exactly two spellings in the function.
    return name_occurrences(facts, use.function, use.input_node.value) == 2 and _assigned_once(
        facts, use.function, use.input_node.value
    )


def _assigned_once(facts: ModuleFacts, function_name: str, name: str) -> bool:
    function = facts.flow.function_node(function_name)
    root: cst.CSTNode = function if function is not None else facts.module
    counter = _AssignmentCounter(name)
    root.visit(counter)
    return counter.count == 1


class _AssignmentCounter(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if isinstance(node.target, cst.Name) and node.target.value == self.name:
            self.count += 1


def rename_callee(facts: ModuleFacts, activation: Activation, new_name: str) -> list[Edit] | None:
    """`F.softmax` -> `F.log_softmax`, `z.softmax(1)` -> `z.log_softmax(1)`,
    `nn.Softmax(dim=1)` -> `nn.LogSoftmax(dim=1)`; None when the callee is a bare name."""
    callee = activation.callee
    if isinstance(callee, cst.Attribute):
        return [facts.replace(callee.attr, new_name)]
    return None


def describe(facts: ModuleFacts, node: cst.CSTNode, limit: int = 60) -> str:
    """The source of a node on one line, shortened for a message."""
    text = " ".join(facts.code(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loss_location(
    facts: ModuleFacts, use: LossUse, activation: Activation
) -> tuple[tuple[str, Span], ...]:
    """Where the loss consumes the value, when that is not the activation's own line."""
    loss_span = facts.span(use.call)
    if loss_span.line == facts.span(activation.node).line:
        return ()
    return ((facts.path, loss_span),)


def loss_path_fix(
    facts: ModuleFacts, use: LossUse, activation: Activation, title: str, safe: bool = False
) -> tuple[Fix | None, str | None]:
    """The fix that takes `activation` off the path into `use`, or why there is none."""
    if activation.function != use.function:
        return None, (
            f"the activation is applied in `{activation.function}` and the loss is computed in "
            f"`{use.function}`; removing it would change what every other reader of that value "
            "sees, and not every reader could be proven"
        )
    edits = loss_path_edits(facts, use, activation)
    if edits is None:
        return None, (
            "the activated value has other readers and its input may have changed before the "
            "loss; edit by hand"
        )
    applicability = Applicability.SAFE if safe else Applicability.UNSAFE
    return Fix(title, applicability, tuple(edits)), None


MIXTURE_EPSILON = "1e-12"


def mixture_fix(facts: ModuleFacts, use: LossUse) -> tuple[Fix | None, str | None]:
    """`F.cross_entropy(mix, y)` -> `F.nll_loss(torch.log(mix.clamp_min(eps)), y)`.

    A probability mixture (attention over support labels, an ensemble mean) is part of the
    model's computation: it cannot be un-softmaxed, only given the log the loss expects.
    """
    callee = use.call.func
    if not use.criterion.is_function or not isinstance(callee, cst.Attribute):
        return (
            None,
            "the mixture feeds a loss module; replace it by `nn.NLLLoss` on its log by hand",
        )
    if facts.imports.names.get("torch") != "torch":
        return None, "`torch` is not imported under that name in this module"
    if any(
        arg.keyword is not None and arg.keyword.value == "label_smoothing" for arg in use.call.args
    ):
        return None, "`nll_loss` has no `label_smoothing`"
    probabilities = parenthesized(facts, use.input_node)
    edits = [
        facts.replace(callee.attr, "nll_loss"),
        facts.replace(use.input_node, f"torch.log({probabilities}.clamp_min({MIXTURE_EPSILON}))"),
    ]
    return Fix(
        "Take the log of the mixture and use `nll_loss`", Applicability.UNSAFE, tuple(edits)
    ), None


def loss_references(facts: ModuleFacts, loss: str) -> list[cst.BaseExpression]:
    """Every spelling of the loss `loss` in the module: `nn.BCELoss`, `F.binary_cross_entropy`,
    `torch.nn.BCELoss` (as called, bound to a name, or given as a default)."""
    spelled = {names.BCE: ("BCELoss", "binary_cross_entropy")}.get(loss, ())
    spelled = spelled or {names.BCE_WITH_LOGITS: ("BCEWithLogits", "with_logits")}.get(loss, ())
    if spelled and not any(word in facts.source for word in spelled):
        return []  # a full tree walk costs more than the parse: skip it when it cannot match
    finder = _LossReferenceFinder(facts, loss)
    facts.module.visit(finder)
    return finder.found


class _LossReferenceFinder(cst.CSTVisitor):
    def __init__(self, facts: ModuleFacts, loss: str) -> None:
        self.facts = facts
        self.loss = loss
        self.found: list[cst.BaseExpression] = []

    def _matches(self, node: cst.BaseExpression) -> bool:
        qualified = self.facts.imports.qualify(node)
        return qualified is not None and (
            names.LOSS_MODULES.get(qualified) == self.loss
            or names.LOSS_FUNCTIONS.get(qualified) == self.loss
        )

    def _used_as_loss(self, node: cst.BaseExpression) -> bool:
        """Called, or handed on as a loss: bound to a name, a default, an argument, returned.
        Not a dict key or a comparison (`torch/overrides.py` lists functions as keys)."""
        parent = self.facts.parents.get(node)
        if isinstance(parent, cst.Call):
            return parent.func is node
        return isinstance(parent, (cst.Assign, cst.AnnAssign, cst.Param, cst.Arg, cst.Return))

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if self._matches(node):
            if self._used_as_loss(node):
                self.found.append(node)
            return False
        return True

    def visit_Name(self, node: cst.Name) -> None:
        parent = self.facts.parents.get(node)
        if isinstance(parent, (cst.Attribute, cst.ImportAlias, cst.AsName)):
            return
        if isinstance(parent, (cst.ClassDef, cst.FunctionDef, cst.Param)):
            return
        if self._matches(node) and self._used_as_loss(node):
            self.found.append(node)

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False


def loss_to_cross_entropy(
    facts: ModuleFacts, reference: cst.BaseExpression, blocking: frozenset[str]
) -> tuple[Fix | None, str | None]:
    """`nn.BCELoss(...)` -> `nn.CrossEntropyLoss(...)`, `F.binary_cross_entropy` ->
    `F.cross_entropy`, keeping `reduction`; arguments without an equivalent block the fix."""
    qualified = facts.imports.qualify(reference) or ""
    is_module = qualified in names.LOSS_MODULES
    new_name = "CrossEntropyLoss" if is_module else "cross_entropy"
    parent = facts.parents.get(reference)
    call = parent if isinstance(parent, cst.Call) and parent.func is reference else None
    if call is not None:
        for argument in call.args:
            keyword = argument.keyword.value if argument.keyword is not None else None
            if keyword in blocking:
                return None, (
                    f"`{keyword}=` has no CrossEntropyLoss equivalent; use `weight=` with one "
                    "weight per class (for example inverse class frequencies)"
                )
            if keyword in ("size_average", "reduce"):
                return None, f"legacy `{keyword}=`: replace it by `reduction=` first"
            limit = 2 if not is_module else 0
            if keyword is None and is_module and argument is call.args[0]:
                return None, "positional arguments to the loss constructor; name them first"
            if keyword is None and not is_module and call.args.index(argument) >= limit:
                return None, "positional loss options; name them first"
    if isinstance(reference, cst.Attribute):
        edit = facts.replace(reference.attr, new_name)
    else:
        module = "torch.nn" if is_module else "torch.nn.functional"
        holder = next(
            (local for local, full in facts.imports.names.items() if full == module), None
        )
        if holder is None:
            return None, f"`{facts.code(reference)}` is imported by name; import `{module}` first"
        edit = facts.replace(reference, f"{holder}.{new_name}")
    title = f"Use `{new_name}` on logits"
    return Fix(title, Applicability.UNSAFE, (edit,)), None


def activation_into_loss(
    facts: ModuleFacts, op: str, losses: frozenset[str], log_probs: bool = False
) -> Iterator[tuple[LossUse, Activation, bool]]:
    """Loss uses in this module whose input is the output of activation `op`, or for
    `log_probs` the output of `log_softmax`; the flag is False when the output was shifted
    or clamped on the way (`p + eps`), so the activation cannot simply be removed."""
    for use in facts.flow.loss_uses:
        if use.loss not in losses:
            continue
        kind = use.input_kind
        if log_probs:
            if isinstance(kind, LogProbs) and not kind.unstable and kind.activation is not None:
                yield use, kind.activation, True
        elif isinstance(kind, Probs) and kind.activation.op == op:
            yield use, kind.activation, kind.exact


def import_removal_edits(facts: ModuleFacts, local_name: str, uses_removed: int) -> list[Edit]:
    """Delete `import x as local_name` when the edits remove its last `uses_removed` uses.

    Only a statement that imports nothing else is deleted, whole line included."""
    counter = _NameCollector(local_name)
    facts.module.visit(counter)
    import_line: cst.SimpleStatementLine | None = None
    spellings_in_imports = 0
    for statement in facts.module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        small = statement.body[0]
        if not isinstance(small, (cst.Import, cst.ImportFrom)) or isinstance(
            small.names, cst.ImportStar
        ):
            continue
        for alias in small.names:
            bound = alias.asname.name if alias.asname is not None else alias.name
            if isinstance(bound, cst.Name) and bound.value == local_name:
                spellings_in_imports += 1
                if len(small.names) == 1:
                    import_line = statement
    if import_line is None or len(counter.found) - spellings_in_imports != uses_removed:
        return []
    span = facts.span(import_line)
    return [
        Edit(facts.path, facts.line_offset(span.line), facts.line_offset(span.end_line + 1), "")
    ]


def unfollowed_spellings(facts: ModuleFacts, function_name: str, name: str) -> int:
    """How many spellings of `name` in the function the interpreter neither saw read nor saw
    assigned: reads in nested functions, `del`, `global`... A fix that relies on knowing every
    reader of a variable needs this to be 0."""
    function = facts.flow.function_node(function_name)
    root: cst.CSTNode = function if function is not None else facts.module
    collector = _NameCollector(name)
    root.visit(collector)
    flow = facts.flow
    known: set[int] = {id(target) for target in flow.assignments}
    for reads in flow.reads.values():
        known.update(id(read) for read in reads)
    return sum(1 for node in collector.found if id(node) not in known)


class _NameCollector(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[cst.Name] = []

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == self.name:
            self.found.append(node)
