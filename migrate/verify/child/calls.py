"""Run one user function (a loss site or a reader) in one tree and record what it did.

The parent runs every selected function twice, each time in a fresh child whose working
directory and import root is a private copy of one tree: first the original tree, then the
migrated one, so old and new modules never share an interpreter. The original's run chooses
how the model is built and which target form the function accepts, and leaves the model's
weights and output in `scratch`; the migrated run builds its own model the same way, loads
those weights with `strict=True`, and uses the same seeded batch.

While the function runs, torch is instrumented: every loss call (`cross_entropy`, `nll_loss`,
`binary_cross_entropy[_with_logits]`, which the loss modules call too), every forward of the
model, every threshold (`t > c`) and every `argmax` is recorded. Optimizer steps are no-ops,
so the weights stay those of the original. The record is turned into plain facts (what each
loss got, how each returned tensor relates to the model's output, which thresholds and argmaxes
touched class scores); the parent compares the two trees' facts and decides.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from migrate.verify._names import (
    BATCH_NAMES,
    CONFIG_NAMES,
    CRITERION_NAMES,
    DEVICE_NAMES,
    INPUT_NAMES,
    LOADER_NAMES,
    MODEL_NAMES,
    ONE_NAMES,
    OPTIMIZER_NAMES,
    OUTPUT_NAMES,
    TARGET_NAMES,
    ZERO_NAMES,
)
from migrate.verify._protocol import Blame, CallTask, SettingsMessage
from migrate.verify.child.common import PhaseReporter, Verdict, describe_error
from migrate.verify.child.loading import Sandbox, module_identity, resolve_reference
from migrate.verify.child.models import (
    USER_ERRORS,
    InputPlan,
    _as_arguments,
    _call,
    _call_input,
    _inferred_plans,
    _leaves,
    _required_parameters,
    _seed_everything,
)

LOSS_FUNCTIONS = (
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
)
# The first records are enough to judge; a training loop must not fill memory.
MAX_RECORDS = 64
CLOSE_ATOL = 1e-5
CLOSE_RTOL = 1e-4


class CannotRun(Exception):
    """The function cannot be run here; the message says why (a "not verified" reason)."""


class Broke(CannotRun):
    """The tree's own code raised (an import, the function itself): in the migrated tree,
    where the original ran, that is the migration's fault."""


@dataclass
class _Recorder:
    model: nn.Module | None = None
    outputs: list[torch.Tensor] = field(default_factory=list)
    losses: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[torch.Tensor, float, str]] = field(default_factory=list)
    argmaxes: list[tuple[torch.Tensor, int | None]] = field(default_factory=list)
    busy: bool = False


class _NeutralOptimizer:
    """Stands for an optimizer or a scheduler: every call is accepted and does nothing."""

    param_groups: ClassVar[list[dict[str, object]]] = []

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def check_call(task: CallTask, settings: SettingsMessage, phase: PhaseReporter) -> Verdict:
    tree = Path(task["tree"])
    scratch = Path(task["scratch"])
    facts: dict[str, Any] = {"tree": task["tree_name"]}
    try:
        with Sandbox([tree], tree):
            _CallRun(task, settings, phase, tree, scratch, facts).run()
    except Broke as stop:
        facts["error"] = str(stop)
    except CannotRun as stop:
        facts["cannot"] = str(stop)
    except USER_ERRORS as error:
        facts["error"] = f"raised {describe_error(error)}"
    problem = facts.get("error") or facts.get("cannot")
    verdict = Verdict("skip" if problem else "pass", problem)
    verdict.data = facts
    return verdict


