from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.edits import activation_into_loss, describe, loss_location, loss_path_edits
from migrate.rule import Applicability, Edit, Fix, Invalid, Rule, Valid, Violation

_LOSSES = frozenset({names.BCE})


class SigmoidThenBceLoss(Rule):
    """
    ## What it does
    Finds `BCELoss(sigmoid(z))`: a sigmoid whose output is the input of `nn.BCELoss` or
    `F.binary_cross_entropy`. Opt-in: select `MC206` (or `MC2`) to run it.

    ## Why is this bad?
    It is correct but less stable than the fused `BCEWithLogitsLoss(z)`: the sigmoid saturates
    to exactly 0 or 1 in float32 and BCELoss clamps its log at -100, so confident mistakes get
    a constant loss and no gradient. The fused loss uses the log-sum-exp trick instead.

    ## Example
    ```python
    loss = F.binary_cross_entropy(torch.sigmoid(z), y)
    ```

    ## Use instead
    ```python
    loss = F.binary_cross_entropy_with_logits(z, y)
    ```

    ## Fix safety
    Unsafe: the loss value changes slightly where the sigmoid saturated. Fixed when the sigmoid
    is only on the loss path and the loss is used only there (a functional call, or a criterion
    applied once); a sigmoid in a model's `forward` is reported without a fix.
    """

    code = "MC206"
    name = "sigmoid-then-bce-loss"
    summary = "BCELoss on a sigmoid output: use the fused BCEWithLogitsLoss"
    message = "`{activation}` followed by `BCELoss` is less stable than `BCEWithLogitsLoss`"
    fix_title = "Use BCEWithLogitsLoss on the logits"
    safety = Applicability.UNSAFE
    default_enabled = False
    examples = [
        Valid(
            """
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y)
            """,
            id="fused-loss",
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Discriminator(nn.Module):
                def forward(self, x):
                    return self.net(x)
            real = torch.sigmoid(logits)
            loss = nn.BCELoss()(probs_from_elsewhere, y)
            """,
            id="sigmoid-beside-the-loss",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy(torch.sigmoid(z), y)
            """,
            fixed="""
            import torch
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(z, y)
            """,
            id="functional-inline",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.BCELoss()
            loss = criterion(torch.sigmoid(z), y.float())
            """,
            fixed="""
            import torch
            from torch import nn
            criterion = nn.BCEWithLogitsLoss()
            loss = criterion(z, y.float())
            """,
            id="criterion-applied-once",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        for use, activation, exact in activation_into_loss(facts, names.SIGMOID, _LOSSES):
            owner = facts.facts_for(activation.path) or facts
            message = self.message.format(activation=describe(owner, activation.node))
            fix, reason = self._fix(facts, use, activation) if exact else (None, None)
            if reason is None and fix is None:
                reason = "the probabilities are shifted or clamped before the loss"
            if activation.path == facts.path:
                related = loss_location(facts, use, activation)
                yield self.violation(facts, activation.node, message, fix, reason, related)
            else:
                related = ((facts.path, facts.span(use.call)),)
                yield self.violation(owner, activation.node, message, fix, reason, related)

    def _fix(
        self, facts: ModuleQueries, use: object, activation: object
    ) -> tuple[Fix | None, str | None]:
        from migrate.analysis.api import Activation, LossUse

        assert isinstance(use, LossUse) and isinstance(activation, Activation)
        if activation.function != use.function or activation.path != facts.path:
            return None, "the sigmoid is applied in another function; fuse the loss by hand"
        removal = loss_path_edits(facts, use, activation)
        if removal is None:
            return None, "the sigmoid output has other readers"
        rename = self._rename(facts, use)
        if rename is None:
            return None, "the BCELoss criterion is used elsewhere too, or spelled by bare name"
        return Fix(self.fix_title, Applicability.UNSAFE, (*removal, rename)), None

    def _rename(self, facts: ModuleQueries, use: object) -> Edit | None:
        from migrate.analysis.api import LossUse

        assert isinstance(use, LossUse)
        node = use.criterion.node
        if use.criterion.is_function:
            if isinstance(node, ast.Attribute) and node is use.call.func:
                return facts.replace_attribute_name(node, "binary_cross_entropy_with_logits")
            return None
        uses = [u for u in facts.flow.loss_uses if u.criterion.node is node]
        if len(uses) != 1 or not isinstance(node, ast.Call):
            return None
        if not isinstance(node.func, ast.Attribute):
            return None
        return facts.replace_attribute_name(node.func, "BCEWithLogitsLoss")
