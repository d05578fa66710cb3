"""Check that a rewritten model computes what the original did, up to a declared relation.

The steps, in order (`_ModelCheck.run`): in a sandbox on the original tree's copy (its own
sys.path, sys.modules and working directory), import the original, build it, pick an input it
accepts and run the seeded batches (float64, and float32 as a fallback); then, in a second
sandbox on the migrated tree's copy (nothing of the first is left in sys.modules), build the
rewritten model the same way, load the original's state_dict (strict) and run the same batches;
then compare. Old and new modules never meet, and user code only ever writes into the copies.
The comparison proves the relation (`orig = sigmoid(new)`...), then, where a sigmoid or softmax
was removed, the rewritten inference path on the same outputs: the probabilities the migrated
code computes, `softmax(new, dim)`, sum to 1 per row (1e-9 in float64) and
`argmax(softmax(new)) = argmax(new) = argmax(orig)` on every row; fewer than all rows agreeing
fails. A passing model whose output feeds CrossEntropyLoss gets a note with the double-softmax
loss floor and best probability, measured for its number of classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import random
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from migrate.verify._protocol import Blame, ModelTask, SettingsMessage, Status
from migrate.verify.child.common import (
    FLOAT32,
    FLOAT64,
    CheckFailed,
    PhaseReporter,
    Precision,
    Verdict,
    describe_error,
    double_softmax_best_probability,
    double_softmax_explanation,
    double_softmax_floor,
    double_softmax_note,
    needs_cuda,
)
from migrate.verify.child.loading import Sandbox, module_identity, resolve_reference

BATCH_SIZE = 8
SEQUENCE_LENGTH = 16
RNN_STEPS = 12
CONV_SIZES = (32, 64, 224, 16, 8)
# A 3-d input at 224^3 would need gigabytes in float64; volumes stay small.
CONV3D_SIZES = (32, 16, 8)
MAX_INFERRED_LAYERS = 3
MAX_LISTED_KEYS = 6
# Python exceptions that user code may raise, SystemExit included (a stray sys.exit() in a
# script-like module must become a verdict, not end the child).
USER_ERRORS = (Exception, SystemExit)

Arguments = tuple[tuple[object, ...], dict[str, object]]
Leaves = list[tuple[str, torch.Tensor]]


@dataclass(frozen=True)
class InputPlan:
    description: str
    make: Callable[[int, torch.dtype], Arguments]


@dataclass(frozen=True)
class Relation:
    # identity | sigmoid | softmax | log_softmax: orig = kind(new);
    # log_softmax_of_logit: new = log_softmax(logit(orig)), a sigmoid head migrated to
    # LogSoftmax + NLLLoss (the per-row constant log_softmax adds makes `orig = f(new)`
    # impossible, so this one reads the other way).
    kind: str
    dim: int | None = None

    def apply(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.kind == "sigmoid":
            return torch.sigmoid(tensor)
        dim = 1 if self.dim is None else self.dim
        if self.kind == "softmax":
            return torch.softmax(tensor, dim=dim)
        if self.kind == "log_softmax":
            return torch.log_softmax(tensor, dim=dim)
        return tensor

    def label(self, path: str = "") -> str:
        new = f"new{path}"
        if self.kind == LOG_SOFTMAX_OF_LOGIT:
            return f"{new} = log_softmax(logit(orig{path}), dim={self.dim})"
        if self.kind == "identity":
            return f"orig{path} = {new}"
        if self.kind == "sigmoid":
            return f"orig{path} = sigmoid({new})"
        return f"orig{path} = {self.kind}({new}, dim={self.dim})"


IDENTITY = Relation("identity")
LOG_SOFTMAX_OF_LOGIT = "log_softmax_of_logit"
# Relations after which the migrated code recomputes probabilities at inference.
INFERENCE_RELATIONS = ("sigmoid", "softmax", "log_softmax", LOG_SOFTMAX_OF_LOGIT)


@dataclass(frozen=True)
class _OriginalRun:
    """The original model's batches and outputs in one precision."""

    plan: InputPlan
    precision: Precision
    batches: list[Arguments]
    outputs: list[object]


def _blame(which: str) -> Blame:
    return "original" if which == "original" else "rewritten"


@dataclass(frozen=True)
class Fit:
    holds: bool
    max_abs: float
    max_rel: float
    problem: str | None = None


def check_model(task: ModelTask, settings: SettingsMessage, phase: PhaseReporter) -> Verdict:
    check = _ModelCheck(task, settings, phase)
    try:
        verdict = check.run()
    except CheckFailed as stop:
        verdict = Verdict(stop.status, stop.reason, batches=check.batches_run, notes=check.notes)
    if check.compared_with is not None:
        verdict.atol, verdict.rtol = check.compared_with.atol, check.compared_with.rtol
    return verdict


