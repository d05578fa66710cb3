from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries
from migrate.rule import Applicability, Edit, Fix, Invalid, Rule, Valid, Violation


class SoftmaxImplicitDim(Rule):
    """
    ## What it does
    Finds `nn.Softmax()`, `nn.LogSoftmax()`, `F.softmax(x)` and `F.log_softmax(x)` without
    `dim`.

    ## Why is this bad?
    Without `dim`, torch guesses: dim 0 for 0-, 1- and 3-D inputs, else 1. For a batch of
    sequences or images the softmax runs over the wrong axis (over the batch!) silently.

    ## Example
    ```python
    self.softmax = nn.Softmax()
    ```

    ## Use instead
    ```python
    self.softmax = nn.Softmax(dim=1)
    ```

    ## Fix safety
    Safe when the value reaches a classification loss (a 2-D `(N, C)` input, where the legacy
    guess was 1): `dim=1` keeps the behaviour. Otherwise there is no fix: the input's rank is
    unknown, and for a 3-D input the legacy axis was 0 (the batch), which is rarely what was
    meant; the finding asks for the axis by hand.
    """

    code = "MC207"
    name = "softmax-implicit-dim"
    summary = "Softmax without an explicit dim"
    message = "`{call}` has no `dim`: torch guesses the axis from the input's rank"
    fix_title = "Pass `dim=1` explicitly"
    safety = Applicability.SAFE
    examples = [
        Valid("import torch.nn.functional as F\np = F.softmax(x, 1)", id="positional-dim"),
        Valid("import torch\np = x.softmax(1)", id="method-with-dim"),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(z), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.nll_loss(F.log_softmax(z, dim=1), y)
            """,
            id="functional-into-loss",
        ),
        Invalid(
            """
            from torch import nn
            act = nn.Softmax()
            """,
            id="rank-unknown-no-fix",
        ),
        Invalid(
            """
            from torch import nn
            act = nn.Softmax()
            loss = nn.CrossEntropyLoss()(act(z), y)
            """,
            fixed="""
            from torch import nn
            act = nn.Softmax(dim=1)
            loss = nn.CrossEntropyLoss()(act(z), y)
            """,
            id="module-constructor-reaching-a-loss",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        for site in facts.flow.implicit_dims.values():
            call = site.call
            end = facts.offsets(call)[1]
            closing = end - 1  # the call's `)`
            separator = ", " if call.args or call.keywords else ""
            edit = Edit(facts.path, closing, closing, f"{separator}dim=1")
            name = facts.code(call.func)
            message = self.message.format(call=f"{name}(...)")
            if not site.reaches_loss:
                # The legacy axis is 0 for 1-D and 3-D inputs: `dim=1` could change behaviour.
                reason = "the input's rank is unknown; torch uses dim 0 for 1-D and 3-D inputs"
                yield self.violation(facts, call, message, None, reason)
                continue
            fix = Fix(self.fix_title, Applicability.SAFE, (edit,))
            yield self.violation(facts, call, message, fix)
