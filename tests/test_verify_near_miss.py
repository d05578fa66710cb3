"""Rewrites that are almost right must fail verification, and for the tight reason.

`fixtures/verify/near_miss/model.py` holds two originals: `Scorer`, a multi-label head whose
forward ends in a sigmoid (relation `orig = sigmoid(new)`), and `Tagger`, per-token classes
with a softmax over the last axis of an (N, L, C) output (relation `orig = softmax(new,
dim=-1)`). Each `model.<variant>.py` is one rewrite of both classes, wrong in one of them:

- `bias002`: the scorer's logits + 0.02, so sigmoid(new) misses orig by up to 0.005;
- `scale1001`: the scorer's logits x 1.001, so sigmoid(new) misses orig by about 2e-4;
- `wrong_axis`: the tagger returns log_softmax over dim=1 (the sequence), not the classes;
- `wider`: the scorer's head has one class more, so the original checkpoint cannot load;
- `one_class`: one column of the scorer's logits is off by +0.5, every other column is exact
  (a relation must hold on every element, not on most of them).

`model.after.py` (logits) and `model.right_axis.py` (log_softmax over the class axis, which
softmax cannot tell from the logits) are the controls. A verifier with a loose tolerance (say
atol 0.05) would pass the first two, so each numeric case checks the measured error against
the tolerance the result reports, and that this tolerance is the tight float64 one.

All targets share one `verify_models` call (one child process, torch imported once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate.verify import VerifyResult, VerifySettings, VerifyTarget, result_to_json, verify_models

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "verify"
NEAR_MISS = FIXTURES / "near_miss"

# The float64 comparison must be far tighter than any error a real rewrite slip produces.
TIGHT_ATOL = 1e-6
TIGHT_RTOL = 1e-6


def near_miss_target(variant: str, class_name: str) -> VerifyTarget:
    """`near_miss/model.py` against `near_miss/model.<variant>.py`, with the relation the
    migration declares for that class."""
    original = NEAR_MISS / "model.py"
    rewritten = NEAR_MISS / f"model.{variant}.py"
    if class_name == "Scorer":
        relation, dim = "sigmoid", 1
    else:
        relation, dim = "softmax", -1
    return VerifyTarget(
        file=original,
        display_file="near_miss/model.py",
        class_name=class_name,
        original_source=original.read_text(encoding="utf-8"),
        rewritten_source=rewritten.read_text(encoding="utf-8"),
        relation=relation,
        dim=dim,
    )


@dataclass(frozen=True)
class Case:
    id: str
    target: VerifyTarget


CASES = [
    Case("scorer control", near_miss_target("after", "Scorer")),
    Case("tagger control", near_miss_target("after", "Tagger")),
    Case("tagger log_softmax on the class axis", near_miss_target("right_axis", "Tagger")),
    Case("bias +0.02", near_miss_target("bias002", "Scorer")),
    Case("scale x1.001", near_miss_target("scale1001", "Scorer")),
    Case("one class off", near_miss_target("one_class", "Scorer")),
    Case("wrong axis", near_miss_target("wrong_axis", "Tagger")),
    Case("one class wider", near_miss_target("wider", "Scorer")),
]
NUMERIC_NEAR_MISSES = ["bias +0.02", "scale x1.001", "wrong axis", "one class off"]
CONTROLS = ["scorer control", "tagger control", "tagger log_softmax on the class axis"]


@pytest.fixture(scope="module")
def results() -> dict[str, VerifyResult]:
    found = verify_models(
        [case.target for case in CASES],
        VerifySettings(project_root=FIXTURES, model_specs={}, timeout_seconds=30),
    )
    assert len(found) == len(CASES)
    return {case.id: result for case, result in zip(CASES, found, strict=True)}


def tolerance(result: VerifyResult) -> tuple[float, float]:
    """The tolerance the result says it applied, which must be the tight float64 one."""
    assert result.atol is not None and result.rtol is not None, result
    assert result.atol <= TIGHT_ATOL, f"float64 atol {result.atol:g} is loose"
    assert result.rtol <= TIGHT_RTOL, f"float64 rtol {result.rtol:g} is loose"
    assert f"float64, tolerance atol={result.atol:g}, rtol={result.rtol:g}" in result.notes
    return result.atol, result.rtol


@pytest.mark.parametrize("name", CONTROLS)
def test_correct_rewrites_pass_within_the_reported_tolerance(
    results: dict[str, VerifyResult], name: str
) -> None:
    result = results[name]
    assert result.status == "pass", result.reason
    atol, _ = tolerance(result)
    assert result.max_abs_error is not None and result.max_abs_error <= atol


@pytest.mark.parametrize("name", NUMERIC_NEAR_MISSES)
def test_numeric_near_miss_fails_beyond_the_reported_tolerance(
    results: dict[str, VerifyResult], name: str
) -> None:
    result = results[name]
    assert result.status == "fail", f"{name} passed with max abs error {result.max_abs_error}"
    atol, rtol = tolerance(result)
    # Elementwise the check is |orig - expected| <= atol + rtol * |expected|, and expected is
    # a probability here (|expected| <= 1): an error above atol + rtol fails on every reading.
    assert result.max_abs_error is not None and result.max_abs_error > atol + rtol
    assert result.reason is not None
    assert "does not hold" in result.reason
    assert f"(allowed atol={atol:g}, rtol={rtol:g})" in result.reason


def test_bias_is_caught_at_its_own_size(results: dict[str, VerifyResult]) -> None:
    # sigmoid has slope at most 1/4, so a +0.02 logit bias moves probabilities by <= 0.005.
    error = results["bias +0.02"].max_abs_error
    assert error is not None and 1e-3 < error <= 0.02 / 4 + 1e-12


def test_scale_is_caught_at_its_own_size(results: dict[str, VerifyResult]) -> None:
    # sigmoid(1.001 z) - sigmoid(z) ~ 0.001 * z * sigmoid'(z), at most ~2.2e-4 in z.
    error = results["scale x1.001"].max_abs_error
    assert error is not None and 1e-6 < error < 3e-4


def test_wrong_axis_fails_where_the_right_axis_passes(results: dict[str, VerifyResult]) -> None:
    # The two rewrites differ only in log_softmax's dim; the relation is softmax over dim=-1.
    wrong = results["wrong axis"]
    right = results["tagger log_softmax on the class axis"]
    assert wrong.reason is not None
    assert wrong.reason.startswith("orig = softmax(new, dim=-1) does not hold")
    assert right.relation == "orig = softmax(new, dim=-1)"
    assert any("(8, 16)" in note for note in wrong.notes)  # 2-d ids, a 3-d output


def test_wider_head_fails_because_the_checkpoint_does_not_load(
    results: dict[str, VerifyResult],
) -> None:
    result = results["one class wider"]
    assert result.status == "fail"
    assert result.reason is not None
    assert "old checkpoints would not load" in result.reason
    assert "size mismatch for head.weight" in result.reason
    assert "torch.Size([4, 8])" in result.reason and "torch.Size([5, 8])" in result.reason
    # Nothing was compared, so no tolerance was applied and none is reported.
    assert result.max_abs_error is None
    assert result.atol is None and result.rtol is None


def test_json_reports_the_tolerance_applied(results: dict[str, VerifyResult]) -> None:
    entry = result_to_json(results["bias +0.02"])
    assert entry["atol"] == results["bias +0.02"].atol
    assert entry["rtol"] == results["bias +0.02"].rtol
    wider = result_to_json(results["one class wider"])
    assert wider["atol"] is None and wider["rtol"] is None