class _ModelCheck:
    def __init__(self, task: ModelTask, settings: SettingsMessage, phase: PhaseReporter) -> None:
        self.task = task
        self.settings = settings
        self.phase = phase
        self.seed = int(settings["seed"])
        self.file = Path(task["file"])
        self.name = task["class_name"]
        self.trees = {
            "original": Path(task["original_tree"]),
            "rewritten": Path(task["migrated_tree"]),
        }
        self.module_name, _, _ = module_identity(self.trees["original"] / task["tree_file"])
        self.project_root = Path(settings["project_root"])
        self.notes: list[str] = []
        self.batches_run = 0
        # The precision whose tolerance the outputs were compared with, once they were.
        self.compared_with: Precision | None = None

    # -- the steps, in order --------------------------------------------------------------

    def run(self) -> Verdict:
        with self._sandbox("original"):
            original_module = self._import("original")
            original_class = self._model_class(original_module, "original")
            original = self._build("original", original_class)
            original.eval()
            runs = self._original_runs(original, original_module)
            state = {key: value.detach().clone() for key, value in original.state_dict().items()}
        with self._sandbox("rewritten"):
            rewritten_module = self._import("rewritten")
            rewritten_class = self._model_class(rewritten_module, "rewritten")
            rewritten = self._build("rewritten", rewritten_class)
            self._load_state(state, rewritten)
            rewritten.eval()
            precision, originals, rewrittens = self._rewritten_runs(rewritten, runs)
        return self._compare(originals, rewrittens, precision)

    def _sandbox(self, which: str) -> Sandbox:
        tree = self.trees[which]
        _, _, search_root = module_identity(tree / self.task["tree_file"])
        return Sandbox([search_root, tree], tree)

    def _import(self, which: str) -> ModuleType:
        self.phase(f"importing the {which} {self.module_name}", _blame(which))
        try:
            return importlib.import_module(self.module_name)
        except USER_ERRORS as error:
            if which == "original":
                raise CheckFailed(
                    "skip",
                    f"importing the original {self.module_name} failed: {describe_error(error)}",
                ) from error
            raise CheckFailed(
                "fail",
                f"the rewritten {self.module_name} does not import: {describe_error(error)}",
            ) from error

    def _model_class(self, module: ModuleType, which: str) -> type[nn.Module]:
        value = getattr(module, self.name, None)
        status: Status = "skip" if which == "original" else "fail"
        if value is None:
            raise CheckFailed(status, f"the {which} {self.module_name} has no class {self.name}")
        if not (isinstance(value, type) and issubclass(value, nn.Module)):
            raise CheckFailed(
                status, f"{self.name} in the {which} {self.module_name} is not a torch.nn.Module"
            )
        return value

    def _spec(self) -> tuple[str, dict[str, object] | None]:
        keys = [f"{self.module_name}:{self.name}"]
        try:
            relative = self.file.resolve().relative_to(self.project_root.resolve())
            keys.append(f"{relative.as_posix()}:{self.name}")
        except ValueError:
            pass
        specs = self.settings["model_specs"]
        for key in keys:
            spec = specs.get(key)
            if isinstance(spec, dict):
                return key, spec
        return keys[0], None

    def _build(self, which: str, model_class: type[nn.Module]) -> nn.Module:
        key, spec = self._spec()
        spec = spec or {}
        args = list(_as_list(spec.get("args")))
        kwargs = dict(_as_dict(spec.get("kwargs")))
        factory_reference = spec.get("factory")
        if factory_reference is None and not args and not kwargs:
            # The project-wide hook builds "the" model; it is used when the class itself
            # needs arguments, and must contain this class (checked below).
            hook = self.settings.get("build_hook")
            if hook and _required_parameters(model_class):
                factory_reference = hook
        status: Status = "skip" if which == "original" else "fail"
        self.phase(
            f"building the {which} {self.name}", "original" if which == "original" else "rewritten"
        )
        if factory_reference is None and not args and not kwargs:
            required = _required_parameters(model_class)
            if required:
                raise CheckFailed(
                    "skip",
                    f"{self.name}() needs constructor arguments ({', '.join(required)}); add "
                    f'[tool.ml2mc.verify] "{key}" = {{ kwargs = {{ ... }} }} or '
                    f'{{ factory = "{self.module_name}:build" }}, or build = '
                    '"package.module:function" for the whole project, to pyproject.toml',
                )
        _seed_everything(self.seed)
        try:
            if factory_reference is None:
                model: object = model_class(*args, **kwargs)
            else:
                # Resolved in this tree, so it builds this tree's version of the class.
                model = _call(resolve_reference(str(factory_reference), {}), args, kwargs)
        except CheckFailed:
            raise
        except USER_ERRORS as error:
            if needs_cuda(error):
                raise CheckFailed(
                    "skip",
                    f"{self.name} needs CUDA, which this machine lacks: {describe_error(error)}",
                ) from error
            detail = describe_error(error)
            if which == "original":
                raise CheckFailed(
                    "skip", f"building the original {self.name} failed: {detail}"
                ) from error
            raise CheckFailed(
                "fail", f"building the rewritten {self.name} failed (the original builds): {detail}"
            ) from error
        if not isinstance(model, nn.Module):
            raise CheckFailed(
                status,
                f"building {self.name} returned {type(model).__name__}, not a torch.nn.Module",
            )
        if not any(isinstance(part, model_class) for part in model.modules()):
            raise CheckFailed(
                "skip",
                f"the factory {factory_reference} did not build the {which} {self.name}; "
                f"define the factory in {self.module_name} so ml2mc can call both versions",
            )
        return model

    def _load_state(self, original_state: dict[str, torch.Tensor], rewritten: nn.Module) -> None:
        self.phase(
            f"loading the original {self.name}'s state_dict into the rewritten one", "rewritten"
        )
        rewritten_state = rewritten.state_dict()
        missing = [key for key in rewritten_state if key not in original_state]
        unexpected = [key for key in original_state if key not in rewritten_state]
        preface = (
            f"old checkpoints would not load into the rewritten {self.name} "
            "(load_state_dict(strict=True))"
        )
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing keys: {_list_keys(missing)}")
            if unexpected:
                parts.append(f"unexpected keys: {_list_keys(unexpected)}")
            raise CheckFailed("fail", f"{preface}: {'; '.join(parts)}")
        try:
            rewritten.load_state_dict(original_state, strict=True)
        except USER_ERRORS as error:
            lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
            detail = "; ".join(lines[:MAX_LISTED_KEYS]) or describe_error(error)
            raise CheckFailed("fail", f"{preface}: {detail}") from error

    def _input_plans(self, model: nn.Module, original_module: ModuleType) -> list[InputPlan]:
        _, spec = self._spec()
        if spec and "input" in spec:
            return [self._callable_plan(str(spec["input"]), original_module)]
        hook = self.settings.get("inputs_hook")
        if hook:
            return [self._callable_plan(str(hook), original_module)]
        if spec and "shape" in spec:
            return [self._shape_plan(spec, model)]
        return _inferred_plans(model, self.seed)

    def _callable_plan(self, reference: str, original_module: ModuleType) -> InputPlan:
        try:
            function = resolve_reference(reference, {self.module_name: original_module})
        except USER_ERRORS as error:
            raise CheckFailed(
                "skip", f"cannot load the input function {reference}: {describe_error(error)}"
            ) from error
        if not callable(function):
            raise CheckFailed("skip", f"the input {reference} is not callable")
        seed = self.seed

        def make(batch: int, dtype: torch.dtype) -> Arguments:
            # Seed before the call: the user's sampler may draw from the global generator.
            _seed_everything(seed + 1000 + batch)
            value = _call_input(function)
            return _as_arguments(_convert_floats(value, dtype))

        return InputPlan(f"from {reference}", make)

    def _shape_plan(self, spec: dict[str, object], model: nn.Module) -> InputPlan:
        shape = tuple(_as_int(size) for size in _as_list(spec.get("shape")))
        dtype_name = str(spec.get("dtype", "float32")).removeprefix("torch.")
        requested = getattr(torch, dtype_name, None)
        if not isinstance(requested, torch.dtype):
            raise CheckFailed("skip", f"unknown dtype {dtype_name!r} in [tool.ml2mc.verify]")
        seed = self.seed
        if requested.is_floating_point:
            return InputPlan(f"random normal {shape} (configured)", _normal_maker(shape, seed))
        high = spec.get("high")
        if high is None:
            embedding = next(
                (m for m in model.modules() if isinstance(m, nn.Embedding | nn.EmbeddingBag)), None
            )
            high = embedding.num_embeddings if embedding is not None else 2
        low = _as_int(spec.get("low", 0))
        return InputPlan(
            f"random integers in [{low}, {high}) {shape} (configured)",
            _integer_maker(shape, low, _as_int(high), requested, seed),
        )

    def _original_runs(
        self, original: nn.Module, original_module: ModuleType
    ) -> list[_OriginalRun]:
        """The original's batches and outputs, float64 first and float32 as a fallback; the
        first plan (inferred or configured input) the original accepts is used."""
        plans = self._input_plans(original, original_module)
        if not plans:
            key, _ = self._spec()
            raise CheckFailed(
                "skip",
                f"cannot infer an input for {self.name}: no Linear, Conv1d/2d/3d, Embedding or "
                f"LSTM/GRU/RNN layer to read the input size from; add [tool.ml2mc.verify] "
                f'"{key}" = {{ shape = [8, ...], dtype = "float32" }} or '
                f'{{ input = "{self.module_name}:sample_batch" }}',
            )
        errors: list[str] = []
        runs: list[_OriginalRun] = []
        total = int(self.settings["batches"])
        for precision in (FLOAT64, FLOAT32):
            original.to(precision.dtype)
            for plan in plans:
                where = f"on input {plan.description}"
                self.phase(f"running the original {self.name} {where}", "original")
                batches = [plan.make(batch, precision.dtype) for batch in range(total)]
                try:
                    outputs = [
                        _forward(original, batch, index, self.seed)
                        for index, batch in enumerate(batches)
                    ]
                except USER_ERRORS as error:
                    self._stop_if_cuda(error)
                    errors.append(f"{describe_error(error)} {where}")
                    continue
                runs.append(_OriginalRun(plan, precision, batches, outputs))
                break
        if runs:
            if runs[0].precision is not FLOAT64:
                self.notes.append(f"float64 run failed ({errors[0]}); fell back to float32")
            return runs
        if len(plans) == 1:
            raise CheckFailed("skip", f"the original {self.name} raised {errors[0]}")
        tried = "; ".join(plan.description for plan in plans)
        raise CheckFailed(
            "skip",
            f"the original {self.name} did not run on any inferred input (tried {tried}); "
            f"first error: {errors[0]}",
        )

    def _rewritten_runs(
        self, rewritten: nn.Module, runs: list[_OriginalRun]
    ) -> tuple[Precision, list[object], list[object]]:
        """The rewritten model on exactly the original's batches, in the original's precision
        (float64 when both run in it)."""
        first_error: str | None = None
        for run in runs:
            rewritten.to(run.precision.dtype)
            where = f"on input {run.plan.description}"
            self.phase(f"running the rewritten {self.name} {where}", "rewritten")
            outputs: list[object] = []
            try:
                for index, batch in enumerate(run.batches):
                    outputs.append(_forward(rewritten, batch, index, self.seed))
                    self.batches_run = index + 1
            except USER_ERRORS as error:
                self._stop_if_cuda(error)
                first_error = first_error or (
                    f"the rewritten {self.name} raised {describe_error(error)} {where} "
                    f"({_dtype_name(run.precision)}), which the original accepts"
                )
                continue
            if run is not runs[0]:
                self.notes.append(f"float64 run failed ({first_error}); fell back to float32")
            self.notes.append(f"input: {run.plan.description}")
            return run.precision, run.outputs, outputs
        raise CheckFailed("fail", first_error or f"the rewritten {self.name} did not run")

    def _stop_if_cuda(self, error: BaseException) -> None:
        if needs_cuda(error):
            raise CheckFailed(
                "skip", f"{self.name} needs CUDA, which this machine lacks: {describe_error(error)}"
            ) from error

    # -- comparing outputs ----------------------------------------------------------------

    def _compare(
        self, originals: list[object], rewrittens: list[object], precision: Precision
    ) -> Verdict:
        self.phase(f"comparing the outputs of {self.name}", "setup")
        self.notes.insert(0, precision.label)
        key = self.task["output_key"]
        if key is not None:
            originals = [self._select(output, key, "original") for output in originals]
            rewrittens = [self._select(output, key, "rewritten") for output in rewrittens]
            self.notes.append(f"compared output element [{key!r}]")
        original_leaves = [_leaves(output) for output in originals]
        rewritten_leaves = [_leaves(output) for output in rewrittens]
        original_paths = [path for path, _ in original_leaves[0]]
        rewritten_paths = [path for path, _ in rewritten_leaves[0]]
        if not original_paths:
            raise CheckFailed(
                "skip", f"the original {self.name}'s output contains no tensor to compare"
            )
        if original_paths != rewritten_paths:
            raise CheckFailed(
                "fail",
                f"the output's structure changed: the original returns {_paths(original_paths)}, "
                f"the rewritten returns {_paths(rewritten_paths)}",
            )
        by_path = {
            path: (
                [leaves[index][1] for leaves in original_leaves],
                [leaves[index][1] for leaves in rewritten_leaves],
            )
            for index, path in enumerate(original_paths)
        }
        self.compared_with = precision
        if len(by_path) == 1:
            return self._compare_single(next(iter(by_path.values())), precision)
        return self._compare_many(by_path, precision)

    def _select(self, output: object, key: str | int, which: str) -> object:
        try:
            if isinstance(output, Mapping):
                return output[key]
            if isinstance(output, tuple | list) and isinstance(key, int):
                return output[key]
            if isinstance(key, str):
                return getattr(output, key)
        except (KeyError, IndexError, AttributeError):
            pass
        status: Status = "skip" if which == "original" else "fail"
        raise CheckFailed(status, f"the {which} {self.name}'s output has no element [{key!r}]")

    def _candidates(self, tensors: list[torch.Tensor]) -> list[Relation]:
        declared = self.task["relation"]
        ndim = tensors[0].dim()
        if declared == "identity":
            return [IDENTITY]
        if declared == "sigmoid":
            return [Relation("sigmoid")]
        if declared in ("softmax", "log_softmax"):
            return [Relation(declared, self.task["dim"])]
        relations = [IDENTITY, Relation("sigmoid")]
        # Class scores sit on dim 1 (N, C, ...) or last (N, T, C); for 2-d outputs both are one.
        # A 1-d output has no class dimension to normalise over.
        dims = [] if ndim < 2 else [1] if ndim == 2 else [1, -1]
        for kind in ("softmax", "log_softmax", LOG_SOFTMAX_OF_LOGIT):
            relations.extend(Relation(kind, dim) for dim in dims)
        return relations

    def _compare_single(
        self, pair: tuple[list[torch.Tensor], list[torch.Tensor]], precision: Precision
    ) -> Verdict:
        originals, rewrittens = pair
        candidates = self._candidates(rewrittens)
        fits = [
            (relation, _fit(relation, originals, rewrittens, precision)) for relation in candidates
        ]
        holding = next(((relation, fit) for relation, fit in fits if fit.holds), None)
        problems: list[str] = []
        if holding is not None:
            relation, fit = holding
            label = relation.label()
            inference = self._inference_problem(relation, originals, rewrittens, precision)
            if inference is not None:
                problems.append(inference)
        else:
            relation, fit = min(fits, key=lambda item: _severity(item[1]))
            label = None
            problems.append(self._relation_problem(fits, originals, rewrittens, precision))
        probability = self._probability_problem(rewrittens)
        if probability is not None:
            problems.append(probability)
        if not problems:
            self._loss_notes(relation, rewrittens)
        return self._verdict(problems, label, fit.max_abs, fit.max_rel)

    def _compare_many(
        self,
        by_path: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]],
        precision: Precision,
    ) -> Verdict:
        changed: list[str] = []
        problems: list[str] = []
        watched: list[list[torch.Tensor]] = []
        # Changed elements whose relation holds: their inference path is checked afterwards.
        held: list[tuple[str, Relation, list[torch.Tensor], list[torch.Tensor]]] = []
        worst_abs = 0.0
        worst_rel = 0.0
        declared = self.task["relation"]
        for path, (originals, rewrittens) in by_path.items():
            identity = _fit(IDENTITY, originals, rewrittens, precision)
            if identity.holds:
                worst_abs, worst_rel = (
                    max(worst_abs, identity.max_abs),
                    max(worst_rel, identity.max_rel),
                )
                continue
            fits = [
                (relation, _fit(relation, originals, rewrittens, precision))
                for relation in self._candidates(rewrittens)
                if relation != IDENTITY
            ]
            holding = next(((relation, fit) for relation, fit in fits if fit.holds), None)
            derived = None if holding else _derived_probabilities(path, by_path, precision)
            if derived is not None:
                # A probabilities element computed from the logits element beside it (a
                # dict with "logits" and "probs"): a reader inside forward, not a loss input.
                changed.append(derived)
                continue
            watched.append(rewrittens)
            if holding is not None:
                relation, fit = holding
                changed.append(relation.label(path))
                held.append((path, relation, originals, rewrittens))
            else:
                relation, fit = min(
                    [(IDENTITY, identity), *fits], key=lambda item: _severity(item[1])
                )
                problems.append(
                    f"output {path}: no relation holds (closest {relation.label(path)}, "
                    f"max abs error {fit.max_abs:.3g}{_problem_suffix(fit)})"
                )
            worst_abs, worst_rel = max(worst_abs, fit.max_abs), max(worst_rel, fit.max_rel)
        if not problems and not changed and declared not in ("identity", "unknown"):
            expected = Relation(declared, self.task["dim"]).label()
            problems.append(f"no output element changed; expected {expected} for one of them")
        for path, relation, originals, rewrittens in held:
            inference = self._inference_problem(relation, originals, rewrittens, precision, path)
            if inference is not None:
                problems.append(inference)
        for rewrittens in watched:
            probability = self._probability_problem(rewrittens)
            if probability is not None:
                problems.append(probability)
                break
        if not problems and held:
            path, relation, _, rewrittens = held[0]
            self._loss_notes(relation, rewrittens, path)
        label = "; ".join(changed) if changed else IDENTITY.label()
        return self._verdict(problems, None if problems else label, worst_abs, worst_rel)

    def _verdict(
        self, problems: list[str], relation: str | None, max_abs: float, max_rel: float
    ) -> Verdict:
        if problems:
            return Verdict(
                "fail",
                "; ".join(problems),
                relation,
                max_abs,
                max_rel,
                self.batches_run,
                self.notes,
            )
        return Verdict("pass", None, relation, max_abs, max_rel, self.batches_run, self.notes)

    def _relation_problem(
        self,
        fits: list[tuple[Relation, Fit]],
        originals: list[torch.Tensor],
        rewrittens: list[torch.Tensor],
        precision: Precision,
    ) -> str:
        declared = self.task["relation"]
        relation, fit = min(fits, key=lambda item: _severity(item[1]))
        if declared == "unknown":
            tried = ", ".join(candidate.label() for candidate, _ in fits)
            return (
                "no known relation holds between the original and the rewritten output "
                f"(tried {tried}); closest: {relation.label()}, max abs error "
                f"{fit.max_abs:.3g}{_problem_suffix(fit)}"
            )
        text = (
            f"{relation.label()} does not hold: max abs error {fit.max_abs:.3g} "
            f"(allowed atol={precision.atol:g}, rtol={precision.rtol:g}){_problem_suffix(fit)}"
        )
        if declared != "identity" and _fit(IDENTITY, originals, rewrittens, precision).holds:
            text += "; the output did not change at all (orig = new)"
        return text

    def _class_dim(self, relation: Relation) -> int:
        # softmax / log_softmax carry their own dim; sigmoid and identity use the target's.
        return relation.dim if relation.dim is not None else int(self.task["dim"])

    def _inference_problem(
        self,
        relation: Relation,
        originals: list[torch.Tensor],
        rewrittens: list[torch.Tensor],
        precision: Precision,
        path: str = "",
    ) -> str | None:
        """Check the rewritten inference path on the batches already run.

        Where the model used to return probabilities, the migrated code now computes them as
        `softmax(new, dim)` and decides with `argmax`. Those probabilities must be a
        distribution (every row sums to 1 within `precision.sum_tolerance`: 1e-9 in float64)
        and the decision must be the class the original's output ranked first:
        `argmax(softmax(new)) = argmax(new) = argmax(orig)` on every row. That holds after
        removing a sigmoid or a softmax because both are monotonic; a row counts as agreeing
        when `argmax(new)` is among the row's maxima (saturated probabilities tie). A model
        with a single output per sample decides by threshold: `new > 0` against
        `orig > 0.5`. Returns the failure, or None after adding a note with the figures.
        """
        if relation.kind not in INFERENCE_RELATIONS or not all(
            tensor.is_floating_point() for tensor in [*originals, *rewrittens]
        ):
            return None
        new = f"new{path}"
        orig = f"orig{path}"
        ndim = rewrittens[0].dim()
        dim = self._class_dim(relation)
        in_range = ndim > 0 and -ndim <= dim < ndim
        if relation.kind == "sigmoid" and (
            ndim <= 1 or (in_range and rewrittens[0].shape[dim] == 1)
        ):
            return self._threshold_problem(originals, rewrittens, new, orig)
        if not in_range:
            self.notes.append(
                f"inference path not checked: {new} has shape {tuple(rewrittens[0].shape)}, "
                f"no dim {dim} to take classes from"
            )
            return None
        classes = int(rewrittens[0].shape[dim])
        tally = _decision_tally(originals, rewrittens, dim)
        tolerance = precision.sum_tolerance
        if tally.rows == 0:
            self.notes.append(
                f"inference path not checked: every row of {new} or {orig} contains NaN"
            )
            return None
        agree = min(tally.agree_orig, tally.agree_probabilities)
        fraction = agree / tally.rows
        equality = f"argmax(softmax({new}, dim={dim})) = argmax({new}) = argmax({orig})"
        counts = f"{agree}/{tally.rows} rows ({fraction:.3f})"
        extras = []
        if tally.ties:
            extras.append(f"{tally.ties} rows where {orig}'s maximum is tied count as agreeing")
        if tally.nan_rows:
            extras.append(f"{tally.nan_rows} rows with NaN not compared")
        suffix = f"; {'; '.join(extras)}" if extras else ""
        problems = []
        if not tally.max_sum_deviation <= tolerance:
            problems.append(
                f"softmax({new}, dim={dim}) rows do not sum to 1: max deviation "
                f"{tally.max_sum_deviation:.3g} (allowed {tolerance:g})"
            )
        if agree < tally.rows:
            problems.append(
                f"{equality} holds on only {counts}: the migrated code's decisions differ from "
                "the class the original ranked first"
            )
        if problems:
            return "inference path: " + "; ".join(problems) + suffix
        self.notes.append(
            f"inference path: softmax({new}, dim={dim}) rows sum to 1 within "
            f"{tally.max_sum_deviation:.2g} (allowed {tolerance:g}); {equality} on {counts} over "
            f"{len(rewrittens)} batches, C={classes}{suffix}"
        )
        return None

    def _threshold_problem(
        self, originals: list[torch.Tensor], rewrittens: list[torch.Tensor], new: str, orig: str
    ) -> str | None:
        agree = 0
        total = 0
        for original, rewritten in zip(originals, rewrittens, strict=True):
            valid = ~(original.isnan() | rewritten.isnan())
            # orig == 0.5 exactly is a tie the original could decide either way.
            same = ((rewritten > 0) == (original > 0.5)) | (original == 0.5)
            agree += int((same & valid).sum())
            total += int(valid.sum())
        if total == 0:
            self.notes.append(f"inference path not checked: every value of {new} is NaN")
            return None
        decisions = (
            f"threshold decisions {new} > 0 and {orig} > 0.5 agree on {agree}/{total} outputs "
            f"({agree / total:.3f})"
        )
        if agree < total:
            return (
                f"inference path: {decisions}, not all: the migrated code's decisions differ "
                "from the original's"
            )
        self.notes.append(
            f"inference path: one score per sample, no class dimension to softmax over; {decisions}"
        )
        return None

    def _loss_notes(
        self, relation: Relation, rewrittens: list[torch.Tensor], path: str = ""
    ) -> None:
        """Beside a passing model whose output feeds CrossEntropyLoss: what the naive migration
        (keeping the softmax in front of the loss) would have given, measured for its C."""
        if self.task["feeds_loss"] != "cross_entropy" or not rewrittens[0].is_floating_point():
            return
        ndim = rewrittens[0].dim()
        dim = self._class_dim(relation)
        if not (ndim > 0 and -ndim <= dim < ndim):
            return
        classes = int(rewrittens[0].shape[dim])
        if classes < 2:
            self.notes.append(
                f"new{path} has a single class along dim={dim}: CrossEntropyLoss over one "
                "class is always 0 and gives no gradient; a one-output model needs "
                "BCEWithLogitsLoss, or two outputs for CrossEntropyLoss"
            )
            return
        self.notes.append(
            f"for comparison, {double_softmax_note(classes, 'CrossEntropyLoss')}; the "
            f"rewritten new{path} is logits, so its training loss has no such floor"
        )

    def _probability_problem(self, rewrittens: list[torch.Tensor]) -> str | None:
        """Probabilities fed to CrossEntropyLoss are a failure; elsewhere they earn a note."""
        ndim = rewrittens[0].dim()
        dims = [self.task["dim"]] if self.task["relation"] != "unknown" else [1, -1]
        for dim in dict.fromkeys(dims):
            if not -ndim <= dim < ndim:
                continue
            if all(_is_probability(tensor, dim) for tensor in rewrittens):
                classes = int(rewrittens[0].shape[dim])
                self.notes.append(
                    f"double softmax would floor the loss at log(1+(C-1)/e)="
                    f"{double_softmax_floor(classes):.3g} for C={classes}; max attainable "
                    f"probability {double_softmax_best_probability(classes):.3g}"
                )
                if self.task["feeds_loss"] == "cross_entropy":
                    return double_softmax_explanation(classes)
                self.notes.append(
                    f"the rewritten output is probabilities (rows sum to 1 along dim={dim}); "
                    "do not feed it to CrossEntropyLoss, which expects logits"
                )
                return None
        return None


