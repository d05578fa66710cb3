"""Check that a rewritten criterion is cross-entropy on logits, numerically."""

from __future__ import annotations

import ast
import builtins
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from migrate.verify._protocol import LossTask, SettingsMessage
from migrate.verify.child.common import (
    FLOAT32,
    FLOAT64,
    CheckFailed,
    PhaseReporter,
    Precision,
    Verdict,
    describe_error,
    double_softmax_note,
)

SAMPLES = 8
DEFAULT_CLASSES = 5
DEFAULT_IGNORE_INDEX = -100
USER_ERRORS = (Exception, SystemExit)
# Import statements from the user's module run only for these packages: torch itself and the
# standard-library helpers a criterion is built with (`partial(F.cross_entropy, ...)`). Anything
# else would run the user's own code outside the sandbox that model checks use.
IMPORTABLE_ROOTS = ("torch", "functools", "math", "operator")

LossFunction = Callable[[torch.Tensor, torch.Tensor], object]


@dataclass(frozen=True)
class Reference:
    """`F.cross_entropy` with the settings the rewritten criterion should have."""

    reduction: str = "mean"
    weight: torch.Tensor | None = None
    ignore_index: int = DEFAULT_IGNORE_INDEX
    label_smoothing: float = 0.0

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(logits.dtype) if self.weight is not None else None
        return F.cross_entropy(
            logits,
            target,
            weight=weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )

    def label(self) -> str:
        options = []
        if self.weight is not None:
            options.append(f"weight=<{self.weight.numel()} class weights>")
        if self.ignore_index != DEFAULT_IGNORE_INDEX:
            options.append(f"ignore_index={self.ignore_index}")
        if self.reduction != "mean":
            options.append(f"reduction={self.reduction!r}")
        if self.label_smoothing:
            options.append(f"label_smoothing={self.label_smoothing:g}")
        return "F.cross_entropy(" + ", ".join(["z", "y", *options]) + ")"

    def expected_gradient(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """d loss.sum() / d logits from first principles, not from autograd: each sample
        contributes w[y]*(softmax(z) - onehot(y)), smoothing mixes in the uniform target,
        ignored samples contribute nothing, and 'mean' divides by the summed weights."""
        classes = logits.shape[1]
        probabilities = torch.softmax(logits.detach(), dim=1)
        weights = (
            self.weight.to(logits.dtype)
            if self.weight is not None
            else torch.ones(classes, dtype=logits.dtype)
        )
        kept = (target != self.ignore_index).to(logits.dtype)
        safe_target = target.clamp(0, classes - 1)
        one_hot = F.one_hot(safe_target, classes).to(logits.dtype)
        target_weight = weights[safe_target]
        smoothing = self.label_smoothing
        gradient = (1 - smoothing) * target_weight[:, None] * (probabilities - one_hot)
        gradient = gradient + (smoothing / classes) * (
            weights.sum() * probabilities - weights[None, :]
        )
        gradient = gradient * kept[:, None]
        if self.reduction == "mean":
            gradient = gradient / (target_weight * kept).sum()
        return gradient

    def gradient_label(self) -> str:
        # ASCII only: reports go to terminals and CI logs of every encoding.
        if self.weight is None and not self.label_smoothing:
            core = "softmax(z) - onehot(y)"
        elif self.weight is None:
            core = "softmax(z) - ((1-eps)*onehot(y) + eps/C)"
        elif not self.label_smoothing:
            core = "weight[y]*(softmax(z) - onehot(y))"
        else:
            core = (
                "(1-eps)*weight[y]*(softmax(z) - onehot(y)) "
                "+ eps/C*sum_c weight[c]*(softmax(z) - onehot(c))"
            )
        scale = ""
        if self.reduction == "mean":
            scale = " / N" if self.weight is None else " / sum(weight[y])"
        wrapped = f"({core}){scale}" if scale else core
        return f"gradient w.r.t. the logits = {wrapped} (reduction={self.reduction!r})"


def check_loss(task: LossTask, settings: SettingsMessage, phase: PhaseReporter) -> Verdict:
    """Evaluate the rewritten criterion and compare it with `F.cross_entropy` on logits.

    The expression is evaluated with `torch`, `nn` and `F` in scope, after the user's own torch
    imports (`namespace_imports`, e.g. `from torch.nn import CrossEntropyLoss as CE`) ran in the
    same namespace. An expression that needs anything else, a variable such as `class_weights`
    or a name from the user's own modules, is skipped with the name, never guessed at.
    """
    expression = task["rewritten_expression"]
    phase(f"evaluating {expression}", "rewritten")
    namespace = UserNamespace(task.get("namespace_imports") or [])
    notes = list(namespace.notes)
    try:
        loss = _as_loss(namespace.evaluate(expression), expression)
    except CheckFailed as stop:
        return Verdict(stop.status, stop.reason, notes=notes)
    references = _references(loss)
    classes = _classes(references)
    fallback: str | None = None
    for precision in (FLOAT64, FLOAT32):
        phase(f"calling {expression} on random logits ({_dtype_name(precision)})", "rewritten")
        try:
            verdict = _run(loss, references, classes, precision, settings)
        except CheckFailed as stop:
            return Verdict(
                stop.status, stop.reason, notes=notes, atol=precision.atol, rtol=precision.rtol
            )
        except USER_ERRORS as error:
            if precision is FLOAT64:
                fallback = describe_error(error)
                continue
            return Verdict(
                "fail",
                f"calling {expression}(logits, targets) raised {describe_error(error)}",
                notes=notes,
            )
        if fallback is not None:
            verdict.notes.insert(1, f"float64 run failed ({fallback}); fell back to float32")
        verdict.notes.append(double_softmax_note(classes))
        original = task["original_expression"]
        if original:
            phase(f"evaluating the original {original}", "original")
            verdict.notes.append(_original_note(original, namespace, loss, classes, settings))
        verdict.notes.extend(notes)
        return verdict
    raise AssertionError("unreachable: the float32 pass always returns")


class UserNamespace:
    """The names a loss expression may use: torch, nn, F, and what the user's torch imports
    bind. Only imports of IMPORTABLE_ROOTS modules run; a name that another import (the user's
    own package, a relative import) would bind is remembered, so a skip can say where it comes
    from."""

    def __init__(self, imports: list[str]) -> None:
        self.names: dict[str, object] = {"torch": torch, "nn": nn, "F": F}
        # name -> why it is not in `names`
        self.unavailable: dict[str, str] = {}
        self.notes: list[str] = []
        for statement in imports:
            self._run_import(statement)

    def _run_import(self, statement: str) -> None:
        try:
            tree = ast.parse(statement.strip())
        except SyntaxError:
            self.notes.append(f"ignored import {statement!r}: not valid Python")
            return
        for node in tree.body:
            if isinstance(node, ast.Import):
                # One alias at a time: `import torch, mylib` runs the torch half.
                for alias in node.names:
                    self._run_one(ast.Import(names=[alias]), alias.name, [_bound_name(alias)])
            elif isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                bound = [_bound_name(alias) for alias in node.names if alias.name != "*"]
                self._run_one(node, module, bound)
            else:
                self.notes.append(
                    f"ignored {ast.unparse(node)!r}: only import statements are executed"
                )

    def _run_one(self, node: ast.Import | ast.ImportFrom, module: str, bound: list[str]) -> None:
        text = ast.unparse(node)
        if module.startswith(".") or module.split(".")[0] not in IMPORTABLE_ROOTS:
            for name in bound:
                self.unavailable[name] = (
                    f"imported by `{text}`, which the loss check does not run "
                    f"(it only runs imports from {', '.join(IMPORTABLE_ROOTS)})"
                )
            return
        try:
            exec(compile(text, "<imports>", "exec"), self.names)
        except USER_ERRORS as error:
            for name in bound:
                self.unavailable[name] = f"imported by `{text}`, which failed: " + describe_error(
                    error
                )
            return
        for name in bound:
            self.unavailable.pop(name, None)

    def evaluate(self, expression: str) -> object:
        """The value of `expression`; CheckFailed("skip") when it needs a name from elsewhere."""
        try:
            tree = ast.parse(expression.strip(), "<loss expression>", "eval")
        except SyntaxError as error:
            raise CheckFailed(
                "fail", f"{expression} does not evaluate: {describe_error(error)}"
            ) from error
        missing = [
            (name, text)
            for name, text in _free_names(tree)
            if name not in self.names and not hasattr(builtins, name)
        ]
        if missing:
            raise CheckFailed("skip", self._missing_reason(missing))
        try:
            return eval(compile(tree, "<loss expression>", "eval"), dict(self.names))
        except USER_ERRORS as error:
            raise CheckFailed(
                "fail", f"{expression} does not evaluate: {describe_error(error)}"
            ) from error

    def _missing_reason(self, missing: list[tuple[str, str]]) -> str:
        run_time: list[str] = []
        elsewhere: list[str] = []
        for name, text in dict.fromkeys(missing):
            where = self.unavailable.get(name)
            if where is None:
                run_time.append(f"`{text}`")
            else:
                elsewhere.append(f"`{text}`, {where}")
        parts = list(elsewhere)
        if run_time:
            parts.insert(0, f"{_and(run_time)}, defined at run time")
        return "the loss depends on " + "; ".join(parts)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _bound_name(alias: ast.alias) -> str:
    # `import torch.nn` binds `torch`; `import torch.nn as tnn` binds `tnn`.
    return alias.asname or alias.name.split(".")[0]


def _free_names(tree: ast.Expression) -> list[tuple[str, str]]:
    """(name, how it is used) for every name the expression reads but does not bind itself
    (lambda parameters, comprehension targets and `:=` bind); `self.weight` is shown whole."""
    bound: set[str] = set()
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
        if isinstance(node, ast.Lambda):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [item for item in (arguments.vararg, arguments.kwarg) if item is not None]
            bound.update(argument.arg for argument in every)
        elif isinstance(node, ast.comprehension | ast.NamedExpr):
            bound.update(
                target.id for target in ast.walk(node.target) if isinstance(target, ast.Name)
            )
    found: list[tuple[str, str, tuple[int, int]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            used: ast.AST = node
            parent = parents.get(used)
            # Climb `a.b.c`, but stop before a method that is called: `w.to(device)` -> `w`.
            while isinstance(parent, ast.Attribute) and parent.value is used:
                grandparent = parents.get(parent)
                if isinstance(grandparent, ast.Call) and grandparent.func is parent:
                    break
                used = parent
                parent = parents.get(used)
            found.append((node.id, ast.unparse(used), (node.lineno, node.col_offset)))
    # ast.walk goes breadth first; the reason lists names in reading order.
    return [(name, text) for name, text, _ in sorted(found, key=lambda item: item[2])]


def _as_loss(value: object, expression: str) -> LossFunction:
    if isinstance(value, type):
        if not issubclass(value, nn.Module):
            raise CheckFailed("fail", f"{expression} is a class but not a torch.nn.Module")
        try:
            value = value()
        except USER_ERRORS as error:
            raise CheckFailed("fail", f"{expression}() raised {describe_error(error)}") from error
    if not callable(value):
        raise CheckFailed(
            "fail", f"{expression} evaluates to {type(value).__name__}, which is not callable"
        )
    if isinstance(value, nn.Module):
        value.eval()
    return value


def _references(loss: LossFunction) -> list[Reference]:
    """What the criterion claims to be; for an opaque callable, every reduction is tried."""
    if isinstance(loss, nn.CrossEntropyLoss):
        return [
            Reference(
                reduction=loss.reduction,
                weight=loss.weight.detach().clone() if loss.weight is not None else None,
                ignore_index=loss.ignore_index,
                label_smoothing=float(loss.label_smoothing),
            )
        ]
    if isinstance(loss, functools.partial) and loss.func is F.cross_entropy and not loss.args:
        keywords = loss.keywords
        weight = keywords.get("weight")
        return [
            Reference(
                reduction=str(keywords.get("reduction", "mean")),
                weight=weight if isinstance(weight, torch.Tensor) else None,
                ignore_index=int(keywords.get("ignore_index", DEFAULT_IGNORE_INDEX)),
                label_smoothing=float(keywords.get("label_smoothing", 0.0)),
            )
        ]
    return [Reference(reduction) for reduction in ("mean", "sum", "none")]


def _classes(references: list[Reference]) -> int:
    weight = references[0].weight
    return int(weight.numel()) if weight is not None else DEFAULT_CLASSES


def _to_precision(loss: LossFunction, precision: Precision) -> LossFunction:
    if isinstance(loss, nn.Module):
        loss.to(precision.dtype)
    return loss


def _run(
    loss: LossFunction,
    references: list[Reference],
    classes: int,
    precision: Precision,
    settings: SettingsMessage,
) -> Verdict:
    loss = _to_precision(loss, precision)
    reference: Reference | None = None if len(references) > 1 else references[0]
    worst_abs = 0.0
    worst_rel = 0.0
    one_hot_note: str | None = None
    batches = max(1, int(settings["batches"]))
    for batch in range(batches):
        logits, target = _sample(classes, precision, int(settings["seed"]), batch)
        value = _tensor(loss(logits, target), "the loss")
        if reference is None:
            reference = _matching_reference(value, logits, target, references, precision)
        expected = reference(logits, target)
        worst_abs, worst_rel = _accumulate(worst_abs, worst_rel, value, expected)
        if not _close(value, expected, precision):
            raise CheckFailed(
                "fail",
                f"the loss is not {reference.label()}: on random logits (N={SAMPLES}, "
                f"C={classes}) it differs by up to {_max_difference(value, expected):.3g} "
                f"({_summary(value)} vs {_summary(expected)})",
            )
        gradient = _gradient(loss, logits, target)
        wanted = reference.expected_gradient(logits, target)
        worst_abs, worst_rel = _accumulate(worst_abs, worst_rel, gradient, wanted)
        if not _close(gradient, wanted, precision):
            raise CheckFailed(
                "fail",
                f"the gradient w.r.t. the logits is not the cross-entropy gradient "
                f"({reference.gradient_label()}): max abs error "
                f"{_max_difference(gradient, wanted):.3g}",
            )
        one_hot_note = _check_one_hot(loss, reference, logits, target, precision)
    assert reference is not None
    notes = [
        precision.label,
        f"reference: {reference.label()} on random logits (N={SAMPLES}, C={classes})",
        reference.gradient_label(),
    ]
    if one_hot_note:
        notes.append(one_hot_note)
    return Verdict(
        "pass",
        relation=f"loss = {reference.label()}",
        max_abs_error=worst_abs,
        max_rel_error=worst_rel,
        batches=batches,
        notes=notes,
        atol=precision.atol,
        rtol=precision.rtol,
    )


def _sample(
    classes: int, precision: Precision, seed: int, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + 500 + batch)
    # Spread 2 gives confident and unconfident rows alike, so a softmax-shaped mistake shows.
    logits = 2.0 * torch.randn(SAMPLES, classes, generator=generator, dtype=precision.dtype)
    target = torch.randint(0, classes, (SAMPLES,), generator=generator)
    return logits, target


def _tensor(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise CheckFailed("fail", f"{what} is {type(value).__name__}, not a tensor")
    return value


def _matching_reference(
    value: torch.Tensor,
    logits: torch.Tensor,
    target: torch.Tensor,
    references: list[Reference],
    precision: Precision,
) -> Reference:
    for reference in references:
        if _close(value, reference(logits, target), precision):
            return reference
    # None matches: compare against the plain default so the failure message is concrete.
    return references[0]


def _close(actual: torch.Tensor, expected: torch.Tensor, precision: Precision) -> bool:
    if actual.shape != expected.shape:
        return False
    return bool(
        torch.isclose(
            actual.double(), expected.double(), rtol=precision.rtol, atol=precision.atol
        ).all()
    )


def _max_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    if actual.shape != expected.shape:
        return math.inf
    return float((actual.double() - expected.double()).abs().max())


def _accumulate(
    worst_abs: float, worst_rel: float, actual: torch.Tensor, expected: torch.Tensor
) -> tuple[float, float]:
    if actual.shape != expected.shape:
        return math.inf, math.inf
    difference = (actual.double() - expected.double()).abs()
    scale = torch.maximum(actual.double().abs(), expected.double().abs())
    relative = (difference / scale.clamp_min(torch.finfo(torch.float64).tiny)).masked_fill(
        difference == 0, 0.0
    )
    return max(worst_abs, float(difference.max())), max(worst_rel, float(relative.max()))


def _summary(value: torch.Tensor) -> str:
    if value.numel() == 1:
        return f"{float(value):.4g}"
    return f"shape {tuple(value.shape)}"


def _gradient(loss: LossFunction, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    leaf = logits.detach().clone().requires_grad_(True)
    value = _tensor(loss(leaf, target), "the loss")
    if not value.requires_grad:
        raise CheckFailed("fail", "the loss does not depend on the logits (no gradient flows)")
    (gradient,) = torch.autograd.grad(value.sum(), leaf)
    return gradient


def _check_one_hot(
    loss: LossFunction,
    reference: Reference,
    logits: torch.Tensor,
    target: torch.Tensor,
    precision: Precision,
) -> str:
    # torch's own rules for probability targets decide what can be compared at all.
    if reference.ignore_index != DEFAULT_IGNORE_INDEX:
        return (
            f"one-hot float targets not compared: torch rejects probability targets when "
            f"ignore_index is set ({reference.ignore_index}), so keep class-index targets"
        )
    if reference.weight is not None and reference.reduction == "mean":
        return (
            "one-hot float targets not compared: with class weights and reduction='mean', "
            "torch divides index-target losses by the summed target weights but "
            "probability-target losses by N, so the two differ by design"
        )
    one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
    try:
        with_one_hot = _tensor(loss(logits, one_hot), "the loss on one-hot targets")
    except CheckFailed:
        raise
    except USER_ERRORS as error:
        # Not a failure: the criterion is right for class indices (NLLLoss on log_softmax,
        # say); the user only needs to know that one-hot targets will not work with it.
        return (
            "this criterion rejects one-hot float targets, which F.cross_entropy accepts "
            f"({describe_error(error)}); pass class indices"
        )
    with_index = _tensor(loss(logits, target), "the loss")
    if not _close(with_one_hot, with_index, precision):
        raise CheckFailed(
            "fail",
            f"one-hot float targets give a different loss than class indices "
            f"({_summary(with_one_hot)} vs {_summary(with_index)})",
        )
    return "one-hot float targets give the same loss as class-index targets"


def _original_note(
    expression: str,
    namespace: UserNamespace,
    rewritten: LossFunction,
    classes: int,
    settings: SettingsMessage,
) -> str:
    logits, target = _sample(classes, FLOAT64, int(settings["seed"]), 0)
    one_hot = F.one_hot(target, classes).to(torch.float64)
    try:
        original = _as_loss(namespace.evaluate(expression), expression)
        if isinstance(original, nn.Module):
            original.to(torch.float64)
        try:
            before = _tensor(original(logits, one_hot), "the original loss")
            inputs = "logits"
        except USER_ERRORS:
            # BCELoss-style criteria take probabilities, as the old model produced them.
            before = _tensor(original(torch.sigmoid(logits), one_hot), "the original loss")
            inputs = "sigmoid(logits)"
        after = _tensor(rewritten(logits, target), "the loss")
    except (CheckFailed, *USER_ERRORS) as error:
        detail = error.reason if isinstance(error, CheckFailed) else describe_error(error)
        return f"original {expression} could not be evaluated for comparison: {detail}"
    return (
        f"original {expression} on {inputs} with one-hot targets: {_summary(before)}; "
        f"rewritten on the same logits: {_summary(after)} (different losses, shown for scale)"
    )


def _dtype_name(precision: Precision) -> str:
    return str(precision.dtype).removeprefix("torch.")
