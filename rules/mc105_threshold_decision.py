from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, Probs, names
from migrate.fixing.edits import describe
from migrate.fixing.readers import Refusal, argmax_edit, decision_followups, widen_decision
from migrate.rule import Applicability, Fix, Invalid, Rule, Valid, Violation
from rules.mc104_sigmoid_probabilities import is_logit_like


class ThresholdDecision(Rule):
    """
    ## What it does
    Finds multi-label decisions: a threshold on sigmoid probabilities (`p > 0.5`, `p >= t`,
    `torch.round(p)`, `p.round()`, `(p > t).float()`) or on logits (`logits > 0`).

    ## Why is this bad?
    A threshold picks any number of classes per example, zero included. A multi-class model
    picks exactly one: the class with the highest score.

    ## Example
    ```python
    preds = (torch.sigmoid(logits) > 0.5).int()
    ```

    ## Use instead
    ```python
    preds = logits.argmax(dim=1)
    ```

    ## Fix safety
    Unsafe: the decision changes from a `(N, C)` indicator matrix to `(N,)` class indices.
    Where the decision is compared element-wise with targets, the targets must be one-hot of
    known class indices (MC106 rewrites those reads) or the fix is refused; with
    `migrate --unsafe-fixes` other targets are compared through their `argmax`. Thresholds on
    a model's output are rewritten with the model (MC101), not here.
    """

    code = "MC105"
    name = "threshold-decision"
    summary = "Threshold decisions on sigmoid probabilities or logits"
    message = "`{decision}` is a multi-label decision; multi-class predicts the argmax"
    fix_title = "Use `argmax(dim=1)`"
    safety = Applicability.UNSAFE
    examples = [
        Valid("keep = scores > 0.5", id="unknown-scores"),
        Valid(
            """
            import torch
            confident = torch.softmax(logits, dim=1).max(dim=1).values > 0.9
            """,
            id="confidence-threshold",
        ),
        Invalid(
            """
            import torch
            preds = (torch.sigmoid(logits) > 0.5).int()
            """,
            fixed="""
            import torch
            preds = logits.argmax(dim=1)
            """,
            id="inline-sigmoid",
        ),
        Invalid(
            """
            import torch
            probs = torch.sigmoid(outputs.logits)
            preds = torch.round(probs)
            """,
            fixed="""
            import torch
            probs = torch.sigmoid(outputs.logits)
            preds = probs.argmax(dim=1)
            """,
            id="round-of-probabilities",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(logits, y)
            preds = (logits > 0).long()
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.binary_cross_entropy_with_logits(logits, y)
            preds = logits.argmax(dim=1)
            """,
            id="logit-space",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        seen: set[int] = set()
        for threshold in facts.flow.thresholds:
            if id(threshold.node) in seen:
                continue
            seen.add(id(threshold.node))
            value = _decided_value(facts, threshold)
            if value is None:
                continue
            decision = widen_decision(facts, threshold.node)
            message = self.message.format(decision=describe(facts, decision))
            try:
                edits = [argmax_edit(facts, decision, value), *decision_followups(facts, decision)]
            except Refusal as refusal:
                yield self.violation(facts, decision, message, None, str(refusal))
                continue
            fix = Fix(self.fix_title, Applicability.UNSAFE, tuple(edits))
            yield self.violation(facts, decision, message, fix)


def _decided_value(facts: ModuleQueries, threshold: object) -> ast.expr | None:
    """What argmax runs on: the logits under an inline sigmoid, else the thresholded value."""
    from migrate.analysis.api import Threshold

    assert isinstance(threshold, Threshold)
    kind = threshold.kind
    if isinstance(kind, Probs) and kind.activation.op == names.SIGMOID:
        if kind.activation.function.endswith(".forward"):
            return None  # a model's output: MC101 rewrites its readers
        call = kind.activation.call
        if call is not None and call is threshold.value and kind.activation.input is not None:
            return kind.activation.input
        return threshold.value
    if isinstance(threshold.node, ast.Compare) and is_logit_like(facts, threshold.value):
        comparator = threshold.node.comparators[0]
        if _is_zero_number(comparator):
            return threshold.value
    return None


def _is_zero_number(node: ast.expr) -> bool:
    """An integer or float literal equal to 0 (`0`, `0.0`); not `False`, not `0j`, not `-0`."""
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    return isinstance(node.value, (int, float)) and float(node.value) == 0
