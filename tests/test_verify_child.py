"""Units of the verification child, run in this process with real torch.

`tests/test_verify.py` drives the child end to end; the cases here need outputs that no honest
model produces (a ranking flipped within tolerance, exact ties, NaN rows), so they call the
inference-path check directly.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from migrate.verify._protocol import ModelTask, SettingsMessage
from migrate.verify.child.common import FLOAT32, FLOAT64, double_softmax_note
from migrate.verify.child.models import Relation, _decision_tally, _ModelCheck

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "verify"


def model_check(relation: str = "sigmoid", dim: int = 1) -> _ModelCheck:
    task: ModelTask = {
        "kind": "model",
        "target": "sigmoid_removal/model.py:Net",
        "file": str(FIXTURES / "sigmoid_removal" / "model.py"),
        "display_file": "sigmoid_removal/model.py",
        "class_name": "Net",
        "original_tree": str(FIXTURES),
        "migrated_tree": str(FIXTURES),
        "tree_file": "sigmoid_removal/model.py",
        "relation": relation,
        "dim": dim,
        "output_key": None,
        "feeds_loss": "cross_entropy",
    }
    settings: SettingsMessage = {
        "project_root": str(FIXTURES),
        "model_specs": {},
        "batches": 1,
        "seed": 0,
        "build_hook": None,
        "inputs_hook": None,
    }
    return _ModelCheck(task, settings, lambda text, blame: None)


def test_a_flipped_ranking_fails_with_the_fraction() -> None:
    new = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0]], dtype=torch.float64)
    orig = torch.sigmoid(new)
    orig[1] = orig[1][[1, 0, 2]]  # the original ranked class 0 first in row 2
    check = model_check()
    problem = check._inference_problem(Relation("sigmoid"), [orig], [new], FLOAT64)
    assert problem == (
        "inference path: argmax(softmax(new, dim=1)) = argmax(new) = argmax(orig) holds on "
        "only 2/3 rows (0.667): the migrated code's decisions differ from the class the "
        "original ranked first"
    )


def test_saturated_probabilities_tie_and_count_as_agreeing() -> None:
    # sigmoid(40) and sigmoid(39) are both exactly 1.0 in float64.
    new = torch.tensor([[40.0, 39.0, 0.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    check = model_check()
    problem = check._inference_problem(Relation("sigmoid"), [torch.sigmoid(new)], [new], FLOAT64)
    assert problem is None
    (note,) = check.notes
    assert "on 2/2 rows (1.000)" in note
    assert "1 rows where orig's maximum is tied count as agreeing" in note


def test_nan_rows_are_left_out_and_said_so() -> None:
    new = torch.tensor([[1.0, 2.0], [math.nan, 0.0]], dtype=torch.float64)
    tally = _decision_tally([torch.sigmoid(new)], [new], 1)
    assert (tally.rows, tally.nan_rows, tally.agree_orig, tally.agree_probabilities) == (1, 1, 1, 1)
    assert tally.max_sum_deviation <= 1e-15


def test_sums_are_checked_along_the_class_dim_of_a_sequence_output() -> None:
    new = torch.randn(2, 4, 7, dtype=torch.float64)  # (N, C, T): 14 rows of 4 classes
    tally = _decision_tally([torch.softmax(new, dim=1)], [new], 1)
    assert tally.rows == 14 and tally.agree_orig == 14 and tally.agree_probabilities == 14


def test_float32_sums_use_the_float32_tolerance() -> None:
    new = 10 * torch.randn(64, 1000, dtype=torch.float32)
    check = model_check("softmax")
    problem = check._inference_problem(
        Relation("softmax", 1), [torch.softmax(new, dim=1)], [new], FLOAT32
    )
    assert problem is None
    assert "(allowed 1e-05)" in check.notes[0]


def test_binary_threshold_disagreement_fails() -> None:
    new = torch.tensor([[1.0], [-1.0], [2.0]], dtype=torch.float64)
    orig = torch.sigmoid(new)
    orig[1, 0] = 0.9  # the original said yes where the logit says no
    problem = model_check()._inference_problem(Relation("sigmoid"), [orig], [new], FLOAT64)
    assert problem is not None
    assert problem.startswith(
        "inference path: threshold decisions new > 0 and orig > 0.5 agree on 2/3 outputs (0.667)"
    )


def test_identity_has_no_inference_path() -> None:
    new = torch.randn(3, 4, dtype=torch.float64)
    check = model_check("identity")
    assert check._inference_problem(Relation("identity"), [new], [new], FLOAT64) is None
    assert check.notes == []


@pytest.mark.parametrize(("classes", "floor", "best"), [(2, 0.3133, 0.7311), (10, 1.4612, 0.2320)])
def test_double_softmax_note_is_measured(classes: int, floor: float, best: float) -> None:
    assert math.isclose(math.log(1 + (classes - 1) / math.e), floor, abs_tol=5e-5)
    assert math.isclose(math.e / (math.e + classes - 1), best, abs_tol=5e-5)
    note = double_softmax_note(classes)
    assert note.count(f"{floor:.4f}") == 2
    assert note.count(f"{best:.4f}") == 2
