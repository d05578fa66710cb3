from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.edits import loss_references, loss_to_cross_entropy
from migrate.fixing.readers import sigmoid_will_be_removed
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation


class BceLoss(Rule):
    """
    ## What it does
    Finds `nn.BCELoss` and `F.binary_cross_entropy`: a multi-label loss on sigmoid
    probabilities.

    ## Why is this bad?
    In a multi-class pipeline each example has exactly one class: the loss is
    `CrossEntropyLoss` on the model's logits, which is numerically stable and couples the
    classes through the softmax. Binary cross-entropy treats every class as independent.

    ## Example
    ```python
    criterion = nn.BCELoss()
    loss = criterion(model(x), F.one_hot(y, C).float())
    ```

    ## Use instead
    ```python
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(x), y)  # model(x) returns logits
    ```

    ## Fix safety
    Unsafe: it changes the loss. It is offered only when every input of the loss is a sigmoid
    output that the migration removes (MC101 in the model, MC204 before the loss); `migrate`
    applies them together. `reduction` is kept; `weight=` (a per-element rescaling with no
    CrossEntropyLoss equivalent) and legacy `size_average`/`reduce` block the fix. One-hot float
    targets stay valid: `CrossEntropyLoss` reads them as class probabilities.

    ## Known limits
    A loss chosen by a string or built from a config dict is not found.
    """

    code = "MC102"
    name = "bce-loss"
    summary = "BCELoss / binary_cross_entropy in a multi-class migration"
    message = (
        "`{loss}` is a multi-label loss on probabilities; "
        "multi-class uses CrossEntropyLoss on logits"
    )
    fix_title = "Use CrossEntropyLoss on logits"
    safety = Applicability.UNSAFE
    examples = [
        Valid("criterion = nn.CrossEntropyLoss()", id="already-cross-entropy"),
        Valid(
            """
            class BCELoss:
                pass
            criterion = BCELoss()
            """,
            id="project-own-bce-class",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.BCELoss(reduction="sum")
            loss = criterion(torch.sigmoid(z), y)
            """,
            fixed="""
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss(reduction="sum")
            loss = criterion(torch.sigmoid(z), y)
            """,
            id="module-keeps-reduction",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss_func = F.binary_cross_entropy
            loss = loss_func(F.sigmoid(z), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss_func = F.cross_entropy
            loss = loss_func(F.sigmoid(z), y)
            """,
            id="bound-function",
        ),
        Invalid(
            """
            import torch
            criterion = torch.nn.BCELoss(weight=w)
            """,
            id="weight-has-no-equivalent",
        ),
        Invalid(
            """
            from torch import nn
            criterion = nn.BCELoss()
            loss = criterion(backbone(x), y)
            """,
            id="input-not-proven-to-become-logits",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        for reference in loss_references(facts, names.BCE):
            fix, reason = loss_to_cross_entropy(facts, reference, frozenset({"weight"}))
            if fix is not None:
                reason = _inputs_become_logits(facts, reference)
                fix = fix if reason is None else None
            message = self.message.format(loss=facts.code(reference))
            yield self.violation(facts, reference, message, fix, reason)


def _inputs_become_logits(facts: ModuleQueries, reference: ast.expr) -> str | None:
    """BCELoss takes probabilities; as CrossEntropyLoss it needs logits. Fix only when every
    input it is given is a sigmoid output that the migration removes."""
    parent = facts.parents.get(reference)
    criterion_node = (
        parent if isinstance(parent, ast.Call) and parent.func is reference else reference
    )
    uses = [use for use in facts.flow.loss_uses if use.criterion.node is criterion_node]
    if not uses:
        return (
            "where this loss is applied is not followed, "
            "so its input cannot be proven to become logits"
        )
    for use in uses:
        reason = sigmoid_will_be_removed(facts, use)
        if reason is not None:
            return reason
    return None
