from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.loss_path import loss_path_violations, mixture_violations
from migrate.fixing.readers import ReaderPolicy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation

_LOSSES = frozenset({names.BCE_WITH_LOGITS})


class SigmoidBeforeBceWithLogits(Rule):
    """
    ## What it does
    Finds a sigmoid whose output reaches the input of `nn.BCEWithLogitsLoss` or
    `F.binary_cross_entropy_with_logits`.

    ## Why is this bad?
    The loss applies the sigmoid itself. Applied twice, every prediction is squeezed into
    (0.5, 0.73): nothing is ever predicted negative at a 0.5 threshold and the gradients vanish.

    ## Example
    ```python
    loss = F.binary_cross_entropy_with_logits(torch.sigmoid(z), y)
    ```

    ## Use instead
    ```python
    loss = F.binary_cross_entropy_with_logits(z, y)
    ```

    ## Fix safety
    Unsafe: the loss changes. A sigmoid only on the loss path is removed; one in a model's
    `forward` moves to every other reader of the output, or the finding stays without a fix.
    Sigmoid outputs combined before the loss (a mean over test-time crops or an ensemble)
    have no logits to give back: that finding has no fix.
    """

    code = "MC202"
    name = "sigmoid-before-bce-with-logits"
    summary = "A sigmoid output reaches BCEWithLogitsLoss"
    message = "`{activation}` feeds probabilities to `{loss}`, which applies sigmoid itself"
    fix_title = "Pass the logits to `{loss}`"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y)
            probs = torch.sigmoid(z)
            """,
            id="probabilities-beside-the-loss",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(student, torch.sigmoid(teacher / T))
            """,
            id="sigmoid-on-the-target",
        ),
        Valid(
            """
            import torch
            from torch import nn
            gate = torch.sigmoid(squeeze(x))
            loss = nn.BCEWithLogitsLoss()(head(x * gate), y)
            """,
            id="gate-then-head",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(torch.sigmoid(z), y)
            """,
            fixed="""
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y)
            """,
            id="inline",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            averaged = torch.sigmoid(z).mean(0)
            loss = F.binary_cross_entropy_with_logits(averaged, y)
            """,
            id="mean-of-sigmoid-probabilities-has-no-fix",
        ),
        Valid(
            """
            import torch
            import torch.nn as nn
            class GatedHead(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 4)
                    self.gate = nn.Linear(8, 4)
                def forward(self, x):
                    return self.fc(x) * torch.sigmoid(self.gate(x))
            loss = nn.BCEWithLogitsLoss()(GatedHead()(x), y)
            """,
            id="sigmoid-gate-multiplied-into-the-logits",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        policy = ReaderPolicy(names.SIGMOID, _LOSSES)
        yield from loss_path_violations(self, facts, names.SIGMOID, _LOSSES, policy)
        yield from mixture_violations(self, facts, names.SIGMOID, _LOSSES)