class _CallRun:
    def __init__(
        self,
        task: CallTask,
        settings: SettingsMessage,
        phase: PhaseReporter,
        tree: Path,
        scratch: Path,
        facts: dict[str, Any],
    ) -> None:
        self.task = task
        self.settings = settings
        self.phase = phase
        self.tree = tree
        self.scratch = scratch
        self.facts = facts
        self.seed = int(settings["seed"])
        self.original = task["tree_name"] == "original"
        self.choices_file = scratch / f"{task['key']}.json"
        self._targets_given = False  # set by `_bind`: did the function receive our targets?

    def run(self) -> None:
        choices = self._earlier_choices()
        blame: Blame = "original" if self.original else "rewritten"
        file = self.tree / self.task["file"]
        module_name, _, import_root = module_identity(file)
        if str(import_root) not in sys.path:
            sys.path.insert(0, str(import_root))
        self.phase(f"importing {module_name} in the {self.task['tree_name']} tree", blame)
        _seed_everything(self.seed)
        try:
            module = importlib.import_module(module_name)
        except USER_ERRORS as error:
            raise Broke(f"importing {module_name} raised {describe_error(error)}") from error
        try:
            function, owner = _resolve(module, self.task["qualname"])
        except CannotRun:
            if not self.original:
                raise
            # New in the migrated tree: the original still builds the model and leaves its
            # weights and choices, so the new function is judged on its own run.
            function, owner = None, None
            self.facts["missing"] = True
        model, model_reference = self._model(module, owner, choices)
        self.facts["model"] = model_reference
        weights = self.scratch / f"{self.task['key']}.weights.pt"
        if self.original:
            torch.save(model.state_dict(), weights)
        else:
            saved = torch.load(weights)
            self.facts["same_keys"] = set(saved) == set(model.state_dict())
            try:
                model.load_state_dict(saved, strict=True)
            except USER_ERRORS as error:
                # A changed number of classes (a "none" class added) is a legitimate reason:
                # the migrated run goes on with its own seeded weights, and the verdict can no
                # longer be a pass.
                self.facts["weights"] = (
                    f"the original {model_reference}'s weights do not load "
                    f"(strict=True): {str(error).strip().splitlines()[-1].strip()[:200]}"
                )
        start_state = {key: value.clone() for key, value in model.state_dict().items()}
        batch, output = self._baseline(model, choices)
        leaf = _classification_leaf(output)
        if leaf is None:
            raise CannotRun(f"{model_reference} returned no tensor with a class axis")
        classes, class_axis = _class_axis(model, leaf)
        self.facts.update(
            input=batch.description,
            output_shape=list(leaf.shape),
            classes=classes,
            class_axis=class_axis,
            output_kind=_kind(leaf, class_axis),
        )
        generator = torch.Generator().manual_seed(self.seed + 17)
        index_shape = [size for axis, size in enumerate(leaf.shape) if axis != class_axis]
        indices = torch.randint(0, max(classes, 1), index_shape, generator=generator)
        one_hot = F.one_hot(indices, max(classes, 1)).to(leaf.dtype).movedim(-1, class_axis)
        forms = {"indices": indices, "one-hot": one_hot}
        if self.original:
            torch.save(leaf.detach(), self.scratch / f"{self.task['key']}.output.pt")
        else:
            self._agreement(leaf, class_axis)
        if function is None:
            self._save_choices(model_reference, batch)
            return
        # Each tree tries its own form first: multi-label code wants multi-hot rows, migrated
        # code class indices; one-hot rows of the same classes are valid for both.
        order = ["one-hot", "indices"] if self.original else ["indices", "one-hot"]
        last_error: BaseException | None = None
        for form in order:
            recorder = _Recorder(model=model)
            arguments = self._bind(function, owner, model, batch, forms[form], output)
            model.load_state_dict(start_state, strict=True)
            _seed_everything(self.seed + 1)
            self.phase(f"running {self.task['qualname']} ({form} targets)", blame)
            try:
                with _instrumented(recorder):
                    returned = function(*arguments[0], **arguments[1])
            except USER_ERRORS as error:
                last_error = error
                continue
            given = self._targets_given
            self.facts["targets"] = form if given else "none"
            self._record(recorder, returned, leaf, class_axis, indices)
            if self.original:
                self._save_choices(model_reference, batch)
            return
        assert last_error is not None
        raise Broke(f"{self.task['qualname']} raised {describe_error(last_error)}")

    def _save_choices(self, model_reference: str, batch: _Batch) -> None:
        choices = {"model": model_reference, "input": batch.description}
        self.choices_file.write_text(json.dumps(choices), encoding="utf-8")

    def _earlier_choices(self) -> dict[str, Any]:
        if self.original:
            return {}
        try:
            loaded = json.loads(self.choices_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CannotRun("the original tree's run did not get this far") from error
        return loaded if isinstance(loaded, dict) else {}

    def _model(
        self, module: ModuleType, owner: type | None, choices: dict[str, Any]
    ) -> tuple[nn.Module, str]:
        candidates = list(self.task["models"])
        if owner is not None and issubclass(owner, nn.Module):
            candidates.insert(0, f"{owner.__module__}:{owner.__qualname__}")
        hook = self.settings.get("build_hook")
        if hook:
            candidates.insert(0, str(hook))
        if "model" in choices:
            candidates = [str(choices["model"])]
        problems: list[str] = []
        for reference in candidates:
            try:
                built = self._build(reference, module)
            except CannotRun as problem:
                problems.append(str(problem))
                continue
            return built, reference
        if self.original and not candidates:
            raise CannotRun("no model class or factory found in the project to run it with")
        detail = "; ".join(problems[:3]) or "no candidate"
        if not self.original:
            self.facts["build"] = f"building {candidates[0]} failed in the migrated tree: {detail}"
        raise CannotRun(f"no model could be built ({detail})")

    def _build(self, reference: str, module: ModuleType) -> nn.Module:
        specs = self.settings["model_specs"]
        spec = specs.get(reference) if isinstance(specs.get(reference), dict) else None
        try:
            target = resolve_reference(reference, {module.__name__: module})
            if spec and spec.get("factory") is not None:
                target = resolve_reference(str(spec["factory"]), {module.__name__: module})
        except USER_ERRORS as error:
            raise CannotRun(f"{reference}: {describe_error(error)}") from error
        if spec and (spec.get("args") or spec.get("kwargs")):
            args = list(spec.get("args") or [])  # type: ignore[call-overload]
            kwargs = dict(spec.get("kwargs") or {})  # type: ignore[call-overload]
        else:
            # Parameters a model or factory needs: a project config object (`cfg`), a device;
            # anything else means it cannot be built without [tool.ml2mc.verify].
            args, kwargs = [], self._setup_arguments(target, reference)
        _seed_everything(self.seed)
        try:
            built = _call(target, args, kwargs)
        except USER_ERRORS as error:
            raise CannotRun(f"{reference}() raised {describe_error(error)}") from error
        if not isinstance(built, nn.Module):
            raise CannotRun(f"{reference}() returned {type(built).__name__}, not a model")
        return built

    def _setup_arguments(self, target: object, reference: str) -> dict[str, object]:
        try:
            signature = inspect.signature(target)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return {}
        arguments: dict[str, object] = {}
        for parameter in signature.parameters.values():
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if parameter.default is not inspect.Parameter.empty:
                continue
            name = parameter.name.lower()
            if name in CONFIG_NAMES:
                arguments[parameter.name] = self._config()
            elif name in DEVICE_NAMES:
                arguments[parameter.name] = torch.device("cpu")
            else:
                raise CannotRun(
                    f"{reference}() needs `{parameter.name}`; set [tool.ml2mc.verify] build = "
                    '"package.module:function" to a function that returns the model'
                )
        return arguments

    def _config(self) -> object:
        """The project's config value (`CONFIG = {...}`), or an instance of its config class
        built with its defaults."""
        for reference in self.task["configs"]:
            try:
                value = resolve_reference(reference, {})
            except USER_ERRORS:
                continue
            if not isinstance(value, type):
                return value
            if not _required_parameters(value):
                try:
                    return value()
                except USER_ERRORS:
                    continue
        raise CannotRun(
            "needs a config object, and no module-level CONFIG value or config class that "
            "builds without arguments was found"
        )

    def _baseline(self, model: nn.Module, choices: dict[str, Any]) -> tuple[_Batch, object]:
        hook = self.settings.get("inputs_hook")
        plans = [self._hook_plan(str(hook))] if hook else _inferred_plans(model, self.seed)
        if "input" in choices:
            plans = [plan for plan in plans if plan.description == choices["input"]] or plans
        errors: list[str] = []
        model.eval()
        for plan in plans:
            args, kwargs = plan.make(0, torch.float32)
            try:
                with torch.no_grad():
                    output = model(*args, **kwargs)
            except USER_ERRORS as error:
                errors.append(describe_error(error))
                continue
            return _Batch(plan.description, args, kwargs, _by_name(model, args, kwargs)), output
        if not plans:
            raise CannotRun(
                "cannot infer an input for the model (no Linear, Conv, Embedding or RNN layer "
                'first); set [tool.ml2mc.verify] inputs = "package.module:function"'
            )
        raise CannotRun(f"the model did not run on an inferred input: {errors[0]}")

    def _hook_plan(self, reference: str) -> InputPlan:
        try:
            function = resolve_reference(reference, {})
        except USER_ERRORS as error:
            raise CannotRun(
                f"cannot load the inputs hook {reference}: {describe_error(error)}"
            ) from error
        seed = self.seed

        def make(batch: int, dtype: torch.dtype) -> tuple[tuple[object, ...], dict[str, object]]:
            _seed_everything(seed + 1000 + batch)
            value = _call_input(function) if callable(function) else function
            return _as_arguments(value)

        return InputPlan(f"from {reference}", make)

    def _agreement(self, leaf: torch.Tensor, class_axis: int) -> None:
        path = self.scratch / f"{self.task['key']}.output.pt"
        try:
            original = torch.load(path)
        except (OSError, RuntimeError):
            return
        if original.dim() == leaf.dim() and original.shape[class_axis] != leaf.shape[class_axis]:
            self.facts["classes_changed"] = [
                int(original.shape[class_axis]),
                int(leaf.shape[class_axis]),
            ]
        if original.shape != leaf.shape or _kind(original, class_axis) == "scores":
            return
        decided = leaf.argmax(dim=class_axis, keepdim=True)
        chosen = (original > 0.5).gather(class_axis, decided)
        self.facts["agreement"] = [int(chosen.sum()), int(chosen.numel())]

    def _bind(
        self,
        function: Callable[..., object],
        owner: type | None,
        model: nn.Module,
        batch: _Batch,
        targets: torch.Tensor,
        output: object,
    ) -> tuple[list[object], dict[str, object]]:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError) as error:
            raise CannotRun(f"cannot read the signature of {self.task['qualname']}") from error
        positional: list[object] = []
        if owner is not None:
            positional.append(self._instance(owner, model))
        keyword: dict[str, object] = {}
        self._targets_given = False
        for index, parameter in enumerate(signature.parameters.values()):
            if (
                owner is not None
                and index == 0
                and not isinstance(
                    inspect.getattr_static(owner, function.__name__, None),
                    staticmethod | classmethod,
                )
            ):
                continue
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            short_run = parameter.name.lower() in ONE_NAMES | ZERO_NAMES | DEVICE_NAMES
            if parameter.default not in (inspect.Parameter.empty, None) and not short_run:
                continue  # `loss_fn=compute_loss`: the function's own default is what runs
            value = self._value_for(parameter, model, batch, targets, output)
            if value is _UNBOUND:
                if parameter.default is not inspect.Parameter.empty:
                    continue
                raise CannotRun(
                    f"cannot tell what to pass as `{parameter.name}` to {self.task['qualname']}"
                )
            keyword[parameter.name] = value
        return positional, keyword

    def _instance(self, owner: type, model: nn.Module) -> object:
        if isinstance(model, owner):
            return model
        if issubclass(owner, nn.Module):
            raise CannotRun(f"{owner.__qualname__} is a model class that could not be built")
        try:
            signature = inspect.signature(owner)
        except (TypeError, ValueError) as error:
            raise CannotRun(f"cannot build a {owner.__qualname__}") from error
        arguments: dict[str, object] = {}
        for parameter in signature.parameters.values():
            if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            value = self._value_for(parameter, model, None, None, None)
            if value is _UNBOUND:
                if parameter.default is not inspect.Parameter.empty:
                    continue
                raise CannotRun(
                    f"cannot build a {owner.__qualname__}: what to pass as `{parameter.name}`?"
                )
            arguments[parameter.name] = value
        try:
            return owner(**arguments)
        except USER_ERRORS as error:
            raise CannotRun(
                f"building a {owner.__qualname__} raised {describe_error(error)}"
            ) from error

    def _value_for(
        self,
        parameter: inspect.Parameter,
        model: nn.Module,
        batch: _Batch | None,
        targets: torch.Tensor | None,
        output: object,
    ) -> object:
        name = parameter.name.lower()
        if name in MODEL_NAMES:
            return model
        if name in DEVICE_NAMES:
            return torch.device("cpu")
        if name in OPTIMIZER_NAMES:
            return _NeutralOptimizer()
        if name in CRITERION_NAMES or name == "loss":
            return self._criterion()
        if name in ZERO_NAMES:
            return 0
        if name in ONE_NAMES:
            return 1
        if name in CONFIG_NAMES:
            return self._config()
        if batch is None or targets is None:
            return _UNBOUND
        if parameter.name in batch.by_name:
            return batch.by_name[parameter.name]
        inputs = batch.inputs
        if name in INPUT_NAMES:
            return inputs
        if name in TARGET_NAMES | BATCH_NAMES | LOADER_NAMES:
            self._targets_given = True
        if name in TARGET_NAMES:
            return targets
        if name in OUTPUT_NAMES:
            return output
        if name in BATCH_NAMES:
            return (inputs, targets)
        if name in LOADER_NAMES:
            return [(inputs, targets)]
        return _UNBOUND

    def _criterion(self) -> object:
        criteria = self.task["criteria"]
        if not criteria:
            raise CannotRun("no loss construction found in the project to pass as the criterion")
        expressions = {item["expression"] for item in criteria}
        if len(expressions) > 1:
            where = ", ".join(f"{item['expression']} ({item['where']})" for item in criteria[:4])
            raise CannotRun(f"several criteria could be passed, cannot choose: {where}")
        source = criteria[0]
        try:
            namespace = vars(importlib.import_module(source["module"]))
            return eval(source["expression"], dict(namespace))
        except USER_ERRORS as error:
            raise CannotRun(
                f"cannot build the criterion `{source['expression']}` ({source['where']}): "
                f"{describe_error(error)}"
            ) from error

    def _record(
        self,
        recorder: _Recorder,
        returned: object,
        baseline: torch.Tensor,
        class_axis: int,
        indices: torch.Tensor,
    ) -> None:
        references = [*reversed(recorder.outputs), baseline]
        self.facts["losses"] = [
            _loss_fact(call, references, class_axis, indices) for call in recorder.losses
        ]
        self.facts["returns"] = [
            {"path": path, **_tensor_fact(tensor, references, class_axis)}
            for path, tensor in _leaves(returned)
        ][:8]
        self.facts["thresholds"] = [
            {"operator": operator, "value": value, **_tensor_fact(tensor, references, class_axis)}
            for tensor, value, operator in recorder.thresholds
        ]
        self.facts["argmaxes"] = [
            {"dim": dim, **_tensor_fact(tensor, references, class_axis)}
            for tensor, dim in recorder.argmaxes
        ]