# -- helpers ----------------------------------------------------------------------------------


def _fit(
    relation: Relation,
    originals: list[torch.Tensor],
    rewrittens: list[torch.Tensor],
    precision: Precision,
) -> Fit:
    worst_abs = 0.0
    worst_rel = 0.0
    holds = True
    for original, rewritten in zip(originals, rewrittens, strict=True):
        if original.shape != rewritten.shape:
            return Fit(
                False,
                float("inf"),
                float("inf"),
                f"shape changed from {tuple(original.shape)} to {tuple(rewritten.shape)}",
            )
        floating = original.is_floating_point() and rewritten.is_floating_point()
        if not floating:
            if relation != IDENTITY or original.dtype != rewritten.dtype:
                return Fit(
                    False,
                    float("inf"),
                    float("inf"),
                    f"dtype {str(original.dtype).removeprefix('torch.')} -> "
                    f"{str(rewritten.dtype).removeprefix('torch.')}",
                )
            same = torch.equal(original, rewritten)
            holds = holds and same
            worst_abs = max(worst_abs, 0.0 if same else float("inf"))
            continue
        if relation.dim is not None and not -rewritten.dim() <= relation.dim < rewritten.dim():
            return Fit(False, float("inf"), float("inf"), f"no dim {relation.dim}")
        if relation.kind == LOG_SOFTMAX_OF_LOGIT:
            dim = 1 if relation.dim is None else relation.dim
            expected = torch.log_softmax(torch.logit(original.double()), dim=dim)
            actual = rewritten.double()
        else:
            expected = relation.apply(rewritten).double()
            actual = original.double()
        close = torch.isclose(
            actual, expected, rtol=precision.rtol, atol=precision.atol, equal_nan=True
        )
        holds = holds and bool(close.all())
        both_nan = actual.isnan() & expected.isnan()
        difference = (actual - expected).abs().masked_fill(both_nan, 0.0)
        if difference.numel():
            worst_abs = max(worst_abs, float(difference.max()))
            scale = torch.maximum(actual.abs(), expected.abs()).clamp_min(
                torch.finfo(torch.float64).tiny
            )
            relative = (difference / scale).masked_fill(difference == 0, 0.0)
            worst_rel = max(worst_rel, float(relative.max()))
    return Fit(holds, worst_abs, worst_rel)


