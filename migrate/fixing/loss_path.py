"""The shared shape of MC201/MC202/MC204/MC205: an activation whose output reaches a loss
that applies it again (or does not want it). Finds the pairs and plans the fix."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from migrate.analysis.api import Activation, LossUse, Mixture, ModuleQueries, names
from migrate.fixing.edits import (
    activation_into_loss,
    choice_reason,
    describe,
    loss_location,
    loss_path_fix,
    mode_reason,
    route_note,
)
from migrate.fixing.readers import ReaderPolicy, forward_activation_fix
from migrate.rule import Fix, Rule, Violation


def loss_path_violations(
    rule: Rule,
    facts: ModuleQueries,
    op: str,
    losses: frozenset[str],
    policy: ReaderPolicy,
    log_probs: bool = False,
    safe: bool = False,
) -> Iterator[Violation]:
    """One violation per (activation, loss) pair, reported at the activation.

    `rule.message` and `rule.fix_title` may use `{activation}` and `{loss}`."""
    for use, activation, exact in activation_into_loss(facts, op, losses, log_probs):
        loss = names.LOSS_DISPLAY[use.loss]
        owner = facts.facts_for(activation.path) or facts
        message = rule.message.format(activation=describe(owner, activation.node), loss=loss)
        message += route_note(use)
        title = (rule.fix_title or "").format(loss=loss, activation=op)
        fix: Fix | None
        reason: str | None
        if use.mode is not None:
            fix, reason = None, mode_reason(use.mode)
        elif use.chosen is not None:
            fix, reason = None, choice_reason(use.chosen)
        elif not exact:
            fix, reason = None, "the probabilities are shifted or clamped before the loss"
        elif activation.function == use.function and activation.path == facts.path:
            fix, reason = loss_path_fix(facts, use, activation, title, safe)
        else:
            fix, reason = forward_activation_fix(facts, activation, policy, title)
        yield _at_activation(rule, facts, use, activation, message, fix, reason)


MixtureFix = Callable[[ModuleQueries, LossUse], tuple[Fix | None, str | None]]

NO_MIXTURE_FIX = (
    "the probabilities are combined (a mean over crops or an ensemble, a product) before the "
    "loss: there are no logits to hand it; compute the loss on each activation's input, or "
    "use a loss that takes probabilities, by hand"
)


def mixture_violations(
    rule: Rule,
    facts: ModuleQueries,
    op: str,
    losses: frozenset[str],
    plan_fix: MixtureFix | None = None,
) -> Iterator[Violation]:
    """One violation per loss whose input mixes the outputs of an `op` activation (a mean of
    softmax or sigmoid probabilities), reported at the activation. Without `plan_fix` the
    finding has no fix: a mixture cannot be un-activated."""
    for use in facts.flow.loss_uses:
        kind = use.input_kind
        if use.loss not in losses or not isinstance(kind, Mixture):
            continue
        if kind.activation.op != op:
            continue
        if plan_fix is None and not kind.reduced:
            # Only an average of the outputs (ten crops, an ensemble) is reported without a
            # fix; sigmoid outputs multiplied into other values are gates.
            continue
        owner = facts.facts_for(kind.activation.path) or facts
        loss = names.LOSS_DISPLAY[use.loss]
        message = rule.message.format(activation=describe(owner, kind.activation.node), loss=loss)
        message += route_note(use)
        fix: Fix | None
        reason: str | None
        fix, reason = plan_fix(facts, use) if plan_fix is not None else (None, NO_MIXTURE_FIX)
        yield _at_activation(rule, facts, use, kind.activation, message, fix, reason)


def _at_activation(
    rule: Rule,
    facts: ModuleQueries,
    use: LossUse,
    activation: Activation,
    message: str,
    fix: Fix | None,
    reason: str | None,
) -> Violation:
    """The violation, reported at the activation; one in another file (a model's forward)
    is reported there, naming this loss."""
    if activation.path == facts.path:
        related = loss_location(facts, use, activation)
        return rule.violation(facts, activation.node, message, fix, reason, related)
    owner = facts.facts_for(activation.path) or facts
    related = ((facts.path, facts.span(use.call)),)
    return rule.violation(owner, activation.node, message, fix, reason, related)
