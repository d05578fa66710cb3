"""Edits that several rules share: take an activation out, rename a call, add `dim`.

Each helper returns the edits, or None when it cannot prove the edit keeps the code valid;
the rule then reports without fixing.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass

from migrate.analysis.api import Activation, LogProbs, LossUse, ModuleQueries, Probs, names
from migrate.rule import Applicability, Edit, Fix, Span

_ATOMIC = (ast.Name, ast.Attribute, ast.Call, ast.Subscript)


def _is_atomic(node: ast.expr) -> bool:
    """A name, attribute, call, subscript or number: needs no parentheses before `.method`.
    (`True` and `None` are names, a string or `1j` is not a number here.)"""
    if isinstance(node, _ATOMIC):
        return True
    return isinstance(node, ast.Constant) and (
        node.value is None or type(node.value) in (int, float, bool)
    )


def parenthesized(facts: ModuleQueries, node: ast.expr) -> str:
    code = facts.code(node)
    if _is_atomic(node) or facts.has_parentheses(node):
        return code
    return f"({code})"


def arguments(call: ast.Call) -> list[ast.expr | ast.keyword]:
    """Positional and keyword arguments in the order they are written."""
    return names.source_order_arguments(call)


def argument_keyword(argument: ast.expr | ast.keyword) -> str | None:
    """The keyword an argument is passed with; None for `x`, `*x` and `**x`."""
    return argument.arg if isinstance(argument, ast.keyword) else None


def argument_value(argument: ast.expr | ast.keyword) -> ast.expr:
    """The expression an argument passes: `v` of `k=v`, `x` of `*x` and of `**x`."""
    if isinstance(argument, (ast.keyword, ast.Starred)):
        return argument.value
    return argument


def argument_count(call: ast.Call) -> int:
    return len(call.args) + len(call.keywords)


def argument_call(facts: ModuleQueries, node: ast.AST) -> ast.Call | None:
    """The call that `node` is an argument of (`f(node)`, `f(k=node)`, `f(*node)`,
    `f(**node)`); None otherwise."""
    parent = facts.parents.get(node)
    if isinstance(parent, ast.Call):
        return parent if parent.func is not node else None
    if isinstance(parent, ast.Starred):
        call = facts.parents.get(parent)
        if isinstance(call, ast.Call) and any(arg is parent for arg in call.args):
            return call
        return None
    if isinstance(parent, ast.keyword):
        call = facts.parents.get(parent)
        return call if isinstance(call, ast.Call) else None
    return None


def attribute_name_offsets(facts: ModuleQueries, attribute: ast.Attribute) -> tuple[int, int]:
    """The range of the name after the dot (`softmax` of `F.softmax`): the end of the
    attribute's own text."""
    end = facts.offsets(attribute)[1]
    start = end
    while start > 0 and f"a{facts.source[start - 1]}".isidentifier():
        start -= 1
    return start, end


def replace_attribute_name(facts: ModuleQueries, attribute: ast.Attribute, text: str) -> Edit:
    start, end = attribute_name_offsets(facts, attribute)
    return Edit(facts.path, start, end, text)


def remove_activation(facts: ModuleQueries, activation: Activation) -> list[Edit] | None:
    """Replace `act(x)` by `x`, or drop the activation element from its `nn.Sequential`."""
    if activation.call is not None and activation.input is not None:
        return [facts.replace(activation.call, parenthesized(facts, activation.input))]
    if activation.sequential is not None and activation.element_index is not None:
        return drop_argument(facts, activation.sequential, activation.element_index)
    return None


def drop_argument(facts: ModuleQueries, call: ast.Call, index: int) -> list[Edit] | None:
    args = [argument_value(argument) for argument in arguments(call)]
    if index >= len(args):
        return None
    if index > 0:
        # From the end of the previous element: its comma and the line break go with it.
        start = facts.offsets(args[index - 1])[1]
        end = facts.offsets(args[index])[1]
        return [Edit(facts.path, start, end, "")]
    if len(args) == 1:
        # Up to the closing parenthesis, so a trailing comma does not stay behind alone.
        start = facts.offsets(args[0])[0]
        end = facts.offsets(call)[1] - 1
        return [Edit(facts.path, start, end, "")]
    start = facts.offsets(args[0])[0]
    end = facts.offsets(args[1])[0]
    return [Edit(facts.path, start, end, "")]


def input_still_valid(activation: Activation, bindings_at_use: dict[str, int]) -> bool:
    """True when the activation's input expression denotes the same value at the use site."""
    if activation.input_bindings is None:
        return False
    return all(
        bindings_at_use.get(name, 0) == binding for name, binding in activation.input_bindings
    )