@dataclass
class _Tally:
    rows: int = 0
    agree_orig: int = 0
    agree_probabilities: int = 0
    ties: int = 0
    nan_rows: int = 0
    max_sum_deviation: float = 0.0


def _decision_tally(
    originals: list[torch.Tensor], rewrittens: list[torch.Tensor], dim: int
) -> _Tally:
    """Row by row along `dim`: does softmax(new) sum to 1, and is argmax(new) also the top
    class of softmax(new) and of orig?"""
    tally = _Tally()
    for original, rewritten in zip(originals, rewrittens, strict=True):
        # Computed in the run's dtype, as the migrated code would compute it.
        probabilities = torch.softmax(rewritten, dim=dim)
        valid = ~(original.isnan().any(dim) | rewritten.isnan().any(dim))
        tally.rows += int(valid.sum())
        tally.nan_rows += int((~valid).sum())
        if not bool(valid.any()):
            continue
        deviation = (probabilities.double().sum(dim) - 1.0).abs()
        # A NaN sum (a row of -inf logits) is as far from 1 as it gets.
        deviation = torch.nan_to_num(deviation[valid], nan=float("inf"))
        tally.max_sum_deviation = max(tally.max_sum_deviation, float(deviation.max()))
        pick = rewritten.argmax(dim, keepdim=True)
        top_original = original.amax(dim, keepdim=True)
        agree_original = (original.gather(dim, pick) == top_original).squeeze(dim)
        agree_probabilities = (
            probabilities.gather(dim, pick) == probabilities.amax(dim, keepdim=True)
        ).squeeze(dim)
        tied = (original == top_original).sum(dim) > 1
        tally.agree_orig += int((agree_original & valid).sum())
        tally.agree_probabilities += int((agree_probabilities & valid).sum())
        tally.ties += int((tied & valid).sum())
    return tally


