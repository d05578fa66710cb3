from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import Mixture, ModuleQueries, names
from migrate.fixing.edits import describe, loss_location, mixture_fix, route_note
from migrate.fixing.loss_path import loss_path_violations
from migrate.fixing.readers import ReaderPolicy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds a softmax whose output reaches the input of `nn.CrossEntropyLoss` or
    `F.cross_entropy`, in any spelling (`F.softmax`, `torch.softmax`, `.softmax()`,
    `nn.Softmax`), inline or through variables, criteria and model outputs.

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` to its input. Given probabilities, it applies
    softmax a second time: the loss can never go below `log(1 + (C-1)/e)` (1.46 for 10
    classes), the largest probability it ever sees is `e / (e + C - 1)`, and the gradient of
    confident mistakes flattens, so hard and rare examples are abandoned. Nothing crashes;
    balanced accuracy barely moves while macro-F1 under class imbalance collapses.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = F.cross_entropy(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    probs = F.softmax(logits, dim=1)  # only where probabilities are read
    ```

    ## Fix safety
    Unsafe: the loss value and the training dynamics change (that is the point). When the
    softmax is only on the loss path it is removed; when its output is also read elsewhere, the
    loss is given the softmax's input instead. When the softmax sits in another function (a
    model's `forward`), the finding is reported without a fix. A softmax whose output was mixed
    (`softmax(s) @ onehot`) is never removed: the loss becomes `nll_loss(log(p.clamp_min(eps)))`.

    ## Known limits
    Values passed through functions whose parameters carry no annotation are not followed.
    """

    code = "MC201"
    name = "softmax-before-cross-entropy"
    summary = "A softmax output reaches the input of CrossEntropyLoss"
    message = "`{activation}` feeds probabilities to `{loss}`, which applies log_softmax itself"
    fix_title = "Pass the logits to `{loss}`"
    safety = Applicability.UNSAFE
    examples = [
        Valid("loss = F.cross_entropy(logits, y)", id="logits"),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                def forward(self, x):
                    return self.fc(x).softmax(dim=1)
            def evaluate(model: Net, x, criterion):
                return criterion(model(x), y)
            loss = nn.CrossEntropyLoss()(Net()(x), y)
            """,
            id="forward-softmax-with-unfollowed-reader",
        ),
        Valid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(student, F.softmax(teacher / T, dim=1))
            """,
            id="softmax-on-target",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            probs = logits.softmax(dim=1)
            loss = F.cross_entropy(logits, y)
            confidence = probs.max(dim=1).values
            """,
            id="confidence-beside-the-loss",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            attn = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
            logits = head(attn @ v)
            loss = F.cross_entropy(logits, y)
            """,
            id="attention-then-linear",
        ),
        Valid(
            """
            import torch.nn.functional as F
            class CrossEntropyLoss:
                def __call__(self, probs, y): ...
            criterion = CrossEntropyLoss()
            loss = criterion(F.softmax(z, dim=1), y)
            """,
            id="project-own-cross-entropy",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(F.softmax(z, 1), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(z, y)
            """,
            id="inline-functional",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            probs = torch.softmax(model(x), dim=1)
            loss = criterion(probs, y)
            """,
            fixed="""
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            probs = model(x)
            loss = criterion(probs, y)
            """,
            id="through-local-and-criterion",
        ),
        Invalid(
            """
            import torch.nn as nn
            def step(model, x, y):
                logits = model(x)
                probs = logits.softmax(dim=1)
                loss = nn.CrossEntropyLoss()(probs, y)
                return loss, probs.argmax(dim=1)
            """,
            fixed="""
            import torch.nn as nn
            def step(model, x, y):
                logits = model(x)
                probs = logits.softmax(dim=1)
                loss = nn.CrossEntropyLoss()(logits, y)
                return loss, probs.argmax(dim=1)
            """,
            id="probabilities-also-read",
        ),
        Invalid(
            """
            from torch.nn import CrossEntropyLoss as CE, Softmax
            loss = CE()(Softmax(dim=1)(z), y)
            """,
            fixed="""
            from torch.nn import CrossEntropyLoss as CE, Softmax
            loss = CE()(z, y)
            """,
            id="aliased-imports-and-module",
        ),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)
                def forward(self, x):
                    return self.softmax(self.fc(x))
            model = Net()
            loss = nn.CrossEntropyLoss()(model(x), y)
            confidence = model(x).max(dim=1).values
            """,
            fixed="""
            import torch.nn as nn
            import torch
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)
                def forward(self, x):
                    return self.fc(x)
            model = Net()
            loss = nn.CrossEntropyLoss()(model(x), y)
            confidence = torch.softmax(model(x), dim=1).max(dim=1).values
            """,
            id="softmax-in-forward",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        yield from loss_path_violations(self, facts, names.SOFTMAX, _LOSSES, _POLICY)
        for use in facts.flow.loss_uses:
            kind = use.input_kind
            if use.loss != names.CROSS_ENTROPY or not isinstance(kind, Mixture):
                continue
            if kind.activation.op != names.SOFTMAX:
                continue
            owner = facts.facts_for(kind.activation.path) or facts
            message = self.message.format(
                activation=describe(owner, kind.activation.node), loss="CrossEntropyLoss"
            )
            message += route_note(use)
            fix, reason = mixture_fix(facts, use)
            if kind.activation.path == facts.path:
                related = loss_location(facts, use, kind.activation)
                yield self.violation(facts, kind.activation.node, message, fix, reason, related)
            else:
                # The mixture is made in another file (a model's forward): report it there.
                related = ((facts.path, facts.span(use.call)),)
                yield self.violation(owner, kind.activation.node, message, fix, reason, related)


_LOSSES = frozenset({names.CROSS_ENTROPY})
_POLICY = ReaderPolicy(names.SOFTMAX, _LOSSES)