class _Unbound:
    pass


@dataclass(frozen=True)
class _Batch:
    """The model's input for this run, and how the user's functions may name its parts."""

    description: str
    args: tuple[object, ...]
    kwargs: dict[str, object]
    by_name: dict[str, object]  # the forward's parameter names -> the values passed

    @property
    def inputs(self) -> object:
        if self.kwargs:
            return dict(self.kwargs)
        return self.args[0] if len(self.args) == 1 else self.args


def _by_name(
    model: nn.Module, args: tuple[object, ...], kwargs: dict[str, object]
) -> dict[str, object]:
    try:
        parameters = list(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return dict(kwargs)
    named = dict(zip(parameters, args, strict=False))
    named.update(kwargs)
    return named


_UNBOUND = _Unbound()


def _resolve(module: ModuleType, qualname: str) -> tuple[Callable[..., object], type | None]:
    value: object = module
    owner: type | None = None
    parts = qualname.split(".")
    for position, part in enumerate(parts):
        if isinstance(value, type) and position == len(parts) - 1:
            owner = value
        try:
            value = (
                inspect.getattr_static(value, part)
                if isinstance(value, type)
                else getattr(value, part)
            )
        except AttributeError as error:
            raise CannotRun(f"{qualname} is not defined in {module.__name__}") from error
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if not callable(value):
        raise CannotRun(f"{qualname} is not a function")
    return value, owner


def _classification_leaf(output: object) -> torch.Tensor | None:
    leaves = [(path, tensor) for path, tensor in _leaves(output) if tensor.is_floating_point()]
    leaves = [(path, tensor) for path, tensor in leaves if tensor.dim() >= 2]
    for path, tensor in leaves:
        if "logit" in path.lower():
            return tensor.detach()
    return leaves[0][1].detach() if leaves else None


def _class_axis(model: nn.Module, leaf: torch.Tensor) -> tuple[int, int]:
    """Number of classes and the class axis of the model's output: the size of the last
    Linear or convolution that matches an axis of the output; axis 1 for a 2-d output."""
    if leaf.dim() == 2:
        return int(leaf.shape[1]), 1
    last = None
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            last = (layer.out_features, -1)
        elif isinstance(layer, nn.modules.conv._ConvNd):
            last = (layer.out_channels, 1)
    if last is not None:
        size, preferred = last
        axes = [axis for axis in range(1, leaf.dim()) if leaf.shape[axis] == size]
        if axes:
            axis = leaf.dim() - 1 if preferred == -1 and leaf.dim() - 1 in axes else axes[0]
            return int(size), axis
    return int(leaf.shape[-1]), leaf.dim() - 1


def _kind(tensor: torch.Tensor, class_axis: int) -> str:
    """What a float tensor of class scores holds, by its values alone."""
    values = tensor.detach().double()
    if values.numel() == 0 or not bool(torch.isfinite(values).all()):
        return "non-finite" if values.numel() else "empty"
    axis = class_axis if values.dim() > class_axis else values.dim() - 1
    in_unit = float(values.min()) >= 0.0 and float(values.max()) <= 1.0
    if in_unit and values.shape[axis] >= 2:
        if float((values.sum(dim=axis) - 1.0).abs().max()) <= 1e-4:
            return "probabilities"
    if in_unit:
        return "values in [0, 1]"
    if float(values.max()) <= 1e-6 and values.shape[axis] >= 2:
        if float((values.exp().sum(dim=axis) - 1.0).abs().max()) <= 1e-4:
            return "log-probabilities"
    return "scores"


def _same_values(tensor: torch.Tensor, reference: torch.Tensor) -> bool:
    if tensor.numel() != reference.numel() or tensor.numel() == 0:
        return False
    left = tensor.detach().double()
    right = reference.detach().double()
    if left.shape == right.shape and bool(
        torch.allclose(left, right, atol=CLOSE_ATOL, rtol=CLOSE_RTOL)
    ):
        return True
    # Reshaped or transposed for the loss ((N, T, C) -> (N*T, C) or (N, C, T)): same values.
    return bool(
        torch.allclose(
            left.flatten().sort().values,
            right.flatten().sort().values,
            atol=CLOSE_ATOL,
            rtol=CLOSE_RTOL,
        )
    )


def _relation(tensor: torch.Tensor, references: list[torch.Tensor], class_axis: int) -> str:
    """How `tensor` relates to a model output recorded during the call (latest first)."""
    if not tensor.is_floating_point():
        return "other"
    for reference in references:
        if reference.numel() != tensor.numel():
            continue
        candidates = _transforms(reference, class_axis)
        for name, make in candidates:
            if _same_values(tensor, make()):
                return name
    return "other"


def _transforms(
    reference: torch.Tensor, class_axis: int
) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """The ways a tensor may derive from a model output, each computed only when needed."""
    scores = reference.double()
    candidates: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("output", lambda: scores),
        ("softmax(output, class axis)", lambda: torch.softmax(scores, class_axis)),
        ("log_softmax(output, class axis)", lambda: torch.log_softmax(scores, class_axis)),
        ("sigmoid(output)", lambda: torch.sigmoid(scores)),
    ]
    for axis in range(scores.dim()):
        if axis != class_axis % scores.dim():
            label = f"softmax(output, dim={axis}) (not the class axis)"
            candidates.append((label, functools.partial(torch.softmax, scores, axis)))
    return candidates