def reads_of_result(facts: ModuleQueries, use_node: ast.AST) -> int | None:
    """How often the variable named by `use_node` is read; None if it is not a name."""
    if not isinstance(use_node, ast.Name):
        return None
    flow = facts.flow
    for reads in flow.reads.values():
        if any(read is use_node for read in reads):
            return len(reads)
    return None


def _scope(facts: ModuleQueries, function_name: str) -> ast.AST:
    function = facts.flow.function_node(function_name)
    return function if function is not None else facts.tree


def name_occurrences(facts: ModuleQueries, function_name: str, name: str) -> int:
    """Every spelling of `name` in the function (variables, attribute names, keywords,
    parameters, definitions, imports): a backstop against reads that the interpreter does
    not see (closures, nested functions)."""
    return len(spellings(_scope(facts, function_name), name))


def spellings(root: ast.AST, name: str) -> list[ast.AST]:
    """Every place under `root` where the identifier `name` is written: a `Name`, or the node
    that spells it (`x.name`, `f(name=...)`, `def name`, `import a as name`, `global name`,
    ...), once per spelling."""
    found: list[ast.AST] = []
    for node in ast.walk(root):
        spelled: list[str | None]
        if isinstance(node, ast.Name):
            spelled = [node.id]
        elif isinstance(node, ast.Attribute):
            spelled = [node.attr]
        elif isinstance(node, ast.keyword):
            spelled = [node.arg]
        elif isinstance(node, ast.arg):
            spelled = [node.arg]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            spelled = [node.name]
        elif isinstance(node, ast.alias):
            spelled = [*node.name.split("."), node.asname]
        elif isinstance(node, ast.ImportFrom):
            spelled = list(node.module.split(".")) if node.module else []
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            spelled = list(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            spelled = [node.name]
        elif isinstance(node, ast.MatchMapping):
            spelled = [node.rest]
        elif isinstance(node, ast.MatchClass):
            spelled = list(node.kwd_attrs)
        else:
            continue
        found.extend(node for word in spelled if word == name)
    return found


def loss_path_edits(
    facts: ModuleQueries, use: LossUse, activation: Activation
) -> list[Edit] | None:
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
    if isinstance(use.input_node, ast.Name) and _sole_reader(facts, use, activation):
        return remove_activation(facts, activation)
    if activation.input is not None and input_still_valid(activation, use.bindings_at_call):
        return [facts.replace(use.input_node, facts.code(activation.input))]
    return None


def _sole_reader(facts: ModuleQueries, use: LossUse, activation: Activation) -> bool:
    assert isinstance(use.input_node, ast.Name)
    reads = reads_of_result(facts, use.input_node)
    if reads != 1:
        return False
    # The assignment target and the single read: exactly two spellings in the function.
    return name_occurrences(facts, use.function, use.input_node.id) == 2 and _assigned_once(
        facts, use.function, use.input_node.id
    )


def _assigned_once(facts: ModuleQueries, function_name: str, name: str) -> bool:
    """Exactly one plain `name = ...` target (chained targets count one each; tuple
    targets, `+=`, annotated assignments and loops do not count)."""
    count = 0
    for node in ast.walk(_scope(facts, function_name)):
        if isinstance(node, ast.Assign):
            count += sum(
                1 for target in node.targets if isinstance(target, ast.Name) and target.id == name
            )
    return count == 1


def rename_callee(facts: ModuleQueries, activation: Activation, new_name: str) -> list[Edit] | None:
    """`F.softmax` -> `F.log_softmax`, `z.softmax(1)` -> `z.log_softmax(1)`,
    `nn.Softmax(dim=1)` -> `nn.LogSoftmax(dim=1)`; None when the callee is a bare name."""
    callee = activation.callee
    if isinstance(callee, ast.Attribute):
        return [replace_attribute_name(facts, callee, new_name)]
    return None


def describe(facts: ModuleQueries, node: ast.AST, limit: int = 60) -> str:
    """The source of a node on one line, shortened for a message."""
    text = " ".join(facts.code(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loss_location(
    facts: ModuleQueries, use: LossUse, activation: Activation
) -> tuple[tuple[str, Span], ...]:
    """Where the loss consumes the value, when that is not the activation's own line."""
    loss_span = facts.span(use.call)
    if loss_span.line == facts.span(activation.node).line:
        return ()
    return ((facts.path, loss_span),)


def loss_path_fix(
    facts: ModuleQueries, use: LossUse, activation: Activation, title: str, safe: bool = False
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


def mixture_fix(facts: ModuleQueries, use: LossUse) -> tuple[Fix | None, str | None]:
    """`F.cross_entropy(mix, y)` -> `F.nll_loss(torch.log(mix.clamp_min(eps)), y)`.

    A probability mixture (attention over support labels, an ensemble mean) is part of the
    model's computation: it cannot be un-softmaxed, only given the log the loss expects.
    """
    callee = use.call.func
    if not use.criterion.is_function or not isinstance(callee, ast.Attribute):
        return (
            None,
            "the mixture feeds a loss module; replace it by `nn.NLLLoss` on its log by hand",
        )
    if facts.imports.names.get("torch") != "torch":
        return None, "`torch` is not imported under that name in this module"
    if any(keyword.arg == "label_smoothing" for keyword in use.call.keywords):
        return None, "`nll_loss` has no `label_smoothing`"
    probabilities = parenthesized(facts, use.input_node)
    edits = [
        replace_attribute_name(facts, callee, "nll_loss"),
        facts.replace(use.input_node, f"torch.log({probabilities}.clamp_min({MIXTURE_EPSILON}))"),
    ]
    return Fix(
        "Take the log of the mixture and use `nll_loss`", Applicability.UNSAFE, tuple(edits)
    ), None


def loss_references(facts: ModuleQueries, loss: str) -> list[ast.expr]:
    """Every spelling of the loss `loss` in the module: `nn.BCELoss`, `F.binary_cross_entropy`,
    `torch.nn.BCELoss` (as called, bound to a name, or given as a default)."""
    spelled = {names.BCE: ("BCELoss", "binary_cross_entropy")}.get(loss, ())
    spelled = spelled or {names.BCE_WITH_LOGITS: ("BCEWithLogits", "with_logits")}.get(loss, ())
    if spelled and not any(word in facts.source for word in spelled):
        return []  # a full tree walk costs more than the parse: skip it when it cannot match
    finder = _LossReferenceFinder(facts, loss)
    finder.visit(facts.tree)
    # In the order they are written (a visit follows the fields, not the text).
    return sorted(finder.found, key=lambda node: (node.lineno, node.col_offset))


class _LossReferenceFinder(ast.NodeVisitor):
    def __init__(self, facts: ModuleQueries, loss: str) -> None:
        self.facts = facts
        self.loss = loss
        self.found: list[ast.expr] = []

    def _matches(self, node: ast.expr) -> bool:
        qualified = self.facts.imports.qualify(node)
        return qualified is not None and (
            names.LOSS_MODULES.get(qualified) == self.loss
            or names.LOSS_FUNCTIONS.get(qualified) == self.loss
        )

    def _used_as_loss(self, node: ast.expr) -> bool:
        """Called, or handed on as a loss: bound to a name, a default, an argument, returned.
        Not a dict key or a comparison (`torch/overrides.py` lists functions as keys)."""
        parent = self.facts.parents.get(node)
        if isinstance(parent, ast.Call):
            return True  # the callee, or an argument
        if isinstance(parent, ast.Assign):
            return parent.value is node
        if isinstance(parent, ast.AnnAssign):
            return parent.annotation is not node
        if isinstance(parent, ast.ClassDef):
            return any(base is node for base in parent.bases)  # `class L(nn.BCELoss)`
        if isinstance(parent, ast.Starred):
            return argument_call(self.facts, parent) is not None
        # A default (`def f(loss=nn.BCELoss)`), a keyword argument, a return value.
        return isinstance(parent, (ast.arguments, ast.keyword, ast.Return))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self._matches(node):
            if self._used_as_loss(node):
                self.found.append(node)
            return
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        parent = self.facts.parents.get(node)
        # Part of an attribute, or a parameter's default given by its bare name.
        if isinstance(parent, (ast.Attribute, ast.arguments)):
            return
        if self._matches(node) and self._used_as_loss(node):
            self.found.append(node)


def loss_to_cross_entropy(
    facts: ModuleQueries, reference: ast.expr, blocking: frozenset[str]
) -> tuple[Fix | None, str | None]:
    """`nn.BCELoss(...)` -> `nn.CrossEntropyLoss(...)`, `F.binary_cross_entropy` ->
    `F.cross_entropy`, keeping `reduction`; arguments without an equivalent block the fix."""
    qualified = facts.imports.qualify(reference) or ""
    is_module = qualified in names.LOSS_MODULES
    new_name = "CrossEntropyLoss" if is_module else "cross_entropy"
    parent = facts.parents.get(reference)
    call = parent if isinstance(parent, ast.Call) and parent.func is reference else None
    if call is not None:
        for index, argument in enumerate(arguments(call)):
            keyword = argument_keyword(argument)
            if keyword in blocking:
                return None, (
                    f"`{keyword}=` has no CrossEntropyLoss equivalent; use `weight=` with one "
                    "weight per class (for example inverse class frequencies)"
                )
            if keyword in ("size_average", "reduce"):
                return None, f"legacy `{keyword}=`: replace it by `reduction=` first"
            limit = 2 if not is_module else 0
            if keyword is None and is_module and index == 0:
                return None, "positional arguments to the loss constructor; name them first"
            if keyword is None and not is_module and index >= limit:
                return None, "positional loss options; name them first"
    if isinstance(reference, ast.Attribute):
        edit = replace_attribute_name(facts, reference, new_name)
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
    facts: ModuleQueries, op: str, losses: frozenset[str], log_probs: bool = False
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


def route_note(use: LossUse) -> str:
    """` (route: train.py:105 → train:79 → train_single_epoch:66)` when the criterion or the
    value was handed down through calls, so a reader can follow it."""
    notes = []
    if use.route:
        hops = [*use.route, f"{use.function.rsplit('.', 1)[-1]}:{use.call.lineno}"]
        notes.append(f"route: {' → '.join(hops)}")
    if use.chosen is not None:
        notes.append(f"when the run chooses `{use.chosen}`")
    return f" ({'; '.join(notes)})" if notes else ""


def choice_reason(chosen: str) -> str:
    return (
        f"the model or the criterion is chosen at run time (`{chosen}` is one option); "
        "fix each option by hand"
    )


def mode_reason(mode: str) -> str:
    return (
        f"the activation is applied only when the model is in {mode} mode "
        "(an `if self.training:` branch); decide for the other mode by hand"
    )


def import_removal_edits(facts: ModuleQueries, local_name: str, uses_removed: int) -> list[Edit]:
    """Delete `import x as local_name` when the edits remove its last `uses_removed` uses.

    Only a statement that imports nothing else is deleted, whole line included."""
    spelled = len(spellings(facts.tree, local_name))
    import_line: ast.stmt | None = None
    spellings_in_imports = 0
    for statement in facts.tree.body:
        if not isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if not facts.is_only_statement_on_line(statement):
            continue
        for alias in statement.names:
            bound = alias.asname if alias.asname is not None else alias.name
            if bound == local_name:
                spellings_in_imports += 1
                if len(statement.names) == 1:
                    import_line = statement
    if import_line is None or spelled - spellings_in_imports != uses_removed:
        return []
    span = facts.span(import_line)
    return [
        Edit(facts.path, facts.line_offset(span.line), facts.line_offset(span.end_line + 1), "")
    ]


def unfollowed_spellings(facts: ModuleQueries, function_name: str, name: str) -> int:
    """How many spellings of `name` in the function the interpreter neither saw read nor saw
    assigned: reads in nested functions, `del`, `global`... A fix that relies on knowing every
    reader of a variable needs this to be 0."""
    found = spellings(_scope(facts, function_name), name)
    flow = facts.flow
    known: set[int] = {id(target) for target in flow.assignments}
    for reads in flow.reads.values():
        known.update(id(read) for read in reads)
    return sum(1 for node in found if id(node) not in known)


@dataclass(frozen=True)
class StringLiteral:
    """A `str` constant written as one literal, and how it is spelled."""

    node: ast.Constant
    value: str
    prefix: str  # lowercase, as libcst gave it (`R"..."` was rewritten as `r"..."`)
    quote: str  # `'`, `"`, `'''` or `"""`

    def respelled(self, text: str) -> str:
        """`text` written with the same prefix and quotes."""
        return f"{self.prefix}{self.quote}{text}{self.quote}"


def string_literal(facts: ModuleQueries, node: ast.expr) -> StringLiteral | None:
    """The literal behind a `str` constant, unless it is an implicit concatenation or an
    f-string (a rewrite of those would not keep what the user wrote)."""
    if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
        return None
    code = facts.code(node)
    try:
        tokens = [
            token
            for token in tokenize.generate_tokens(io.StringIO(code).readline)
            if token.type not in _LAYOUT_TOKENS
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    if len(tokens) != 1 or tokens[0].type != tokenize.STRING:
        return None
    opening = min(index for index in (code.find('"'), code.find("'")) if index >= 0)
    body = code[opening:]
    triple = len(body) >= 6 and body[1] == body[0] and body[2] == body[0]
    quote = body[:3] if triple else body[0]
    return StringLiteral(node, node.value, code[:opening].lower(), quote)


_LAYOUT_TOKENS = frozenset(
    {tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT}
)
