"""What a user reads tells the right story: each rule's message and fix title, checked against
words written here by hand (not read back from the rule), on a small program with the bug.
(Surviving mutants of `benchmarks/mutants.py` swapped MC201's message for MC203's and turned
MC203's fix title into its opposite, and no test noticed.)"""

from __future__ import annotations

import textwrap

import pytest

from migrate.engine import check_source
from migrate.registry import select_rules

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"

CASES = [
    pytest.param(
        "MC201",
        "loss = F.cross_entropy(F.softmax(z, dim=1), y)",
        ("feeds probabilities", "applies log_softmax itself"),
        "logits",
        id="MC201",
    ),
    pytest.param(
        "MC202",
        "loss = F.binary_cross_entropy_with_logits(torch.sigmoid(z), y)",
        ("sigmoid",),
        "",
        id="MC202",
    ),
    pytest.param(
        "MC203",
        "loss = F.nll_loss(F.softmax(z, dim=1), y)",
        ("feeds probabilities", "log-probabilities"),
        "log_softmax",
        id="MC203",
    ),
    pytest.param(
        "MC208",
        "loss = F.nll_loss(torch.log(F.softmax(z, dim=1)), y)",
        ("log",),
        "log_softmax",
        id="MC208",
    ),
]


@pytest.mark.parametrize(("code", "line", "message_words", "fix_word"), CASES)
def test_message_and_fix_title_say_what_is_wrong_and_what_the_fix_does(
    code: str, line: str, message_words: tuple[str, ...], fix_word: str
) -> None:
    source = HEADER + textwrap.dedent(line) + "\n"
    outcome = check_source("m.py", source, select_rules(["MC2"]))
    [violation] = [v for v in outcome.remaining if v.code == code]
    for word in message_words:
        assert word in violation.message, violation.message
    if fix_word:
        assert violation.fix is not None
        assert fix_word in violation.fix.title, violation.fix.title
        # The title describes the fix, never the activation the fix removes.
        assert "Use softmax" not in violation.fix.title
    assert "log-probabilities" not in violation.message or code != "MC201"


def test_a_redundant_log_softmax_is_removed_by_a_safe_fix() -> None:
    """MC205's fix keeps every value the user reads (log_softmax is idempotent under the
    loss's own log_softmax), so it is safe: `check --fix` applies it without --unsafe-fixes."""
    from migrate.rule import Applicability

    source = HEADER + "loss = F.cross_entropy(F.log_softmax(z, dim=1), y)\n"
    outcome = check_source("m.py", source, select_rules(["MC2"]), fix=Applicability.SAFE)
    assert outcome.fixed == HEADER + "loss = F.cross_entropy(z, y)\n"


def test_dropping_an_eps_shift_is_an_unsafe_fix() -> None:
    """`log(softmax(z) + eps)` -> `log_softmax(z)` changes values (the eps is gone): only
    --unsafe-fixes applies it."""
    from migrate.rule import Applicability

    source = HEADER + "loss = F.nll_loss(torch.log(F.softmax(z, dim=1) + 1e-8), y)\n"
    rules = select_rules(["MC2"])
    assert check_source("m.py", source, rules, fix=Applicability.SAFE).fixed == source
    unsafe = check_source("m.py", source, rules, fix=Applicability.UNSAFE)
    assert unsafe.fixed != source and "log_softmax" in unsafe.fixed
