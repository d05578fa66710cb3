"""Pieces shared by the model and the loss checks inside the child."""

from __future__ import annotations

import math
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from migrate.verify._protocol import Blame, Outcome, Status

PhaseReporter = Callable[[str, Blame], None]

FLOAT64_ATOL = 1e-10
FLOAT64_RTOL = 1e-7
FLOAT32_ATOL = 1e-5
FLOAT32_RTOL = 1e-4
# A row counts as a probability vector when it sums to 1 this closely (float32 softmax rows
# miss 1 by a few ulps, so the bound cannot be much tighter).
PROBABILITY_SUM_TOLERANCE = 1e-6
# The inference-path check: softmax(new) computed in the run's precision must have rows that
# sum to 1 this closely (float64 misses by a few 1e-16; float32 by a few 1e-7 times C).
FLOAT64_SUM_TOLERANCE = 1e-9
FLOAT32_SUM_TOLERANCE = 1e-5
# Logits this far apart make softmax exactly one-hot in float64, which is the best case a
# model could ever feed a double-softmax loss; the loss there is its floor.
HUGE_MARGIN = 1000.0
MESSAGE_CHARS = 300

_OUR_CODE = str(Path(__file__).resolve().parents[1])
# Code under these directories is installed libraries (torch, the standard library), never
# the user's project, even when a virtualenv sits inside the project.
LIBRARY_DIRS = tuple(
    str(Path(path).resolve())
    for path in {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
)


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype
    atol: float
    rtol: float
    sum_tolerance: float

    @property
    def label(self) -> str:
        name = str(self.dtype).removeprefix("torch.")
        return f"{name}, tolerance atol={self.atol:g}, rtol={self.rtol:g}"


FLOAT64 = Precision(torch.float64, FLOAT64_ATOL, FLOAT64_RTOL, FLOAT64_SUM_TOLERANCE)
FLOAT32 = Precision(torch.float32, FLOAT32_ATOL, FLOAT32_RTOL, FLOAT32_SUM_TOLERANCE)


class CheckFailed(Exception):
    """Ends a check early with a verdict; raised where the reason is best known."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Verdict:
    status: Status
    reason: str | None = None
    relation: str | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    batches: int = 0
    notes: list[str] = field(default_factory=list)
    atol: float | None = None
    rtol: float | None = None
    data: dict[str, object] | None = None

    def to_outcome(self) -> Outcome:
        outcome: Outcome = {
            "status": self.status,
            "relation": self.relation,
            "max_abs_error": _finite_or_none(self.max_abs_error),
            "max_rel_error": _finite_or_none(self.max_rel_error),
            "batches": self.batches,
            "reason": self.reason,
            "notes": list(self.notes),
            "atol": self.atol,
            "rtol": self.rtol,
        }
        if self.data is not None:
            outcome["data"] = self.data
        return outcome


def _finite_or_none(value: float | None) -> float | None:
    # JSON has no NaN or infinity; "not measurable" is the honest value for both.
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def describe_error(error: BaseException) -> str:
    """`Type: message (at file:line in function)`, pointing into the user's code when possible."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 3] + "..."
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    location = _user_frame(error)
    return f"{text} ({location})" if location else text


def _user_frame(error: BaseException) -> str | None:
    # The innermost frame outside torch, the standard library and this tool is where the
    # user's code went wrong; that is the line worth showing.
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<"):
            continue
        # Sources we execute ourselves carry a " [rewritten]"-style tag after the real path.
        resolved = frame.filename.split(" [", 1)[0]
        if resolved.startswith(_OUR_CODE) or resolved.startswith(LIBRARY_DIRS):
            continue
        return f"at {Path(resolved).name}:{frame.lineno} in {frame.name}"
    return None


def needs_cuda(error: BaseException) -> bool:
    # On a CPU-only machine any error that talks about CUDA means the code wants a GPU.
    text = str(error).lower()
    return "cuda" in text or "nvidia" in text


def double_softmax_floor(classes: int) -> float:
    """The smallest value cross-entropy can take when its input is already a softmax."""
    return math.log(1 + (classes - 1) / math.e)


def double_softmax_best_probability(classes: int) -> float:
    """The largest probability cross-entropy's own softmax can produce from probabilities."""
    return math.e / (math.e + classes - 1)


def double_softmax_explanation(classes: int) -> str:
    floor = double_softmax_floor(classes)
    best = double_softmax_best_probability(classes)
    return (
        "outputs are probabilities (rows sum to 1); CrossEntropyLoss applies log_softmax "
        "itself, so training would apply softmax twice: the loss cannot go below "
        f"log(1 + (C-1)/e) = {floor:.3g} for C = {classes} classes and the largest "
        f"probability the loss ever sees is e/(e+C-1) = {best:.3g}"
    )


def double_softmax_note(classes: int, loss: str = "this loss") -> str:
    """Measure, not just quote, what a softmax in front of cross-entropy would cost for C
    classes: the best a model can do is a one-hot softmax, and the loss on that is the floor."""
    target = torch.arange(classes)
    logits = HUGE_MARGIN * F.one_hot(target, classes).to(torch.float64)
    probabilities = torch.softmax(logits, dim=1)
    floor = float(F.cross_entropy(probabilities, target))
    best = float(torch.softmax(probabilities, dim=1).gather(1, target[:, None]).max())
    return (
        f"double softmax (a softmax output fed to {loss}) would floor the loss at "
        f"{floor:.4f} for C={classes} (measured with margin-{HUGE_MARGIN:g} logits; "
        f"log(1+(C-1)/e) = {double_softmax_floor(classes):.4f}); max attainable probability "
        f"{best:.4f} (e/(e+C-1) = {double_softmax_best_probability(classes):.4f})"
    )