def _derived_probabilities(
    path: str,
    by_path: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]],
    precision: Precision,
) -> str | None:
    """`new{path} = softmax(new{other}, dim)` for another element of the same output, on
    every batch; the label of that relation, or None."""
    rewrittens = by_path[path][1]
    if rewrittens[0].dim() < 2:
        return None
    dims = [1] if rewrittens[0].dim() == 2 else [1, -1]
    for other, (_, sources) in by_path.items():
        if other == path or sources[0].shape != rewrittens[0].shape:
            continue
        for dim in dims:
            if _fit(Relation("softmax", dim), rewrittens, sources, precision).holds:
                return f"new{path} = softmax(new{other}, dim={dim})"
    return None


def _severity(fit: Fit) -> float:
    return fit.max_abs if fit.max_abs == fit.max_abs else float("inf")


def _problem_suffix(fit: Fit) -> str:
    return f"; {fit.problem}" if fit.problem else ""


def _is_probability(tensor: torch.Tensor, dim: int) -> bool:
    if not tensor.is_floating_point() or tensor.numel() == 0 or tensor.shape[dim] < 2:
        return False
    values = tensor.double()
    if not bool(torch.isfinite(values).all()):
        return False
    if float(values.min()) < 0.0 or float(values.max()) > 1.0:
        return False
    deviation = (values.sum(dim=dim) - 1.0).abs().max()
    return float(deviation) <= 1e-6


