from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.edits import loss_references, loss_to_cross_entropy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation


class BceWithLogitsLoss(Rule):
    """
    ## What it does
    Finds `nn.BCEWithLogitsLoss` and `F.binary_cross_entropy_with_logits`.

    ## Why is this bad?
    It scores every class independently (multi-label). A multi-class model is trained with
    `CrossEntropyLoss`, which takes the same logits but normalizes across classes.

    ## Example
    ```python
    criterion = nn.BCEWithLogitsLoss()
    ```

    ## Use instead
    ```python
    criterion = nn.CrossEntropyLoss()
    ```

    ## Fix safety
    Unsafe: the loss changes. `reduction` is kept. `pos_weight=` (and `weight=`) have no
    equivalent: the finding stays without a fix and suggests `weight=` with one weight per
    class.

    ## Known limits
    A loss chosen by a string or built from a config dict is not found.
    """

    code = "MC103"
    name = "bce-with-logits-loss"
    summary = "BCEWithLogitsLoss in a multi-class migration"
    message = "`{loss}` scores classes independently; multi-class uses CrossEntropyLoss"
    fix_title = "Use CrossEntropyLoss"
    safety = Applicability.UNSAFE
    examples = [
        Valid("loss = F.cross_entropy(logits, y)", id="already-cross-entropy"),
        Valid(
            """
            import torch.nn.functional as F
            OVERRIDES = {F.binary_cross_entropy_with_logits: lambda *args: -1}
            """,
            id="listed-as-a-dict-key",
        ),
        Invalid(
            """
            import torch.nn as nn
            criterion = nn.BCEWithLogitsLoss()
            """,
            fixed="""
            import torch.nn as nn
            criterion = nn.CrossEntropyLoss()
            """,
            id="module",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(logits, y, reduction="mean")
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(logits, y, reduction="mean")
            """,
            id="functional",
        ),
        Invalid(
            """
            from torch import nn
            criterion = nn.BCEWithLogitsLoss(pos_weight=torch.ones(5))
            """,
            id="pos-weight-has-no-equivalent",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        blocking = frozenset({"weight", "pos_weight"})
        for reference in loss_references(facts, names.BCE_WITH_LOGITS):
            fix, reason = loss_to_cross_entropy(facts, reference, blocking)
            message = self.message.format(loss=facts.code(reference))
            yield self.violation(facts, reference, message, fix, reason)
