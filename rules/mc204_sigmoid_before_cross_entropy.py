from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.loss_path import loss_path_violations, mixture_violations
from migrate.fixing.readers import ReaderPolicy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation

_LOSSES = frozenset({names.CROSS_ENTROPY})


class SigmoidBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds a sigmoid whose output reaches the input of `nn.CrossEntropyLoss` or
    `F.cross_entropy` (a half-done migration: the loss changed, the activation did not).

    ## Why is this bad?
    `CrossEntropyLoss` expects logits. Sigmoid outputs in (0, 1) give softmax almost nothing
    to separate: the loss stays near `log(C)` and the model learns slowly or not at all.

    ## Example
    ```python
    loss = F.cross_entropy(torch.sigmoid(z), y)
    ```

    ## Use instead
    ```python
    loss = F.cross_entropy(z, y)
    ```

    ## Fix safety
    Unsafe: the loss changes. A sigmoid only on the loss path is removed; one in a model's
    `forward` is replaced by a softmax at every other reader, or the finding stays unfixed.
    Sigmoid outputs combined before the loss (a mean over test-time crops or an ensemble)
    have no logits to give back: that finding has no fix.
    """

    code = "MC204"
    name = "sigmoid-before-cross-entropy"
    summary = "A sigmoid output reaches CrossEntropyLoss"
    message = "`{activation}` feeds sigmoid probabilities to `{loss}`, which expects logits"
    fix_title = "Pass the logits to `{loss}`"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch
            from torch import nn
            gate = torch.sigmoid(self_attention_scores)
            loss = nn.CrossEntropyLoss()(head(gate * features), y)
            """,
            id="gate-then-linear",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.cross_entropy(logits, torch.sigmoid(scores))
            """,
            id="sigmoid-on-the-target",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            out = torch.sigmoid(z)
            loss = criterion(out, y)
            """,
            fixed="""
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            out = z
            loss = criterion(out, y)
            """,
            id="through-local",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(8, 4), nn.Sigmoid())
                def forward(self, x):
                    return self.head(x)
            net = Net()
            criterion = nn.CrossEntropyLoss()
            for crops, y in loader:
                outputs = net(crops.view(-1, 8))
                loss = criterion(outputs.view(len(y), 10, -1).mean(1), y)
            """,
            id="mean-over-crops-of-a-sigmoid-head-has-no-fix",
        ),
        Valid(
            """
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            confidence = torch.sigmoid(z).mean(1)
            loss = criterion(z, y)
            """,
            id="sigmoid-mean-read-beside-the-loss",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        policy = ReaderPolicy(names.SIGMOID, _LOSSES)
        yield from loss_path_violations(self, facts, names.SIGMOID, _LOSSES, policy)
        yield from mixture_violations(self, facts, names.SIGMOID, _LOSSES)
