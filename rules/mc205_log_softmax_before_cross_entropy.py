from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.loss_path import loss_path_violations
from migrate.fixing.readers import ReaderPolicy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation

_LOSSES = frozenset({names.CROSS_ENTROPY})


class LogSoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds a `log_softmax` whose output reaches `CrossEntropyLoss`.

    ## Why is this bad?
    It is redundant but harmless: `log_softmax` is idempotent, so the loss is the same. It
    costs a pass over the logits and suggests the author meant `NLLLoss`. It is never "fixed"
    into a softmax.

    ## Example
    ```python
    loss = F.cross_entropy(F.log_softmax(z, dim=1), y)
    ```

    ## Use instead
    ```python
    loss = F.cross_entropy(z, y)
    ```

    ## Fix safety
    Safe when the `log_softmax` is only on the loss path: the loss value is unchanged.
    """

    code = "MC205"
    name = "log-softmax-before-cross-entropy"
    summary = "A log_softmax output reaches CrossEntropyLoss (redundant)"
    message = "`{activation}` before `{loss}` is redundant: the loss applies log_softmax itself"
    fix_title = "Remove the redundant log_softmax"
    safety = Applicability.SAFE
    examples = [
        Valid(
            """
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(z, dim=1), y)
            """,
            id="log-softmax-with-nll",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(F.log_softmax(z, dim=1), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(z, y)
            """,
            id="inline",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        policy = ReaderPolicy(names.LOG_SOFTMAX, _LOSSES)
        yield from loss_path_violations(
            self, facts, names.LOG_SOFTMAX, _LOSSES, policy, log_probs=True, safe=True
        )
