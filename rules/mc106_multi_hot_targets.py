from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence

from migrate.analysis.api import ModuleQueries
from migrate.fixing.edits import (
    describe,
    import_removal_edits,
    name_occurrences,
    unfollowed_spellings,
)
from migrate.fixing.readers import _CASTS, one_hot_index
from migrate.rule import Applicability, Edit, Fix, Invalid, Rule, Valid, Violation


class MultiHotTargets(Rule):
    """
    ## What it does
    Finds targets built as one-hot or multi-hot floats for a loss
    (`F.one_hot(y, C).float()`, `y.float()`), and one-hot targets read beside the loss.

    ## Why is this bad?
    `CrossEntropyLoss` takes class indices. One-hot float targets stay valid (they are read as
    class probabilities), so those are only reported. But a multi-class decision is a `(N,)`
    tensor of class indices: metrics and comparisons that read the one-hot `(N, C)` targets
    no longer line up with it.

    ## Example
    ```python
    targets = F.one_hot(labels, C).float()
    loss = criterion(logits, targets)
    f1.update(preds, targets.long())
    ```

    ## Use instead
    ```python
    targets = F.one_hot(labels, C).float()
    loss = criterion(logits, targets)
    f1.update(preds, labels)
    ```

    ## Fix safety
    Unsafe. A one-hot of known class indices read outside the loss is replaced by the indices
    (exact: `argmax(one_hot(y)) == y`); the loss target is left alone. Targets whose content is
    unknown (`y.float()` from a data loader) are reported without a fix: turning them into
    `y.argmax(dim=1)` is right only for single-label data.
    """

    code = "MC106"
    name = "multi-hot-targets"
    summary = "One-hot / multi-hot float targets"
    message = "`{target}` builds one-hot class targets; a multi-class pipeline reads class indices"
    fix_title = "Read the class indices outside the loss"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(logits, labels)
            """,
            id="class-indices",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            targets = F.one_hot(labels, 5).float()
            loss = criterion(logits, targets)
            """,
            id="one-hot-only-for-the-loss",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            targets = F.one_hot(labels, 5).float()
            loss = F.cross_entropy(logits, targets)
            metric.update(preds, targets.long())
            """,
            fixed="""
            import torch.nn.functional as F
            targets = F.one_hot(labels, 5).float()
            loss = F.cross_entropy(logits, targets)
            metric.update(preds, labels)
            """,
            id="one-hot-read-by-a-metric",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            targets = F.one_hot(labels, 5)
            metric.update(preds, targets)
            """,
            fixed="""
            import torch
            targets = labels
            metric.update(preds, targets)
            """,
            id="one-hot-only-for-metrics",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        if "one_hot" not in facts.source and ".float()" not in facts.source:
            return
        flow = facts.flow
        loss_targets = {id(use.target_node) for use in flow.loss_uses if use.target_node}
        for target, binding in list(flow.assignments.items()):
            assign = facts.parents.get(target)
            if (
                not isinstance(assign, ast.Assign)
                or len(assign.targets) != 1
                or assign.targets[0] is not target
            ):
                continue
            index = one_hot_index(facts, assign.value)
            if index is None:
                continue
            message = self.message.format(target=describe(facts, assign.value))
            reads = flow.reads.get(binding, [])
            other = [read for read in reads if id(read) not in loss_targets]
            fix, reason = self._fix(facts, target, assign, index, reads, other)
            yield self.violation(facts, assign.value, message, fix, reason)
        for use in flow.loss_uses:
            node = use.target_node
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "float"
                and isinstance(node.func.value, ast.Name)
                and not node.args
                and not node.keywords
            ):
                message = self.message.format(target=describe(facts, node))
                reason = (
                    "the targets' content is unknown; "
                    "`argmax(dim=1)` is right only for single-label data"
                )
                yield self.violation(facts, node, message, None, reason)

    def _fix(
        self,
        facts: ModuleQueries,
        target: ast.Name,
        assign: ast.Assign,
        index: ast.expr,
        reads: Sequence[ast.Name],
        other: Sequence[ast.Name],
    ) -> tuple[Fix | None, str | None]:
        if not other:
            return (
                None,
                "one-hot float targets stay valid for CrossEntropyLoss (class probabilities)",
            )
        if not isinstance(index, ast.Name):
            return None, "the class indices are not a plain variable"
        function = next(
            (
                name
                for name, node in facts.flow.function_nodes.items()
                if facts.contains(node, target)
            ),
            "<module>",
        )
        if name_occurrences(facts, function, index.id) == 0 or _reassigned_between(
            facts, function, index.id, assign, reads
        ):
            return None, f"`{index.id}` may change between the one-hot and its readers"
        for read in other:
            reader = _unsafe_reader(facts, read)
            if reader is not None:
                return None, (
                    f"`{target.id}` is also read by `{reader}` (line {facts.span(read).line}), "
                    "which may carry it to a loss"
                )
        if unfollowed_spellings(facts, function, target.id):
            return None, f"`{target.id}` is read in ways that are not followed"
        edits: list[Edit]
        if len(other) == len(reads):
            edits = [facts.replace(assign.value, index.id)]
            callee = assign.value
            while (
                isinstance(callee, ast.Call)
                and isinstance(callee.func, ast.Attribute)
                and callee.func.attr in _CASTS
            ):
                callee = callee.func.value
            if isinstance(callee, ast.Call) and isinstance(callee.func, ast.Attribute):
                holder = callee.func.value
                if isinstance(holder, ast.Name):
                    edits.extend(import_removal_edits(facts, holder.id, 1))
        else:
            edits = [facts.replace(_widened(facts, read), index.id) for read in other]
        return Fix(self.fix_title, Applicability.UNSAFE, tuple(edits)), None


