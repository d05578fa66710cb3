from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import Activation, ModuleQueries, names
from migrate.fixing.edits import describe
from migrate.rule import Applicability, Edit, Fix, Invalid, Rule, Valid, Violation


def is_logit_like(facts: ModuleQueries, node: ast.AST | None) -> bool:
    """A classifier's raw scores: `outputs.logits`, a variable named `logits` / `*_logits`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        no_arguments = not node.args and not node.keywords
        if node.func.attr in ("detach", "float", "cpu", "double") and no_arguments:
            return is_logit_like(facts, node.func.value)
    if isinstance(node, ast.Attribute):
        return "logit" in node.attr.lower()
    if isinstance(node, ast.Name):
        return "logit" in node.id.lower()
    return False


class SigmoidProbabilities(Rule):
    """
    ## What it does
    Finds `torch.sigmoid(logits)` (also `F.sigmoid`, `.sigmoid()`) applied to a classifier's
    logits (`outputs.logits`, a variable named `logits`) to read probabilities.

    ## Why is this bad?
    Independent sigmoids give each class its own probability; in a multi-class model the
    probabilities of the classes must sum to 1, which is `softmax` over the class dimension.

    ## Example
    ```python
    probs = torch.sigmoid(outputs.logits)
    ```

    ## Use instead
    ```python
    probs = torch.softmax(outputs.logits, dim=1)
    ```

    ## Fix safety
    Unsafe: the probabilities change. A sigmoid that feeds a loss (MC202/MC204 handle those),
    that is thresholded in place (MC105 turns that into `argmax`), or whose input is not
    recognisably logits (a gate, an attention score) is never touched.

    ## Known limits
    Logits are recognised by name (`logits`, `.logits`); other spellings are not reported.
    """

    code = "MC104"
    name = "sigmoid-probabilities"
    summary = "Probabilities read through a sigmoid of the logits"
    message = "`{activation}` reads independent per-class probabilities; multi-class uses softmax"
    fix_title = "Use `softmax(..., dim=1)`"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch
            gate = torch.sigmoid(self_gate(x))
            out = x * gate
            """,
            id="gate-is-not-logits",
        ),
        Valid(
            """
            import torch
            loss = torch.nn.BCEWithLogitsLoss()(torch.sigmoid(logits), y)
            """,
            id="feeds-a-loss",
        ),
        Invalid(
            """
            import torch
            probs = torch.sigmoid(outputs.logits)
            """,
            fixed="""
            import torch
            probs = torch.softmax(outputs.logits, dim=1)
            """,
            id="hf-logits",
        ),
        Invalid(
            """
            import torch
            scores = logits.sigmoid().tolist()
            """,
            fixed="""
            import torch
            scores = logits.softmax(dim=1).tolist()
            """,
            id="method",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            act = nn.Sigmoid()
            probs = act(outputs.logits)
            """,
            id="sigmoid-module-reported-without-a-fix",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        flow = facts.flow
        fed_to_losses = {
            id(use.input_kind.activation)
            for use in flow.loss_uses
            if hasattr(use.input_kind, "activation")
        }
        thresholded = {id(threshold.value) for threshold in flow.thresholds}
        for node, activation in flow.activations.items():
            if activation.op != names.SIGMOID or id(activation) in fed_to_losses:
                continue
            if any(use.input_node is node for use in flow.loss_uses):
                continue
            if id(node) in thresholded or not is_logit_like(facts, activation.input):
                continue
            message = self.message.format(activation=describe(facts, node))
            fix = _to_softmax(facts, activation)
            reason = None if fix else _why_no_fix(activation)
            fixed = Fix(self.fix_title, Applicability.UNSAFE, tuple(fix)) if fix else None
            yield self.violation(facts, node, message, fixed, reason)


def _why_no_fix(activation: Activation) -> str:
    if isinstance(activation.callee, ast.Call):
        # `act = nn.Sigmoid()` ... `act(logits)`: renaming the call would call the wrong module.
        return "the sigmoid is an `nn.Sigmoid` module; use `torch.softmax(..., dim=1)` by hand"
    return "the sigmoid is called by a bare name; use softmax by hand"


def _to_softmax(facts: ModuleQueries, activation: Activation) -> list[Edit] | None:
    callee = activation.callee
    call = activation.call
    if not isinstance(callee, ast.Attribute) or call is None:
        return None
    closing = facts.offsets(call)[1] - 1
    method = activation.input is callee.value
    separator = "" if method and not call.args and not call.keywords else ", "
    return [
        facts.replace_attribute_name(callee, "softmax"),
        Edit(facts.path, closing, closing, f"{separator}dim=1"),
    ]
