from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.edits import (
    activation_into_loss,
    choice_reason,
    describe,
    loss_location,
    mode_reason,
    rename_callee,
    route_note,
)
from migrate.rule import Applicability, Fix, Invalid, Rule, Valid, Violation

_LOSSES = frozenset({names.NLL})


class SoftmaxBeforeNllLoss(Rule):
    """
    ## What it does
    Finds a softmax (not log_softmax) whose output reaches `nn.NLLLoss` / `F.nll_loss`.

    ## Why is this bad?
    `NLLLoss` expects log-probabilities: it takes `-input[y]`. Given probabilities, the loss is
    `-p_y`, bounded in [-1, 0], with gradients that do not grow with the mistake.

    ## Example
    ```python
    loss = F.nll_loss(F.softmax(z, dim=1), y)
    ```

    ## Use instead
    ```python
    loss = F.nll_loss(F.log_softmax(z, dim=1), y)
    ```

    ## Fix safety
    Unsafe: the loss changes. The softmax becomes `log_softmax` when the loss is its only
    reader (inline, or a variable read once); otherwise the finding has no fix.
    """

    code = "MC203"
    name = "softmax-before-nll-loss"
    summary = "A softmax output reaches NLLLoss"
    message = "`{activation}` feeds probabilities to `{loss}`, which expects log-probabilities"
    fix_title = "Use log_softmax"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(z, dim=1), y)
            """,
            id="log-softmax",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.nll_loss(F.softmax(z, dim=1), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(z, dim=1), y)
            """,
            id="inline",
        ),
        Invalid(
            """
            from torch import nn
            softmax = nn.Softmax(dim=1)
            probs = softmax(z)
            loss = nn.NLLLoss()(probs, y)
            print(probs)
            """,
            id="probabilities-also-read",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        for use, activation, exact in activation_into_loss(facts, names.SOFTMAX, _LOSSES):
            loss = names.LOSS_DISPLAY[use.loss]
            owner = facts.facts_for(activation.path) or facts
            message = self.message.format(activation=describe(owner, activation.node), loss=loss)
            message += route_note(use)
            if activation.path != facts.path:
                # The softmax is in another file's forward: its other readers would change.
                elsewhere = "the softmax is applied in another file; use log_softmax there by hand"
                related = ((facts.path, facts.span(use.call)),)
                yield self.violation(owner, activation.node, message, None, elsewhere, related)
                continue
            fix: Fix | None = None
            reason: str | None = (
                "the probabilities have other readers; use log_softmax on the loss path"
            )
            inline = activation.call is not None and activation.call is use.input_node
            if use.mode is not None:
                reason = mode_reason(use.mode)
            elif use.chosen is not None:
                reason = choice_reason(use.chosen)
            elif inline and exact and activation.function == use.function:
                edits = rename_callee(facts, activation, "log_softmax")
                if edits is not None:
                    fix, reason = Fix(self.fix_title, Applicability.UNSAFE, tuple(edits)), None
                else:
                    reason = "the softmax is called by a bare name; use log_softmax by hand"
            yield self.violation(
                facts, activation.node, message, fix, reason, loss_location(facts, use, activation)
            )