def _leaves(value: object, path: str = "") -> Leaves:
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    if isinstance(value, Mapping):
        found: Leaves = []
        for key, item in value.items():
            found.extend(_leaves(item, f"{path}[{key!r}]"))
        return found
    if isinstance(value, tuple | list):
        found = []
        for index, item in enumerate(value):
            found.extend(_leaves(item, f"{path}[{index}]"))
        return found
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found = []
        for field in dataclasses.fields(value):
            found.extend(_leaves(getattr(value, field.name), f"{path}.{field.name}"))
        return found
    return []


def _paths(paths: list[str]) -> str:
    if not paths:
        return "no tensors"
    if paths == [""]:
        return "one tensor"
    return ", ".join(f"output{path}" for path in paths)


def _list_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    hidden = len(keys) - MAX_LISTED_KEYS
    return shown + (f" and {hidden} more" if hidden > 0 else "")


def _dtype_name(precision: Precision) -> str:
    return str(precision.dtype).removeprefix("torch.")


def _required_parameters(model_class: type[nn.Module]) -> list[str]:
    try:
        signature = inspect.signature(model_class)
    except (TypeError, ValueError):
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind in kinds and parameter.default is inspect.Parameter.empty
    ]


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        # Only when the user's code already loaded numpy; importing it ourselves costs time.
        numpy.random.seed(seed % 2**32)