_METRIC_METHODS = frozenset({"update", "append", "extend", "forward_metric"})
_METRIC_LIBRARIES = ("torchmetrics", "sklearn.metrics")
_MOVES = frozenset({"cpu", "detach", "numpy", "to", "cuda", "tolist"})


def _unsafe_reader(facts: ModuleQueries, read: ast.Name) -> str | None:
    """Where a one-hot read goes, unless that is a metric or a comparison with a decision:
    a metric's `.update(...)`, a list `.append(...)`, a torchmetrics / scikit-learn function,
    or `preds == targets`. Anything else (a dataset, a loss, an unknown function) may carry
    the targets to a loss."""
    node: ast.AST = _widened(facts, read)
    while True:  # `targets.cpu()`, `targets.detach().numpy()`
        attribute = facts.parents.get(node)
        if (
            isinstance(attribute, ast.Attribute)
            and attribute.value is node
            and attribute.attr in _MOVES
        ):
            call = facts.parents.get(attribute)
            if isinstance(call, ast.Call) and call.func is attribute:
                node = call
                continue
        break
    parent = facts.parents.get(node)
    if isinstance(parent, ast.Compare):
        return None
    argument = _argument(facts, node)
    if argument is not None:
        (start, end), owner = argument
        if isinstance(owner, ast.Call):
            func = owner.func
            if isinstance(func, ast.Attribute) and func.attr in _METRIC_METHODS:
                return None
            qualified = facts.imports.qualify(func) or ""
            if qualified.startswith(_METRIC_LIBRARIES):
                return None
            return facts.code(func)
        return _shortened(facts.source[start:end])
    if parent is None:
        return "an unknown reader"
    around = _enclosing_range(facts, node, parent)
    if around is not None:
        return _shortened(facts.source[around[0] : around[1]])
    return describe(facts, parent)


def _argument(facts: ModuleQueries, node: ast.AST) -> tuple[tuple[int, int], ast.AST] | None:
    """The range of the argument that passes `node` (`x`, `*x`, `key=x`, `**x`) and the call
    or class statement it is passed to; None when `node` is not an argument."""
    parent = facts.parents.get(node)
    if isinstance(parent, ast.Call) and any(arg is node for arg in parent.args):
        return facts.offsets_with_parentheses(node), parent
    if isinstance(parent, ast.ClassDef) and any(base is node for base in parent.bases):
        return facts.offsets_with_parentheses(node), parent
    if isinstance(parent, ast.keyword):
        owner = facts.parents.get(parent)
        if owner is not None:
            return facts.offsets(parent), owner
    if isinstance(parent, ast.Starred):
        owner = facts.parents.get(parent)
        if (isinstance(owner, ast.Call) and any(arg is parent for arg in owner.args)) or (
            isinstance(owner, ast.ClassDef) and any(base is parent for base in owner.bases)
        ):
            return facts.offsets(parent), owner
    return None


