from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from migrate.facts import ModuleFacts
from migrate.fixes import (
    describe,
    import_removal_edits,
    name_occurrences,
    unfollowed_spellings,
)
from migrate.readers import _CASTS, one_hot_index
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

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        if "one_hot" not in facts.source and ".float()" not in facts.source:
            return
        flow = facts.flow
        loss_targets = {id(use.target_node) for use in flow.loss_uses if use.target_node}
        for target, binding in list(flow.assignments.items()):
            assign_target = facts.parents.get(target)  # AssignTarget -> Assign
            assign = facts.parents.get(assign_target) if assign_target is not None else None
            if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
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
                isinstance(node, cst.Call)
                and isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "float"
                and isinstance(node.func.value, cst.Name)
                and not node.args
            ):
                message = self.message.format(target=describe(facts, node))
                reason = (
                    "the targets' content is unknown; "
                    "`argmax(dim=1)` is right only for single-label data"
                )
                yield self.violation(facts, node, message, None, reason)

    def _fix(
        self,
        facts: ModuleFacts,
        target: cst.Name,
        assign: cst.Assign,
        index: cst.BaseExpression,
        reads: list[cst.Name],
        other: list[cst.Name],
    ) -> tuple[Fix | None, str | None]:
        if not other:
            return (
                None,
                "one-hot float targets stay valid for CrossEntropyLoss (class probabilities)",
            )
        if not isinstance(index, cst.Name):
            return None, "the class indices are not a plain variable"
        function = next(
            (
                name
                for name, node in facts.flow.function_nodes.items()
                if facts.contains(node, target)
            ),
            "<module>",
        )
        if name_occurrences(facts, function, index.value) == 0 or _reassigned_between(
            facts, function, index.value, assign, reads
        ):
            return None, f"`{index.value}` may change between the one-hot and its readers"
        for read in other:
            reader = _unsafe_reader(facts, read)
            if reader is not None:
                return None, (
                    f"`{target.value}` is also read by `{reader}` (line {facts.span(read).line}), "
                    "which may carry it to a loss"
                )
        if unfollowed_spellings(facts, function, target.value):
            return None, f"`{target.value}` is read in ways that are not followed"
        edits: list[Edit]
        if len(other) == len(reads):
            edits = [facts.replace(assign.value, index.value)]
            callee = assign.value
            while (
                isinstance(callee, cst.Call)
                and isinstance(callee.func, cst.Attribute)
                and callee.func.attr.value in _CASTS
            ):
                callee = callee.func.value
            if isinstance(callee, cst.Call) and isinstance(callee.func, cst.Attribute):
                holder = callee.func.value
                if isinstance(holder, cst.Name):
                    edits.extend(import_removal_edits(facts, holder.value, 1))
        else:
            edits = [facts.replace(_widened(facts, read), index.value) for read in other]
        return Fix(self.fix_title, Applicability.UNSAFE, tuple(edits)), None


_METRIC_METHODS = frozenset({"update", "append", "extend", "forward_metric"})
_METRIC_LIBRARIES = ("torchmetrics", "sklearn.metrics")
_MOVES = frozenset({"cpu", "detach", "numpy", "to", "cuda", "tolist"})


def _unsafe_reader(facts: ModuleFacts, read: cst.Name) -> str | None:
    """Where a one-hot read goes, unless that is a metric or a comparison with a decision:
    a metric's `.update(...)`, a list `.append(...)`, a torchmetrics / scikit-learn function,
    or `preds == targets`. Anything else (a dataset, a loss, an unknown function) may carry
    the targets to a loss."""
    node: cst.CSTNode = _widened(facts, read)
    while True:  # `targets.cpu()`, `targets.detach().numpy()`
        attribute = facts.parents.get(node)
        if (
            isinstance(attribute, cst.Attribute)
            and attribute.value is node
            and attribute.attr.value in _MOVES
        ):
            call = facts.parents.get(attribute)
            if isinstance(call, cst.Call):
                node = call
                continue
        break
    parent = facts.parents.get(node)
    if isinstance(parent, (cst.Comparison, cst.ComparisonTarget)):
        return None
    if isinstance(parent, cst.Arg):
        call = facts.parents.get(parent)
        if isinstance(call, cst.Call):
            func = call.func
            if isinstance(func, cst.Attribute) and func.attr.value in _METRIC_METHODS:
                return None
            qualified = facts.imports.qualify(func) or ""
            if qualified.startswith(_METRIC_LIBRARIES):
                return None
            return facts.code(func)
    return describe(facts, parent) if isinstance(parent, cst.CSTNode) else "an unknown reader"


def _widened(facts: ModuleFacts, read: cst.Name) -> cst.CSTNode:
    """`targets.long()` goes with `targets`: class indices are already integral."""
    node: cst.CSTNode = read
    while True:
        attribute = facts.parents.get(node)
        if (
            isinstance(attribute, cst.Attribute)
            and attribute.value is node
            and attribute.attr.value in _CASTS
        ):
            call = facts.parents.get(attribute)
            if isinstance(call, cst.Call) and not call.args:
                node = call
                continue
        return node


def _reassigned_between(
    facts: ModuleFacts, function: str, name: str, assign: cst.Assign, reads: list[cst.Name]
) -> bool:
    """Whether `name` is assigned after the one-hot is built and before its last reader."""
    root = facts.flow.function_node(function) or facts.module
    collector = _AssignCollector(name)
    root.visit(collector)
    first = facts.span(assign).end_line
    last = max((facts.span(read).line for read in reads), default=first)
    return any(first < facts.span(node).line <= last for node in collector.found)


class _AssignCollector(cst.CSTVisitor):
    def __init__(self, name: str) -> None:
        self.name = name
        self.found: list[cst.CSTNode] = []

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        if self.name in _names(node.target):
            self.found.append(node)

    def visit_For(self, node: cst.For) -> None:
        if self.name in _names(node.target):
            self.found.append(node.target)


def _names(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, cst.Name):
        return [node.value]
    if isinstance(node, (cst.Tuple, cst.List)):
        return [name for element in node.elements for name in _names(element.value)]
    return []
