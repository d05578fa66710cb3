from __future__ import annotations

from collections.abc import Iterator

from migrate import names
from migrate.facts import ModuleFacts
from migrate.fixes import loss_references, loss_to_cross_entropy
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
    Unsafe: it changes the loss. It is correct together with MC101 (the model returns logits);
    `migrate` applies both. `reduction` is kept; `weight=` (a per-element rescaling with no
    CrossEntropyLoss equivalent) and legacy `size_average`/`reduce` block the fix. One-hot float
    targets stay valid: `CrossEntropyLoss` reads them as class probabilities.

    ## Known limits
    A loss chosen by a string or built from a config dict is not found.
    """

    code = "MC102"
    name = "bce-loss"
    summary = "BCELoss / binary_cross_entropy in a multi-class migration"
    message = "`{loss}` is a multi-label loss on probabilities; multi-class uses CrossEntropyLoss on logits"
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
            from torch import nn
            criterion = nn.BCELoss(reduction="sum")
            """,
            fixed="""
            from torch import nn
            criterion = nn.CrossEntropyLoss(reduction="sum")
            """,
            id="module-keeps-reduction",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss_func = F.binary_cross_entropy
            """,
            fixed="""
            import torch.nn.functional as F
            loss_func = F.cross_entropy
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
    ]

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for reference in loss_references(facts, names.BCE):
            fix, reason = loss_to_cross_entropy(facts, reference, frozenset({"weight"}))
            message = self.message.format(loss=facts.code(reference))
            yield self.violation(facts, reference, message, fix, reason)