def _enclosing_range(
    facts: ModuleQueries, node: ast.AST, parent: ast.AST
) -> tuple[int, int] | None:
    """The range of the piece of syntax that directly holds `node` where `ast` has no node
    of its own for it, or a node of a different extent (an element of a list or a subscript,
    a dictionary entry, a `for ... in` / `if` clause, a `with` item, a parameter's default, a
    decorator, an f-string field, one pair of `a and b and c`); None when it is `parent`."""
    own = facts.offsets_with_parentheses
    source = facts.source
    if isinstance(parent, (ast.List, ast.Tuple, ast.Set)):
        return own(node)
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return own(node)
    if isinstance(parent, ast.Delete) and len(parent.targets) > 1:
        return own(node)
    if isinstance(parent, ast.Dict):
        for key, value in zip(parent.keys, parent.values, strict=True):
            if key is node or value is node:
                if key is None:
                    start = source.rindex("**", 0, own(value)[0])
                    return start, own(value)[1]
                return own(key)[0], own(value)[1]
        return None
    if isinstance(parent, ast.BoolOp):
        # `a and b and c` is `(a and b) and c` in libcst terms: `b` is read by `a and b`.
        position = next(i for i, value in enumerate(parent.values) if value is node)
        return own(parent.values[0])[0], own(parent.values[max(position, 1)])[1]
    if isinstance(parent, ast.comprehension):
        if any(condition is node for condition in parent.ifs):
            start, end = own(node)
            return source.rindex("if", 0, start), end
        holder = facts.parents.get(parent)
        generators: list[ast.comprehension] = getattr(holder, "generators", [parent])
        last = generators[-1]
        start = source.rindex("for", 0, own(parent.target)[0])
        if parent.is_async:
            start = source.rindex("async", 0, start)
        return start, own(last.ifs[-1] if last.ifs else last.iter)[1]
    if isinstance(parent, ast.withitem):
        start, end = own(parent.context_expr)
        if parent.optional_vars is not None:
            end = own(parent.optional_vars)[1]
        return start, end
    if isinstance(parent, ast.arguments):
        # A default value: the parameter's name.
        positional = parent.posonlyargs + parent.args
        with_default = positional[len(positional) - len(parent.defaults) :]
        pairs: list[tuple[ast.arg, ast.expr | None]] = list(
            zip(with_default, parent.defaults, strict=True)
        )
        pairs.extend(zip(parent.kwonlyargs, parent.kw_defaults, strict=True))
        for parameter, default in pairs:
            if default is node:
                start = facts.offsets(parameter)[0]
                return start, start + len(parameter.arg)
        return None
    if isinstance(parent, ast.match_case):
        start = source.rindex("case", 0, own(parent.pattern)[0])
        return start, facts.offsets(parent.body[-1])[1]
    if isinstance(parent, ast.FormattedValue) and parent.value is node:
        # The `{...}` field, up to its closing brace (a format spec may nest fields).
        start, end = own(node)
        opening = source.rfind("{", 0, start)
        if opening < 0:  # Python 3.11 misplaces some expressions of multi-line f-strings
            return None
        depth = 1
        while depth and end < len(source):
            depth += {"{": 1, "}": -1}.get(source[end], 0)
            end += 1
        return opening, end
    if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
        decorator is node for decorator in parent.decorator_list
    ):
        start, end = own(node)
        return source.rindex("@", 0, start), end
    if (isinstance(parent, ast.YieldFrom) and parent.value is node) or (
        isinstance(parent, ast.Raise) and parent.cause is node
    ):
        start, end = own(node)
        return source.rindex("from", 0, start), end
    return None


def _shortened(text: str, limit: int = 60) -> str:
    """`describe` for a piece of source that is no node of its own."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _widened(facts: ModuleQueries, read: ast.Name) -> ast.expr:
    """`targets.long()` goes with `targets`: class indices are already integral."""
    node: ast.expr = read
    while True:
        attribute = facts.parents.get(node)
        if (
            isinstance(attribute, ast.Attribute)
            and attribute.value is node
            and attribute.attr in _CASTS
        ):
            call = facts.parents.get(attribute)
            if (
                isinstance(call, ast.Call)
                and call.func is attribute
                and not call.args
                and not call.keywords
            ):
                node = call
                continue
        return node


def _reassigned_between(
    facts: ModuleQueries, function: str, name: str, assign: ast.Assign, reads: Sequence[ast.Name]
) -> bool:
    """Whether `name` is assigned after the one-hot is built and before its last reader."""
    root: ast.AST = facts.flow.function_node(function) or facts.tree
    found: list[ast.expr] = []
    for node in ast.walk(root):
        if isinstance(node, ast.Assign):
            found.extend(target for target in node.targets if name in _names(target))
        elif isinstance(node, (ast.For, ast.AsyncFor)) and name in _names(node.target):
            found.append(node.target)
    first = facts.span(assign).end_line
    last = max((facts.span(read).line for read in reads), default=first)
    return any(first < facts.span(node).line <= last for node in found)


def _names(node: ast.expr) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Starred):
        return _names(node.value)
    if isinstance(node, (ast.Tuple, ast.List)):
        return [name for element in node.elts for name in _names(element)]
    return []
