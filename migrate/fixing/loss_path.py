"""The shared shape of MC201/MC202/MC204/MC205: an activation whose output reaches a loss
that applies it again (or does not want it). Finds the pairs and plans the fix."""

from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
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
        if activation.path == facts.path:
            yield rule.violation(
                facts, activation.node, message, fix, reason, loss_location(facts, use, activation)
            )
        else:
            # The activation lives in another file: report it there, and name this loss.
            related = ((facts.path, facts.span(use.call)),)
            yield rule.violation(owner, activation.node, message, fix, reason, related)