def _tensor_fact(
    tensor: torch.Tensor, references: list[torch.Tensor], class_axis: int
) -> dict[str, Any]:
    fact: dict[str, Any] = {
        "shape": list(tensor.shape),
        "dtype": str(tensor.dtype).removeprefix("torch."),
    }
    baseline = references[-1]
    if tensor.is_floating_point():
        fact["relation"] = _relation(tensor, references, class_axis)
        if tensor.dim() > 0 and tensor.shape == baseline.shape:
            fact["kind"] = _kind(tensor, class_axis)
        return fact
    same_layout = [r for r in references if r.shape == tensor.shape]
    if same_layout and bool(((tensor == 0) | (tensor == 1)).all()):
        fact["relation"] = "multi-hot decisions"
        return fact
    fact["relation"] = "other"
    for reference in references:
        if reference.dim() < 1:
            continue
        for axis in range(reference.dim()):
            decided = reference.argmax(dim=axis)
            if decided.shape == tensor.shape and bool((decided == tensor).all()):
                is_class = axis == class_axis % reference.dim()
                fact["relation"] = (
                    "argmax(output, class axis)"
                    if is_class
                    else (f"argmax(output, dim={axis}) (not the class axis)")
                )
                return fact
    return fact


def _loss_fact(
    call: dict[str, Any], references: list[torch.Tensor], class_axis: int, indices: torch.Tensor
) -> dict[str, Any]:
    given: torch.Tensor = call["input"]
    target: object = call["target"]
    fact: dict[str, Any] = {
        "loss": call["loss"],
        "value": call["value"],
        "input_shape": list(given.shape),
        "input_relation": _relation(given, references, class_axis),
        "input_kind": _kind(given, 1 if given.dim() > 1 else 0),
        "class_columns": int(given.shape[1]) if given.dim() > 1 else 1,
    }
    if isinstance(target, torch.Tensor):
        fact["target_shape"] = list(target.shape)
        fact["target"] = _target_relation(target, given, indices)
    return fact


