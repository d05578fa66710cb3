"""Torch equivalence check: prove numerically that a rewrite keeps (or knowingly changes) what
a model or a loss computes.

This module never imports torch: `ml2mc check` imports the engine, and the engine imports this
package, so a torch import here would cost every run a second or more. All torch work happens
in a child interpreter (`python -m migrate.verify.child`), which also contains user code that
hangs, crashes or prints: the parent enforces a per-target timeout and reads results from a
file, never from the child's stdout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from migrate.verify._against import (
    GitError,
    changed_files,
    changed_models,
    display_path,
    mentions_cross_entropy,
)
from migrate.verify._protocol import LossTask, ModelTask, SettingsMessage, Task
from migrate.verify._runner import TaskReport, run_tasks

__all__ = [
    "LossTarget",
    "VerifyError",
    "VerifyResult",
    "VerifySettings",
    "VerifyTarget",
    "result_to_json",
    "verify_against",
    "verify_losses",
    "verify_models",
]

RELATIONS = ("sigmoid", "softmax", "log_softmax", "identity", "unknown")


class VerifyError(Exception):
    """The verification cannot run at all (not a git repository, unknown ref...)."""


@dataclass(frozen=True)
class VerifyTarget:
    file: Path  # the original file on disk
    display_file: str  # the path shown in reports
    class_name: str
    original_source: str
    rewritten_source: str
    # sigmoid: orig = sigmoid(new); softmax / log_softmax: orig = softmax(new, dim);
    # identity: orig = new; unknown: try them all (used by --against)
    relation: str
    dim: int = 1
    # When forward returns a tuple or dict: the element holding the classification output.
    output_key: str | int | None = None
    # "cross_entropy" when the rewritten output feeds CrossEntropyLoss: it must not be
    # probabilities then.
    feeds_loss: str | None = None


@dataclass(frozen=True)
class LossTarget:
    display: str  # e.g. "src/train.py:14"
    # Evaluated with `torch`, `nn` and `F` in scope: an instance, a class or a function.
    rewritten_expression: str
    original_expression: str | None = None


@dataclass(frozen=True)
class VerifySettings:
    project_root: Path  # where [tool.ml2mc.verify] was found; on sys.path in the child
    # "pkg.mod:Class" -> {"factory", "args", "kwargs", "input", "shape", "dtype"}
    model_specs: dict[str, dict[str, object]]
    timeout_seconds: float = 60.0  # per target
    batches: int = 3
    seed: int = 0


@dataclass(frozen=True)
class VerifyResult:
    target: str  # "display_file:Class" or the loss display
    kind: str  # "model" | "loss"
    status: str  # "pass" | "fail" | "skip"
    relation: str | None  # e.g. "orig = softmax(new, dim=1)"
    max_abs_error: float | None
    max_rel_error: float | None
    batches: int
    seconds: float
    reason: str | None  # always set for fail and skip
    notes: tuple[str, ...] = ()


def verify_models(targets: list[VerifyTarget], settings: VerifySettings) -> list[VerifyResult]:
    """Check each rewritten model against its original; one result per target, in order."""
    for target in targets:
        if target.relation not in RELATIONS:
            raise ValueError(
                f"unknown relation {target.relation!r} for {target.class_name}; "
                f"expected one of {', '.join(RELATIONS)}"
            )
    tasks: list[Task] = [_model_task(target) for target in targets]
    labels = [f"{target.display_file}:{target.class_name}" for target in targets]
    return _run(tasks, labels, "model", settings)


def verify_losses(targets: list[LossTarget], settings: VerifySettings) -> list[VerifyResult]:
    """Check each rewritten criterion is cross-entropy on logits (value, gradient, targets)."""
    tasks: list[Task] = [
        LossTask(
            kind="loss",
            target=target.display,
            rewritten_expression=target.rewritten_expression,
            original_expression=target.original_expression,
        )
        for target in targets
    ]
    return _run(tasks, [target.display for target in targets], "loss", settings)


def verify_against(
    files: list[Path], ref: str, settings: VerifySettings, repo_root: Path
) -> list[VerifyResult]:
    """Verify every model class that differs between git `ref` and the working tree.

    `files` limits the search (files or directories; empty means the whole repository). No
    rule declared a relation for a change made by hand, so each class is checked with
    relation "unknown", and with the probability check armed when any changed file mentions
    cross-entropy.
    """
    try:
        changed = changed_files(files, ref, repo_root)
    except GitError as error:
        raise VerifyError(str(error)) from error
    feeds_loss = mentions_cross_entropy(
        [item.new_source for item in changed if item.new_source is not None]
    )
    problems: list[VerifyResult] = []
    targets: list[VerifyTarget] = []
    for item in changed:
        if item.problem is not None:
            problems.append(
                _unparsable(item.file, item.problem, new_is_bad=item.new_source is None)
            )
            continue
        for model in changed_models(item):
            targets.append(
                VerifyTarget(
                    file=model.file,
                    display_file=display_path(model.file),
                    class_name=model.class_name,
                    original_source=model.original_source,
                    rewritten_source=model.new_source,
                    relation="unknown",
                    feeds_loss="cross_entropy" if feeds_loss else None,
                )
            )
    return problems + verify_models(targets, settings)


def result_to_json(result: VerifyResult) -> dict[str, object]:
    """The `verification` entry of `--output-format json` (DESIGN.md), plus extra keys."""
    return {
        "target": result.target,
        "status": result.status,
        "relation": result.relation,
        "max_abs_error": _json_number(result.max_abs_error),
        "batches": result.batches,
        "reason": result.reason,
        "kind": result.kind,
        "max_rel_error": _json_number(result.max_rel_error),
        "seconds": round(result.seconds, 3),
        "notes": list(result.notes),
    }


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _model_task(target: VerifyTarget) -> ModelTask:
    return ModelTask(
        kind="model",
        target=f"{target.display_file}:{target.class_name}",
        file=str(target.file.resolve()),
        display_file=target.display_file,
        class_name=target.class_name,
        original_source=target.original_source,
        rewritten_source=target.rewritten_source,
        relation=target.relation,
        dim=target.dim,
        output_key=target.output_key,
        feeds_loss=target.feeds_loss,
    )


def _settings_message(settings: VerifySettings) -> SettingsMessage:
    return SettingsMessage(
        project_root=str(settings.project_root.resolve()),
        model_specs=settings.model_specs,
        batches=settings.batches,
        seed=settings.seed,
    )


def _run(
    tasks: list[Task], labels: list[str], kind: str, settings: VerifySettings
) -> list[VerifyResult]:
    reports = run_tasks(tasks, _settings_message(settings), settings.timeout_seconds)
    return [_result(label, kind, report) for label, report in zip(labels, reports, strict=True)]


def _result(label: str, kind: str, report: TaskReport) -> VerifyResult:
    outcome = report.outcome
    return VerifyResult(
        target=label,
        kind=kind,
        status=outcome["status"],
        relation=outcome["relation"],
        max_abs_error=outcome["max_abs_error"],
        max_rel_error=outcome["max_rel_error"],
        batches=outcome["batches"],
        seconds=report.seconds,
        reason=outcome["reason"],
        notes=tuple(outcome["notes"]),
    )


def _unparsable(file: Path, problem: str, *, new_is_bad: bool) -> VerifyResult:
    # A working tree that does not parse is the change's fault; a bad original is not.
    return VerifyResult(
        target=display_path(file),
        kind="model",
        status="fail" if new_is_bad else "skip",
        relation=None,
        max_abs_error=None,
        max_rel_error=None,
        batches=0,
        seconds=0.0,
        reason=problem,
    )
