"""The runtime sanitizer of `ml2mc verify --run CMD` (README.md, *The strongest check*).

`verify --run` puts this folder first on PYTHONPATH, so every Python process the user's
command starts loads this file at start-up. It does nothing until the process imports torch;
then it wraps the functional losses (which `nn.CrossEntropyLoss` and friends call too) and
`argmax`, and appends one JSON line per call to the file named by `ML2MC_SANITIZER_LOG`:
which loss, where it was called from, what its input looked like, the loss value, and the
anomaly if there is one:

- rows of probabilities (in [0, 1], summing to 1) into `cross_entropy` (a double softmax) or
  into `nll_loss` (which expects log-probabilities); a whole batch of values in [0, 1] into
  `cross_entropy` (a sigmoid before it);
- `cross_entropy` over a single column (its loss is 0 whatever the model does);
- values that are all in [0, 1] into `binary_cross_entropy_with_logits` (a sigmoid applied
  twice);
- a loss that is NaN or infinite;
- `argmax` over a dimension of size 1 (always 0).

Stand-alone on purpose: it imports nothing from ml2mc, so it runs in the project's own
interpreter, and it never raises into the user's code (a failed inspection is skipped).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

LOG_PATH = os.environ.get("ML2MC_SANITIZER_LOG")
# Enough for a smoke run; a long run stops logging, it is not slowed down further.
MAX_RECORDS = 20_000
# Rows must sum to 1 within this to count as probabilities (float32 softmax is within 1e-6).
ROW_SUM_TOLERANCE = 1e-3
# A batch this large whose scores are all in [0, 1] is squashed, not raw logits.
MIN_SQUASHED_VALUES = 8
_records = 0


def _write(record: dict[str, Any]) -> None:
    global _records
    if LOG_PATH is None or _records >= MAX_RECORDS:
        return
    _records += 1
    with open(LOG_PATH, "a", encoding="utf-8") as stream:
        stream.write(json.dumps(record) + "\n")


def _caller() -> str:
    """The first frame outside torch and outside this file: the user's call site."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name != __file__ and f"{os.sep}torch{os.sep}" not in name:
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def _is_probabilities(values: Any, axis: int) -> bool:
    if values.numel() == 0 or values.min() < 0 or values.max() > 1:
        return False
    return bool((values.sum(dim=axis) - 1).abs().max() <= ROW_SUM_TOLERANCE)


def _is_log_probabilities(values: Any, axis: int) -> bool:
    if values.numel() == 0 or values.max() > 0:
        return False
    return bool((values.exp().sum(dim=axis) - 1).abs().max() <= ROW_SUM_TOLERANCE)


def _cross_entropy_input(values: Any) -> tuple[str, str | None]:
    if values.dim() < 2:
        return "unbatched", None
    if values.shape[1] == 1:
        return "one column", "cross_entropy over a single column: its loss is 0 whatever the input"
    if _is_probabilities(values, 1):
        return "probabilities", "probabilities into cross_entropy, which applies log_softmax itself"
    if _is_log_probabilities(values, 1):
        return "log-probabilities", None
    if values.numel() >= MIN_SQUASHED_VALUES and values.min() >= 0 and values.max() <= 1:
        # Logits of a whole batch all in [0, 1] do not happen by chance: a sigmoid (or
        # another squashing) was applied before a loss that applies log_softmax itself.
        return "values in [0, 1]", (
            "values all in [0, 1] into cross_entropy, which applies log_softmax itself "
            "(a sigmoid before the loss?)"
        )
    return "logits", None


def _nll_input(values: Any) -> tuple[str, str | None]:
    if values.dim() < 2:
        return "unbatched", None
    if _is_log_probabilities(values, 1):
        return "log-probabilities", None
    if _is_probabilities(values, 1):
        return "probabilities", "probabilities into nll_loss, which expects log-probabilities"
    return "scores", "values that are not log-probabilities into nll_loss"


def _bce_logits_input(values: Any) -> tuple[str, str | None]:
    if values.numel() >= MIN_SQUASHED_VALUES and values.min() >= 0 and values.max() <= 1:
        return "values in [0, 1]", (
            "values all in [0, 1] into binary_cross_entropy_with_logits, which applies sigmoid "
            "itself"
        )
    return "logits", None


def _bce_input(values: Any) -> tuple[str, str | None]:
    if values.numel() and values.min() >= 0 and values.max() <= 1:
        return "probabilities", None
    return "values outside [0, 1]", "values outside [0, 1] into binary_cross_entropy"


_LOSSES: dict[str, Callable[[Any], tuple[str, str | None]]] = {
    "cross_entropy": _cross_entropy_input,
    "nll_loss": _nll_input,
    "binary_cross_entropy_with_logits": _bce_logits_input,
    "binary_cross_entropy": _bce_input,
}


def _wrap_loss(torch: ModuleType, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    classify = _LOSSES[name]

    def loss(input: Any, *args: Any, **kwargs: Any) -> Any:
        record: dict[str, Any] = {"call": name, "where": _caller()}
        try:
            with torch.no_grad():
                values = input.detach().double()
                record["shape"] = list(values.shape)
                record["input"], record["anomaly"] = classify(values)
        except Exception as error:  # never break the user's run
            record["input"], record["anomaly"] = f"not inspected ({error})", None
        result = original(input, *args, **kwargs)
        try:
            value = result.detach()
            if value.numel() == 1:
                record["value"] = float(value)
            if not bool(torch.isfinite(value).all()) and record.get("anomaly") is None:
                record["anomaly"] = "the loss is NaN or infinite"
        except Exception:
            pass
        _write(record)
        return result

    loss.__wrapped__ = original  # type: ignore[attr-defined]
    return loss


def _wrap_argmax(original: Callable[..., Any]) -> Callable[..., Any]:
    def argmax(input: Any, dim: Any = None, *args: Any, **kwargs: Any) -> Any:
        try:
            if dim is not None and input.dim() > 0 and input.shape[dim] == 1:
                _write(
                    {
                        "call": "argmax",
                        "where": _caller(),
                        "shape": list(input.shape),
                        "input": "one column",
                        "anomaly": "argmax over a dimension of size 1: always 0",
                    }
                )
        except Exception:
            pass
        if dim is None:
            return original(input, *args, **kwargs)
        return original(input, dim, *args, **kwargs)

    argmax.__wrapped__ = original  # type: ignore[attr-defined]
    return argmax


def instrument(torch: ModuleType) -> None:
    functional = torch.nn.functional
    for name in _LOSSES:
        setattr(functional, name, _wrap_loss(torch, name, getattr(functional, name)))
    setattr(torch, "argmax", _wrap_argmax(torch.argmax))  # noqa: B010 (a module: mypy)
    setattr(torch.Tensor, "argmax", _wrap_argmax(torch.Tensor.argmax))  # noqa: B010


class _InstrumentTorch(importlib.abc.MetaPathFinder):
    """Finds `torch` the normal way and instruments it once its module has run."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run_module = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            instrument(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


if LOG_PATH is not None and "torch" not in sys.modules:
    sys.meta_path.insert(0, _InstrumentTorch())