def _target_relation(target: torch.Tensor, given: torch.Tensor, indices: torch.Tensor) -> str:
    flat = indices.flatten()
    if not target.is_floating_point():
        if target.numel() == flat.numel():
            same = bool((target.flatten() == flat).all())
            return (
                "the batch's class indices"
                if same
                else "class indices that are not the batch's labels"
            )
        return "other"
    if target.shape == given.shape and given.dim() >= 2:
        rows = target.movedim(1, -1).reshape(-1, target.shape[1])
        if bool(((rows.sum(dim=1) - 1).abs() <= 1e-4).all()) and rows.shape[0] == flat.numel():
            agree = bool((rows.argmax(dim=1) == flat).all())
            return (
                "one-hot rows of the batch's classes"
                if agree
                else "probability rows that are not the batch's labels"
            )
    return "float targets"


@contextmanager
def _instrumented(recorder: _Recorder) -> Iterator[None]:
    """Record loss calls, model outputs, thresholds and argmaxes; neutralise optimizer steps."""
    saved_losses = {name: getattr(F, name) for name in LOSS_FUNCTIONS}
    saved_operators = {
        name: getattr(torch.Tensor, name) for name in ("__gt__", "__ge__", "__lt__", "__le__")
    }
    saved_argmax = (torch.Tensor.argmax, torch.argmax)
    optimizers = _optimizer_classes()
    saved_steps = {cls: cls.__dict__["step"] for cls in optimizers if "step" in cls.__dict__}

    def loss_wrapper(
        name: str, original: Callable[..., torch.Tensor]
    ) -> Callable[..., torch.Tensor]:
        def wrapped(
            given: torch.Tensor, target: object, *args: object, **kwargs: object
        ) -> torch.Tensor:
            value = original(given, target, *args, **kwargs)
            if not recorder.busy and len(recorder.losses) < MAX_RECORDS:
                recorder.busy = True
                try:
                    recorder.losses.append(
                        {
                            "loss": name,
                            "input": given.detach().clone(),
                            "target": target.detach().clone()
                            if isinstance(target, torch.Tensor)
                            else None,
                            "value": float(value.detach().double().mean())
                            if value.numel()
                            else None,
                        }
                    )
                finally:
                    recorder.busy = False
            return value

        return wrapped

    def operator_wrapper(symbol: str, original: Callable[..., object]) -> Callable[..., object]:
        def wrapped(tensor: torch.Tensor, other: object) -> object:
            if (
                not recorder.busy
                and isinstance(other, int | float)
                and not isinstance(other, bool)
                and tensor.is_floating_point()
                and tensor.dim() >= 2
                and len(recorder.thresholds) < MAX_RECORDS
            ):
                recorder.thresholds.append((tensor.detach().clone(), float(other), symbol))
            return original(tensor, other)

        return wrapped

    def argmax_method(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        _note_argmax(tensor, args, kwargs)
        return saved_argmax[0](tensor, *args, **kwargs)

    def argmax_function(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        _note_argmax(tensor, args, kwargs)
        return saved_argmax[1](tensor, *args, **kwargs)

    def _note_argmax(tensor: torch.Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if recorder.busy or not tensor.is_floating_point() or len(recorder.argmaxes) >= MAX_RECORDS:
            return
        dim = kwargs.get("dim", args[0] if args else None)
        recorder.argmaxes.append((tensor.detach().clone(), dim if isinstance(dim, int) else None))

    def hook(module: nn.Module, arguments: object, output: object) -> None:
        leaf = _classification_leaf(output)
        if leaf is not None and len(recorder.outputs) < MAX_RECORDS:
            recorder.outputs.append(leaf.detach().clone())

    handle = recorder.model.register_forward_hook(hook) if recorder.model is not None else None
    symbols = {"__gt__": ">", "__ge__": ">=", "__lt__": "<", "__le__": "<="}
    try:
        for name, original in saved_losses.items():
            setattr(F, name, loss_wrapper(name, original))
        for name, original in saved_operators.items():
            setattr(torch.Tensor, name, operator_wrapper(symbols[name], original))
        setattr(torch.Tensor, "argmax", argmax_method)  # noqa: B010 - mypy rejects the assignment
        setattr(torch, "argmax", argmax_function)  # noqa: B010
        for cls in saved_steps:
            setattr(cls, "step", _no_step)  # noqa: B010
        with torch.enable_grad():
            yield
    finally:
        for name, original in saved_losses.items():
            setattr(F, name, original)
        for name, original in saved_operators.items():
            setattr(torch.Tensor, name, original)
        setattr(torch.Tensor, "argmax", saved_argmax[0])  # noqa: B010
        setattr(torch, "argmax", saved_argmax[1])  # noqa: B010
        for cls, step in saved_steps.items():
            setattr(cls, "step", step)  # noqa: B010
        if handle is not None:
            handle.remove()


def _no_step(self: object, *args: object, **kwargs: object) -> None:
    """An optimizer step that changes nothing: both trees keep the original's weights."""


def _optimizer_classes() -> list[type]:
    found: list[type] = []
    pending: list[type] = [torch.optim.Optimizer]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(current.__subclasses__())
    return found