def _call(function: object, args: list[object], kwargs: dict[str, object]) -> object:
    if not callable(function):
        raise TypeError(f"{function!r} is not callable")
    return function(*args, **kwargs)


def _call_input(function: Callable[..., object]) -> object:
    """Call the user's sampler with the batch size when it asks for one."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return function()
    if "batch_size" in parameters:
        return function(batch_size=BATCH_SIZE)
    required = [
        parameter
        for parameter in parameters.values()
        if parameter.default is inspect.Parameter.empty
        and parameter.kind
        in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return function(BATCH_SIZE) if required else function()


def _convert_floats(value: object, dtype: torch.dtype) -> object:
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, Mapping):
        return {key: _convert_floats(item, dtype) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_convert_floats(item, dtype) for item in value)
    return value


def _as_arguments(value: object) -> Arguments:
    if isinstance(value, Mapping):
        return (), {str(key): item for key, item in value.items()}
    if isinstance(value, tuple | list):
        return tuple(value), {}
    return (value,), {}


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise CheckFailed("skip", f"expected a list in [tool.ml2mc.verify], got {value!r}")


def _as_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise CheckFailed("skip", f"expected an integer in [tool.ml2mc.verify], got {value!r}")


def _as_dict(value: object) -> dict[str, object]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    raise CheckFailed("skip", f"expected a table in [tool.ml2mc.verify], got {value!r}")


def _forward(model: nn.Module, arguments: Arguments, batch: int, seed: int) -> object:
    args, kwargs = arguments
    # Both models see the same random state, so randomness inside forward cancels out.
    _seed_everything(seed + 7919 * (batch + 1))
    with torch.no_grad():
        return model(*args, **kwargs)


def _generator(seed: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + batch + 1)


def _normal_maker(shape: tuple[int, ...], seed: int) -> Callable[[int, torch.dtype], Arguments]:
    def make(batch: int, dtype: torch.dtype) -> Arguments:
        return (torch.randn(shape, generator=_generator(seed, batch), dtype=dtype),), {}

    return make


def _integer_maker(
    shape: tuple[int, ...], low: int, high: int, dtype: torch.dtype, seed: int
) -> Callable[[int, torch.dtype], Arguments]:
    def make(batch: int, run_dtype: torch.dtype) -> Arguments:
        del run_dtype  # token ids stay integers whatever precision the model runs in
        tokens = torch.randint(low, high, shape, generator=_generator(seed, batch), dtype=dtype)
        return (tokens,), {}

    return make


def _inferred_plans(model: nn.Module, seed: int) -> list[InputPlan]:
    """Input guesses from the first few layers that reveal their input size, in module order."""
    plans: list[InputPlan] = []
    layers = 0
    for name, layer in model.named_modules():
        if layers >= MAX_INFERRED_LAYERS:
            break
        where = f"layer {name!r}" if name else "the model"
        found = _plans_for_layer(layer, where, seed)
        if found:
            plans.extend(found)
            layers += 1
    return plans


def _plans_for_layer(layer: nn.Module, where: str, seed: int) -> list[InputPlan]:
    kind = type(layer).__name__
    if isinstance(layer, nn.Linear) and layer.in_features > 0:
        shape: tuple[int, ...] = (BATCH_SIZE, layer.in_features)
        return [
            InputPlan(
                _shape_text(shape, f"{where} ({kind} in_features={layer.in_features})"),
                _normal_maker(shape, seed),
            )
        ]
    convolutions: list[tuple[type[nn.modules.conv._ConvNd], int, tuple[int, ...]]] = [
        (nn.Conv1d, 1, CONV_SIZES),
        (nn.Conv2d, 2, CONV_SIZES),
        (nn.Conv3d, 3, CONV3D_SIZES),
    ]
    for conv_type, spatial_dims, sizes in convolutions:
        if isinstance(layer, conv_type):
            channels = layer.in_channels
            origin = f"{where} ({kind} in_channels={channels})"
            plans = []
            for size in sizes:
                shape = (BATCH_SIZE, channels, *([size] * spatial_dims))
                plans.append(InputPlan(_shape_text(shape, origin), _normal_maker(shape, seed)))
            return plans
    if isinstance(layer, nn.Embedding | nn.EmbeddingBag):
        shape = (BATCH_SIZE, SEQUENCE_LENGTH)
        origin = f"{where} ({kind} num_embeddings={layer.num_embeddings})"
        return [
            InputPlan(
                f"token ids in [0, {layer.num_embeddings}) {shape} from {origin}",
                _integer_maker(shape, 0, layer.num_embeddings, torch.long, seed),
            )
        ]
    if isinstance(layer, nn.RNNBase):
        if layer.batch_first:
            shape = (BATCH_SIZE, RNN_STEPS, layer.input_size)
        else:
            shape = (RNN_STEPS, BATCH_SIZE, layer.input_size)
        origin = f"{where} ({kind} input_size={layer.input_size}, batch_first={layer.batch_first})"
        return [InputPlan(_shape_text(shape, origin), _normal_maker(shape, seed))]
    return []


def _shape_text(shape: tuple[int, ...], origin: str) -> str:
    return f"random normal {shape} from {origin}"
