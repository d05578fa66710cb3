"""Which of the user's functions `verify` runs, and how it judges what they did: the parts that
need no torch (the child's side is covered by `test_verify_shapes.py`)."""

from __future__ import annotations

from migrate.verify._calls import (
    MAX_FUNCTIONS,
    CallSite,
    judge_call,
    judge_run,
    runnable,
    select_functions,
)
from migrate.verify._runner import TaskReport

ORIGINAL = """
import torch

def make_dataset(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g).argmax()

def train_step(model, batch, criterion):
    x, y = batch
    return criterion(model(x), y)

def main(argv=None):
    print("loss", train_step(None, None, None))

def train(epochs=3):
    return torch.sigmoid(torch.zeros(1))

def unrelated(a, b):
    return a + b

class Module:
    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def forward(self, x):
        return torch.softmax(x, 1)
"""


def test_functions_that_read_scores_are_selected_with_what_they_take() -> None:
    sites = select_functions([("train.py", ORIGINAL, ORIGINAL)])
    assert [(site.qualname, site.parameters) for site in sites] == [
        ("train_step", 3),
        ("main", 0),  # an entry point: listed, never run
        ("train", 1),  # callable as it is: run with epochs=1
        ("Module.training_step", 2),  # `self` left out
    ]
    # make_dataset mentions argmax but none of its parameters plays a role; `unrelated`
    # reads no scores; forward is the model check's.
    assert [site.display for site in runnable(sites)] == [
        "train.py:8 train_step",
        "train.py:15 train",
        "train.py:22 Module.training_step",
    ]


def test_a_function_whose_old_text_read_scores_is_selected() -> None:
    old = "def decide(probs):\n    return probs > 0.5\n"
    new = "def decide(probs):\n    return probs.max(1).indices\n"
    (site,) = select_functions([("predict.py", old, new)])
    assert (site.qualname, site.parameters) == ("decide", 1)


def _report(data: dict[str, object]) -> TaskReport:
    outcome = {
        "status": "pass",
        "relation": None,
        "max_abs_error": None,
        "max_rel_error": None,
        "batches": 0,
        "reason": None,
        "notes": [],
        "atol": None,
        "rtol": None,
        "data": data,
    }
    return TaskReport(outcome, 0.1)  # type: ignore[arg-type]


def test_functions_past_the_limit_are_listed_as_not_verified() -> None:
    sites = [CallSite("f.py", f"f{index}", index + 1, 1) for index in range(MAX_FUNCTIONS + 2)]
    ran = runnable(sites)
    assert len(ran) == MAX_FUNCTIONS
    reports = [_report({"error": "raised ValueError"}) for _ in ran]
    verdicts = judge_run(sites, ran, reports, reports)
    assert len(verdicts) == len(sites)
    assert {verdict.status for verdict in verdicts} == {"skip"}
    assert verdicts[-1].reason == (
        f"not run: verification runs the first {MAX_FUNCTIONS} functions only"
    )


ORIGINAL_RUN = {"output_kind": "values in [0, 1]", "targets": "one-hot", "losses": []}


def _migrated(**facts: object) -> dict[str, object]:
    base: dict[str, object] = {
        "model": "m:Net",
        "input": "random normal (8, 4)",
        "output_shape": [8, 3],
        "classes": 3,
        "class_axis": 1,
        "output_kind": "scores",
        "targets": "indices",
    }
    base.update(facts)
    return base


def test_probabilities_into_cross_entropy_fail_and_logits_pass() -> None:
    logits = {
        "loss": "cross_entropy",
        "value": 1.1,
        "input_relation": "output",
        "input_kind": "scores",
        "class_columns": 3,
        "target": "the batch's class indices",
    }
    passed = judge_call("t.py:1 step", ORIGINAL_RUN, _migrated(losses=[logits]), 0.1)
    assert (passed.kind, passed.status) == ("loss site", "pass")
    probabilities = {
        **logits,
        "input_relation": "softmax(output, class axis)",
        "input_kind": "probabilities",
    }
    failed = judge_call("t.py:1 step", ORIGINAL_RUN, _migrated(losses=[probabilities]), 0.1)
    assert failed.status == "fail"
    assert str(failed.reason).startswith("cross_entropy gets probabilities")


def test_the_same_problem_on_every_loss_call_is_said_once_with_its_count() -> None:
    """A loop that calls the loss eight times on probabilities fails once, not with the same
    sentence as its reason and seven notes."""
    probabilities = {
        "loss": "cross_entropy",
        "value": 1.6,
        "input_relation": "output",
        "input_kind": "probabilities",
        "class_columns": 3,
        "target": "the batch's class indices",
    }
    failed = judge_call("t.py:1 train", ORIGINAL_RUN, _migrated(losses=[probabilities] * 8), 0.1)
    assert failed.status == "fail"
    reason = str(failed.reason)
    assert reason.startswith("cross_entropy gets probabilities") and reason.endswith("(x8)")
    assert not any("cross_entropy gets probabilities" in note for note in failed.notes)


def test_foreign_targets_are_judged_only_when_they_were_ours() -> None:
    """A function that makes its own data feeds its own labels: not a mismatch."""
    theirs = {
        "loss": "cross_entropy",
        "value": 1.1,
        "input_relation": "output",
        "input_kind": "scores",
        "class_columns": 3,
        "target": "class indices that are not the batch's labels",
    }
    own_data = judge_call(
        "t.py:1 train", ORIGINAL_RUN, _migrated(losses=[theirs], targets="none"), 0.1
    )
    assert own_data.status == "pass"
    given = judge_call("t.py:1 step", ORIGINAL_RUN, _migrated(losses=[theirs]), 0.1)
    assert given.status == "fail"


def test_a_run_that_compared_nothing_is_not_a_pass() -> None:
    verdict = judge_call("t.py:1 log", ORIGINAL_RUN, _migrated(returns=[]), 0.1)
    assert verdict.status == "skip"
    assert str(verdict.reason).startswith("ran on both trees, but computed no loss")
