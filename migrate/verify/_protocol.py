"""The contract between the parent (`migrate.verify`) and the child (`migrate.verify.child`).

Both sides import this module, so it must stay torch-free. Messages travel as JSON: the job
as one file the child reads, events as JSON lines the child appends to a results file. The
child's stdout and stderr belong to the user's code (a `print` in `forward` must not break the
protocol), so nothing of ours is ever written there.
"""

from __future__ import annotations

from typing import Literal, TypedDict

Blame = Literal["original", "rewritten", "setup"]
Status = Literal["pass", "fail", "skip"]


class SettingsMessage(TypedDict):
    project_root: str
    model_specs: dict[str, dict[str, object]]
    batches: int
    seed: int
    # [tool.ml2mc.verify] build = "pkg.module:function" (returns the model) and
    # inputs = "pkg.module:function" (returns a batch for it); None when not configured.
    build_hook: str | None
    inputs_hook: str | None


class ModelTask(TypedDict):
    kind: Literal["model"]
    target: str
    file: str
    display_file: str
    class_name: str
    # Private copies of the project before and after the change, and the model's file inside
    # them; `file` is where it lives in the project (for [tool.ml2mc.verify] keys).
    original_tree: str
    migrated_tree: str
    tree_file: str
    relation: str
    dim: int
    output_key: str | int | None
    feeds_loss: str | None


class CriterionSource(TypedDict):
    """A loss construction found in a tree: `expression` evaluated in `module`'s globals."""

    module: str
    expression: str
    where: str  # "train.py:31", for messages


class CallTask(TypedDict):
    """Run one user function in one tree (a loss site or a reader) and record what it did."""

    kind: Literal["call"]
    target: str  # "train.py:12 train_step", for messages
    key: str  # names this function's files in `scratch`, shared by both trees' runs
    tree: str  # absolute path of this tree's copy: the working directory and sys.path root
    tree_name: Literal["original", "migrated"]
    file: str  # the function's file, relative to `tree`
    qualname: str  # "train_step" or "Trainer.training_step"
    # What builds the model, in the order to try: "module:Class" or "module:factory".
    models: list[str]
    criteria: list[CriterionSource]
    # The project's config classes ("module:Class"), for parameters named cfg / config.
    configs: list[str]
    # The original's run leaves its choices, weights and outputs here for the migrated run.
    scratch: str


Task = ModelTask | CallTask


class Job(TypedDict):
    settings: SettingsMessage
    tasks: list[Task]


class _OutcomeExtras(TypedDict, total=False):
    # What a call task saw (loss calls, returned values, thresholds), judged by the parent.
    data: dict[str, object]


class Outcome(_OutcomeExtras):
    """What the child says about one task; the parent adds target, kind and seconds."""

    status: Status
    relation: str | None
    max_abs_error: float | None
    max_rel_error: float | None
    batches: int
    reason: str | None
    notes: list[str]
    # The tolerance the numeric comparison used (torch.isclose: |orig - expected| <= atol +
    # rtol * |expected|); None when the check stopped before comparing anything.
    atol: float | None
    rtol: float | None


def blame_status(blame: str) -> Status:
    """A problem in the original code says nothing about the rewrite (skip); one that only the
    rewritten code has is the rewrite's fault (fail)."""
    return "fail" if blame == "rewritten" else "skip"
