"""Torch equivalence check: prove numerically, by running the user's code, that a rewrite keeps
(or knowingly changes) what a model computes, and that its losses and readers get and give
what multi-class code should.

This module never imports torch: `ml2mc check` imports the engine, and the engine imports this
package, so a torch import here would cost every run a second or more. All torch work happens
in a child interpreter (`python -m migrate.verify.child`), which also contains user code that
hangs, crashes or prints: the parent enforces a per-target timeout and reads results from a
file, never from the child's stdout.

What a model check proves (README.md, "What `verify` runs"): the rewritten class builds like the
original, loads its `state_dict` with `strict=True`, and on the same seeded batches (float64,
float32 only as a fallback) its output `new` relates to the original's `orig` as declared
(`orig = sigmoid(new)`, `orig = softmax(new, dim)`, `orig = new`). Where a sigmoid or softmax
was removed, the rewritten inference path is checked on those batches too: `softmax(new, dim)`
rows sum to 1 (within 1e-9 in float64, 1e-5 in float32) and `argmax(softmax(new)) =
argmax(new) = argmax(orig)` on every row (a one-score-per-sample model: `new > 0` against
`orig > 0.5`); the fraction of agreeing rows is in the notes, and anything below 1.0 fails.
When the output feeds CrossEntropyLoss it must not be probabilities, and a passing model gets
a note with what the double-softmax version would have given for its number of classes C: the
loss floor log(1+(C-1)/e) and the largest attainable probability e/(e+C-1), both measured.
Loss sites and readers (`_calls`): the user's own functions that compute a loss or read the
model's output run on both trees, each in its own child process with the tree's copy as
working directory, on the same weights and batch; what each loss received and what each
reader returned is compared with the migrated model's output (logits and class indices into
cross_entropy, softmax / argmax over the class axis out of readers). A function that could
not be run is "not verified" with the reason, never a pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from migrate.verify._protocol import ModelTask, SettingsMessage, Task

if TYPE_CHECKING:
    from migrate.verify._against import ChangedFile
    from migrate.verify._runner import TaskReport

# `_runner` (subprocess, tempfile) and `_against` (git) are imported where they are used: the
# child process imports this package on its way to `migrate.verify.child` and needs neither.

__all__ = [
    "Trees",
    "VerifyError",
    "VerifyResult",
    "VerifySettings",
    "VerifyTarget",
    "cancel_early",
    "changed_since",
    "result_to_json",
    "set_interpreter",
    "settings_from_config",
    "start_early",
    "verify_against",
    "verify_change",
    "verify_models",
    "verify_planned",
    "verify_run",
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
class VerifySettings:
    project_root: Path  # where [tool.ml2mc.verify] was found; on sys.path in the child
    # "pkg.mod:Class" -> {key: value}, the keys of `migrate.config.VERIFY_MODEL_KEYS`
    model_specs: dict[str, dict[str, object]]
    timeout_seconds: float = 60.0  # per target
    batches: int = 3
    seed: int = 0
    # [tool.ml2mc.verify] build / inputs: "pkg.module:function" hooks for models that need
    # config objects and for inputs that cannot be inferred from the first layers.
    build_hook: str | None = None
    inputs_hook: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    target: str  # "display_file:Class" or the loss display
    kind: str  # "model" | "loss" | "runtime"
    status: str  # "pass" | "fail" | "skip"
    relation: str | None  # e.g. "orig = softmax(new, dim=1)"
    max_abs_error: float | None
    max_rel_error: float | None
    batches: int
    seconds: float
    reason: str | None  # always set for fail and skip
    notes: tuple[str, ...] = ()
    # The tolerance the comparison used: it held where |orig - expected| <= atol + rtol *
    # |expected| everywhere (torch.isclose). None when nothing was compared.
    atol: float | None = None
    rtol: float | None = None


def settings_from_config(
    table: dict[str, object], project_root: Path, timeout_seconds: float = 60.0
) -> VerifySettings:
    """`[tool.ml2mc.verify]` as settings: per-class tables ("pkg.mod:Class" = { kwargs = ...,
    factory = ..., input = ..., shape = ... }) and the project-wide `build` / `inputs` hooks
    (their keys are checked when the configuration is read: `migrate.config`)."""
    build = table.get("build")
    inputs = table.get("inputs")
    for name, value in (("build", build), ("inputs", inputs)):
        if value is not None and (not isinstance(value, str) or ":" not in value):
            raise VerifyError(
                f'[tool.ml2mc.verify] {name} must be "package.module:function", got {value!r}'
            )
    return VerifySettings(
        project_root=project_root,
        model_specs={str(key): value for key, value in table.items() if isinstance(value, dict)},
        timeout_seconds=timeout_seconds,
        build_hook=build if isinstance(build, str) else None,
        inputs_hook=inputs if isinstance(inputs, str) else None,
    )


def start_early() -> None:
    """Start the verification child now, before the targets are known, so that its torch
    import overlaps the caller's own work (the rules, the writes). The next `verify_models`,
    `verify_against` call hands it its job. Call `cancel_early()` when it
    turns out there is nothing to verify; otherwise it is stopped at interpreter exit, and it
    exits by itself if this process dies."""
    from migrate.verify._runner import start_early as start

    start()


def set_interpreter(path: str | None) -> None:
    """The interpreter that runs verification children: the project's (`--python`); None
    restores the default (the active virtual environment, else the one running ml2mc)."""
    from migrate.verify._runner import set_interpreter as choose

    choose(path)


def cancel_early() -> None:
    """Stop the child `start_early()` started, if nobody used it; a no-op otherwise."""
    from migrate.verify._runner import cancel_early as cancel

    cancel()


@dataclass(frozen=True)
class Trees:
    """Private copies of the project before and after the change. User code runs only here:
    each copy is a check's working directory and import root, so the original and the
    migrated modules never meet and nothing is written into the project."""

    top: Path  # the project folder both copies reproduce
    original: Path
    migrated: Path

    def relative(self, file: Path) -> str | None:
        resolved = file.resolve()
        return (
            resolved.relative_to(self.top).as_posix() if resolved.is_relative_to(self.top) else None
        )


def verify_models(
    targets: list[VerifyTarget], settings: VerifySettings, trees: Trees | None = None
) -> list[VerifyResult]:
    """Check each rewritten model against its original; one result per target, in order.

    `pass` means the declared relation holds on every batch, old checkpoints load, and, for
    sigmoid / softmax relations, the inference path agrees (see the module docstring); the
    notes carry the precision, the input used and those figures. `fail` is the rewrite's
    fault, `skip` means the original could not be run (the reason says why and what to
    configure). Without `trees`, copies of `settings.project_root` are made, with each
    target's original and rewritten text in place. Uses the child from `start_early()`.
    """
    return verify_change(targets, [], settings, trees)


def verify_planned(
    targets: list[VerifyTarget],
    changed: list[tuple[Path, str, str]],
    project_root: Path,
    settings: VerifySettings,
) -> list[VerifyResult]:
    """`migrate`'s check before it writes: the models it rewrote (`targets`) and the loss
    sites and readers in the files it changes (`changed`: file, original text, planned text),
    on a copy of the project as it is on disk and a copy with the planned files."""
    return verify_change(targets, changed, replace(settings, project_root=project_root))


def verify_change(
    targets: list[VerifyTarget],
    changed: Sequence[tuple[Path, str | None, str]],
    settings: VerifySettings,
    trees: Trees | None = None,
) -> list[VerifyResult]:
    """Models, then loss sites and readers, on `trees` (made from `settings.project_root`
    and the texts in `targets` and `changed` when not given)."""
    import tempfile

    for target in targets:
        if target.relation not in RELATIONS:
            raise ValueError(
                f"unknown relation {target.relation!r} for {target.class_name}; "
                f"expected one of {', '.join(RELATIONS)}"
            )
    if trees is None:
        groups = _one_text_per_file(targets)
        if len(groups) > 1:
            # Targets that disagree on a file's rewritten text (variants of one model) cannot
            # share a tree: each group gets its own copies; the results keep the given order.
            found: dict[int, VerifyResult] = {}
            functions: list[VerifyResult] = []
            for number, group in enumerate(groups):
                results = verify_change(group, changed if number == 0 else [], settings)
                for target, result in zip(group, results, strict=False):
                    found[id(target)] = result
                functions += results[len(group) :]
            return [found[id(target)] for target in targets] + functions
        texts = [(t.file, t.original_source, t.rewritten_source) for t in targets]
        texts += [(file, old, new) for file, old, new in changed if old is not None]
        if not texts:
            return []
        with tempfile.TemporaryDirectory(prefix="ml2mc-trees-") as work:
            made = _planned_trees(settings.project_root, texts, Path(work))
            return _verify_on_trees(targets, changed, settings, made, Path(work))
    with tempfile.TemporaryDirectory(prefix="ml2mc-scratch-") as work:
        return _verify_on_trees(targets, changed, settings, trees, Path(work))


def _one_text_per_file(targets: list[VerifyTarget]) -> list[list[VerifyTarget]]:
    groups: list[tuple[dict[Path, str], list[VerifyTarget]]] = []
    for target in targets:
        file = target.file.resolve()
        for texts, members in groups:
            if texts.get(file, target.rewritten_source) == target.rewritten_source:
                texts[file] = target.rewritten_source
                members.append(target)
                break
        else:
            groups.append(({file: target.rewritten_source}, [target]))
    return [members for _, members in groups]


def _planned_trees(project_root: Path, texts: list[tuple[Path, str, str]], work: Path) -> Trees:
    from migrate.verify._runtime import copy_working_tree

    top = project_root.resolve()
    trees = Trees(top, work / "original", work / "migrated")
    copy_working_tree(top, trees.original, trees.migrated)
    for file, original, planned in texts:
        relative = trees.relative(file)
        if relative is None:
            continue
        for tree, text in ((trees.original, original), (trees.migrated, planned)):
            destination = tree / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(text, encoding="utf-8")
    return trees


def _verify_on_trees(
    targets: list[VerifyTarget],
    changed: Sequence[tuple[Path, str | None, str]],
    settings: VerifySettings,
    trees: Trees,
    work: Path,
) -> list[VerifyResult]:
    from migrate.verify._against import display_path
    from migrate.verify._calls import build_tasks, judge_run, runnable, select_functions
    from migrate.verify._runner import run_tasks

    message = _settings_message(settings)
    results: list[VerifyResult | None] = []
    model_tasks: list[Task] = []
    for target in targets:
        relative = trees.relative(target.file)
        if relative is None:
            results.append(_outside(target, trees.top))
            continue
        results.append(None)
        model_tasks.append(_model_task(target, trees, relative))
    relative_changes = [
        (relative, old, new)
        for file, old, new in changed
        if (relative := trees.relative(file)) is not None
    ]
    sites = select_functions(relative_changes)
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    run = runnable(sites)
    # The models and the original tree's functions share the first child (torch is imported
    # once); the migrated tree's functions run in a second one, after the first has left its
    # weights and choices in `scratch`.
    first = run_tasks(
        model_tasks + build_tasks(run, trees.original, "original", scratch),
        message,
        settings.timeout_seconds,
    )
    second = run_tasks(
        build_tasks(run, trees.migrated, "migrated", scratch),
        message,
        settings.timeout_seconds,
    )
    model_reports = iter(first[: len(model_tasks)])
    for index, target in enumerate(targets):
        if results[index] is None:
            label = f"{target.display_file}:{target.class_name}"
            results[index] = _result(label, "model", next(model_reports))
    prefix = display_path(trees.top / "x")[: -len("x")]
    verdicts = judge_run(sites, run, first[len(model_tasks) :], second)
    functions = [
        VerifyResult(
            target=prefix + verdict.target,
            kind=verdict.kind,
            status=verdict.status,
            relation=_CALL_RELATIONS.get(verdict.kind) if verdict.status != "skip" else None,
            max_abs_error=None,
            max_rel_error=None,
            batches=1 if verdict.status != "skip" else 0,
            seconds=verdict.seconds,
            reason=verdict.reason,
            notes=verdict.notes,
        )
        for verdict in verdicts
    ]
    return [result for result in results if result is not None] + functions


def _outside(target: VerifyTarget, top: Path) -> VerifyResult:
    return VerifyResult(
        target=f"{target.display_file}:{target.class_name}",
        kind="model",
        status="skip",
        relation=None,
        max_abs_error=None,
        max_rel_error=None,
        batches=0,
        seconds=0.0,
        reason=f"{target.file} is outside the project folder {top} that verification copies",
    )


def verify_run(
    command: str, ref: str, repo_root: Path, cwd: Path, timeout_seconds: float
) -> VerifyResult:
    """`verify --run CMD`: the user's command in an export of `ref` and in a copy of the
    working tree, with torch instrumented (`_runtime`); an anomaly in the migrated run (a loss
    given what it does not expect, an argmax over one column, a NaN loss) fails."""
    import tempfile

    from migrate.verify._against import GitError
    from migrate.verify._runtime import judge, prepare_trees, run_in_tree

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ml2mc-run-") as work:
        try:
            original_tree, migrated_tree = prepare_trees(repo_root, ref, Path(work))
        except GitError as error:
            raise VerifyError(str(error)) from error
        runs = [
            run_in_tree(command, name, tree, repo_root, cwd, timeout_seconds)
            for name, tree in (("original", original_tree), ("migrated", migrated_tree))
        ]
    verdict = judge(*runs)
    return VerifyResult(
        target=f"run `{command}` ({ref} -> working tree)",
        kind="runtime",
        status=verdict["status"],
        relation="every loss gets the input it expects",
        max_abs_error=None,
        max_rel_error=None,
        batches=verdict["batches"],
        seconds=time.monotonic() - started,
        reason=verdict["reason"],
        notes=verdict["notes"],
    )


def changed_since(files: list[Path], ref: str, repo_root: Path) -> list[ChangedFile]:
    """The Python files under `files` modified or renamed since `ref`, with both versions
    (`verify --against` checks their models and runs the static check on them)."""
    from migrate.verify._against import GitError, changed_files

    try:
        return changed_files(files, ref, repo_root)
    except GitError as error:
        raise VerifyError(str(error)) from error


def verify_against(
    files: list[Path],
    ref: str,
    settings: VerifySettings,
    repo_root: Path,
    changed: list[ChangedFile] | None = None,
) -> list[VerifyResult]:
    """Verify what differs between git `ref` and the working tree: every changed model class,
    and the loss sites and readers of the changed files, on an export of `ref` and a copy of
    the working tree.

    `files` limits the search (files or directories; empty means the whole repository);
    `changed` is `changed_since(files, ref, repo_root)` when the caller has it already. No
    rule declared a relation for a change made by hand, so each class is checked with
    relation "unknown", and with the probability check armed when any changed file mentions
    cross-entropy.
    """
    import tempfile

    from migrate.verify._against import (
        GitError,
        changed_models,
        display_path,
        mentions_cross_entropy,
    )
    from migrate.verify._runtime import prepare_trees

    if changed is None:
        changed = changed_since(files, ref, repo_root)
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
    sources = [
        (item.file, item.original_source, item.new_source)
        for item in changed
        if item.problem is None and item.new_source is not None
    ]
    if not targets and not sources:
        return problems
    top = repo_root.resolve()
    with tempfile.TemporaryDirectory(prefix="ml2mc-against-") as work:
        try:
            original, migrated = prepare_trees(top, ref, Path(work))
        except GitError as error:
            raise VerifyError(str(error)) from error
        trees = Trees(top, original, migrated)
        return problems + verify_change(targets, sources, settings, trees)


_CALL_RELATIONS = {
    "loss site": "each loss gets what it expects (cross_entropy: logits and class indices)",
    "reader": "probabilities = softmax(logits, class axis), decisions = argmax",
}


def result_to_json(result: VerifyResult) -> dict[str, object]:
    """The `verification` entry of `--output-format json` (README.md, *Output formats*)."""
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
        "atol": result.atol,
        "rtol": result.rtol,
    }


def _json_number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _model_task(target: VerifyTarget, trees: Trees, relative: str) -> ModelTask:
    return ModelTask(
        kind="model",
        target=f"{target.display_file}:{target.class_name}",
        file=str(target.file.resolve()),
        display_file=target.display_file,
        class_name=target.class_name,
        original_tree=str(trees.original),
        migrated_tree=str(trees.migrated),
        tree_file=relative,
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
        build_hook=settings.build_hook,
        inputs_hook=settings.inputs_hook,
    )


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
        atol=outcome["atol"],
        rtol=outcome["rtol"],
    )


def _unparsable(file: Path, problem: str, *, new_is_bad: bool) -> VerifyResult:
    from migrate.verify._against import display_path

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
