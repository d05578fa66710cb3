from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import LogOfProbs, ModuleQueries, names
from migrate.fixing.edits import describe, input_still_valid
from migrate.rule import Applicability, Fix, Invalid, Rule, Valid, Violation


class LogOfSoftmax(Rule):
    """
    ## What it does
    Finds `torch.log(softmax(z))`, `softmax(z).log()` and `torch.log(p + eps)` of a softmax.

    ## Why is this bad?
    In float32 a softmax underflows to exactly 0 for confident predictions; its log is `-inf`,
    the loss becomes `inf`, and one backward pass turns the weights into NaN (measured: the
    model collapsed to a single class, macro-F1 0.70 -> 0.06). `log_softmax` computes the
    same value without forming the probabilities. Adding `eps` hides the `-inf` but clips
    the gradient of confident mistakes.

    ## Example
    ```python
    loss = F.nll_loss(torch.log(F.softmax(z, dim=1)), y)
    ```

    ## Use instead
    ```python
    loss = F.nll_loss(F.log_softmax(z, dim=1), y)
    ```

    ## Fix safety
    Safe for `log(softmax(z))` written inline: `log_softmax` is the same function, exact where
    the original did not underflow. `log(p + eps)` becomes `log_softmax` too, but unsafe, since
    the `eps` shift disappears. Never applied to a probability mixture (attention over
    labels), where the softmax cannot be folded into the log.
    """

    code = "MC208"
    name = "log-of-softmax"
    summary = "log of a softmax: underflows to -inf in float32"
    message = "`{log}` takes the log of a softmax; it underflows to log(0) = -inf in float32"
    # `log(p + eps)`, `log(p.clamp(min=eps))`: finite, but not what the loss needs either.
    shifted_message = (
        "`{log}` takes the log of a softmax kept away from 0 by a shift or a clamp; no -inf,"
        " but the gradient of confident mistakes is clipped"
    )
    fix_title = "Use `torch.log_softmax`"
    safety = Applicability.SAFE
    examples = [
        Valid(
            """
            import torch
            import torch.nn.functional as F
            p = F.softmax(scores, dim=1) @ support_onehot
            loss = F.nll_loss(torch.log(p.clamp_min(1e-12)), y)
            """,
            id="mixture-is-not-folded",
        ),
        Valid("import torch\nlp = torch.log_softmax(z, dim=1)", id="log-softmax"),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.nll_loss(torch.log(F.softmax(z, dim=1)), y)
            """,
            fixed="""
            import torch
            import torch.nn.functional as F
            loss = F.nll_loss(torch.log_softmax(z, dim=1), y)
            """,
            id="inline",
        ),
        Invalid(
            """
            import torch
            probs = torch.softmax(logits, dim=-1)
            loss = -(torch.log(probs + 1e-8) * targets).sum(dim=-1).mean()
            """,
            fixed="""
            import torch
            probs = torch.softmax(logits, dim=-1)
            loss = -(torch.log_softmax(logits, dim=-1) * targets).sum(dim=-1).mean()
            """,
            id="through-local-with-eps",
        ),
        Invalid(
            """
            import torch
            probs = torch.softmax(logits, dim=1)
            loss = -(targets * torch.log(torch.clamp(probs, 1e-7, 1 - 1e-7))).sum(1).mean()
            """,
            fixed="""
            import torch
            probs = torch.softmax(logits, dim=1)
            loss = -(targets * torch.log_softmax(logits, dim=1)).sum(1).mean()
            """,
            id="through-local-clamped",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            loss = F.nll_loss(torch.log(F.softmax(z, dim=1).view(-1, 4)), y)
            """,
            id="reshaped-before-the-log-reported-without-fix",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            probs = torch.softmax(emissions, dim=-1).clamp(min=1e-9)
            loss = F.nll_loss(torch.log(probs.transpose(1, 2)), tags)
            """,
            id="class-axis-moved-for-a-tagger-reported-without-fix",
        ),
        Valid(
            """
            import torch
            def own_loss(predict, target):
                return -(target * torch.log(torch.clamp(predict, 1e-7, 1.0))).sum(1).mean()
            """,
            id="clamped-log-of-an-unknown-input",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        for site in facts.flow.logs_of_probs:
            activation = site.probs.activation
            if activation.op != names.SOFTMAX:
                continue
            template = self.shifted_message if site.probs.shifted else self.message
            message = template.format(log=describe(facts, site.call))
            fix: Fix | None = None
            reason: str | None = "the softmax's input may have changed before the log"
            if activation.path != facts.path:
                # The probabilities come from another file (`class_probabilities(...)`).
                reason = f"the softmax is applied in {activation.path}; take log_softmax there"
                yield self.violation(facts, site.call, message, None, reason)
                continue
            usable = (
                activation.input is not None
                and activation.call is not None
                and (
                    facts.contains(site.call, activation.call)
                    or input_still_valid(activation, site.bindings_at_call)
                )
                and _takes_the_softmax_as_is(facts, site)
            )
            if usable and activation.input is not None and activation.function == site.function:
                dim = facts.code(activation.dim) if activation.dim is not None else "1"
                replacement = f"torch.log_softmax({facts.code(activation.input)}, dim={dim})"
                needs_torch = facts.imports.names.get("torch") != "torch"
                if needs_torch:
                    reason = "`torch` is not imported under that name in this module"
                else:
                    safety = Applicability.SAFE if site.probs.exact else Applicability.UNSAFE
                    fix = Fix(self.fix_title, safety, (facts.replace(site.call, replacement),))
                    reason = None
            yield self.violation(facts, site.call, message, fix, reason)


_CLAMPS = frozenset({"clamp", "clamp_min", "clip"})


def _takes_the_softmax_as_is(facts: ModuleQueries, site: LogOfProbs) -> bool:
    """The log reads the softmax's own value (inline, or a name still bound to it), at most
    shifted by `eps` or clamped: `log_softmax(z)` in its place then has the same shape. A
    reshape, a slice or an index in between (`softmax(z).view(-1, C)`, `p[:n]`) would be
    lost by the replacement."""
    activation = site.probs.activation
    call = site.call
    if call.args:
        argument: ast.expr = call.args[0]  # `torch.log(p)`
    elif isinstance(call.func, ast.Attribute):
        argument = call.func.value  # `p.log()`
    else:
        return False

    def direct(node: ast.expr | None) -> bool:
        if node is None:
            return False
        if node is activation.call:
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return direct(node.left) or direct(node.right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _CLAMPS and facts.imports.qualify(node.func) is None:
                return direct(node.func.value)
        if isinstance(node, ast.Call) and facts.imports.qualify(node.func) in (
            "torch.clamp",
            "torch.clip",
            "torch.clamp_min",
        ):
            return direct(node.args[0] if node.args else None)
        if isinstance(node, ast.Name):
            assignment = facts.parents.get(activation.call) if activation.call else None
            if not isinstance(assignment, ast.Assign) or len(assignment.targets) != 1:
                return False
            target = assignment.targets[0]
            return (
                isinstance(target, ast.Name)
                and target.id == node.id
                and facts.flow.assignments.get(target) == site.bindings_at_call.get(node.id)
            )
        return False

    return direct(argument)
