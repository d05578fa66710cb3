"""A fast first look at each file with the standard `ast` module, before any libcst parse.

libcst parses about twenty times slower than `ast`. For a `check` (MC2xx rules) most files of
a large tree cannot contribute to a finding: they compute no loss, apply no softmax without
`dim`, take no log of a softmax and return no activation. The screen finds the files that
might, so that only those (and the files that import them, which may read a model's output)
are parsed with libcst. It over-approximates: a file it keeps may still have no finding.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

LOSS_NAMES = frozenset(
    {
        "CrossEntropyLoss",
        "cross_entropy",
        "BCEWithLogitsLoss",
        "binary_cross_entropy_with_logits",
        "NLLLoss",
        "nll_loss",
        "BCELoss",
        "binary_cross_entropy",
    }
)
ACTIVATION_NAMES = frozenset(
    {"softmax", "sigmoid", "log_softmax", "Softmax", "Sigmoid", "LogSoftmax", "expit"}
)
_DIMLESS = frozenset({"softmax", "log_softmax", "Softmax", "LogSoftmax"})


@dataclass(frozen=True)
class Screen:
    """What the first look found in one file."""

    syntax_error: tuple[int, int, str] | None = None  # line, column, message
    computes_loss: bool = False
    local_site: bool = False  # a softmax without dim, or a log next to a softmax
    returns_activation: bool = False
    # A class's `forward` returns one: its callers read what a fix would change.
    forward_returns_activation: bool = False
    # Last parts of the module names it imports (`from .model import Net` -> model, Net).
    imports: frozenset[str] = frozenset()

    @property
    def matters(self) -> bool:
        return (
            self.syntax_error is not None
            or self.computes_loss
            or self.local_site
            or self.returns_activation
        )


def screen_source(source: str) -> Screen:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return Screen(syntax_error=(error.lineno or 1, error.offset or 1, str(error.msg)))
    except (RecursionError, MemoryError, ValueError) as error:
        return Screen(syntax_error=(1, 1, f"{type(error).__name__}: {error}"))
    computes_loss = False
    local_site = False
    has_log = False
    has_softmax = False
    activation_attributes: set[str] = set()
    returns_activation = False
    imports: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.module:
                imports.add(node.module.rsplit(".", 1)[-1])
            imports.update(alias.name for alias in node.names)
            # `from torch.nn import CrossEntropyLoss as CE`: the loss is used under an alias.
            if any(alias.name in LOSS_NAMES for alias in node.names):
                computes_loss = True
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in LOSS_NAMES:
                computes_loss = True
            elif name in ("softmax", "Softmax"):
                has_softmax = True
            elif name == "log":
                has_log = True
        elif isinstance(node, ast.Call):
            name = _called_name(node.func)
            if name in _DIMLESS and _without_dim(node, name):
                local_site = True
        elif isinstance(node, ast.Assign) and _builds_activation(node.value):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    activation_attributes.add(target.attr)
    functions = [
        node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    returning = [f for f in functions if _function_returns_activation(f, activation_attributes)]
    returns_activation = bool(returning)
    forward_returns_activation = any(f.name in ("forward", "__call__") for f in returning)
    return Screen(
        computes_loss=computes_loss,
        local_site=local_site or (has_log and has_softmax),
        returns_activation=returns_activation,
        forward_returns_activation=forward_returns_activation,
        imports=frozenset(imports),
    )


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _without_dim(call: ast.Call, name: str) -> bool:
    if any(keyword.arg == "dim" for keyword in call.keywords):
        return False
    if name in ("Softmax", "LogSoftmax"):
        return not call.args
    return len(call.args) <= 1


def _builds_activation(value: ast.expr) -> bool:
    """`nn.Softmax(dim=1)`, `nn.Sequential(..., nn.Sigmoid())`, `F.softmax` (bound)."""
    for node in ast.walk(value):
        name = _called_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name in ACTIVATION_NAMES:
            return True
    return False


def _mentions_activation(value: ast.expr) -> bool:
    for node in ast.walk(value):
        if isinstance(node, ast.Call) and _called_name(node.func) in ACTIVATION_NAMES:
            return True
    return False


def _function_returns_activation(function: ast.AST, attributes: set[str]) -> bool:
    """A return whose value is an activation's output: `F.softmax(z, 1)`, `self.act(x)` for
    an attribute built from an activation, a variable assigned one (`x = self.head(x)`), or a
    tuple, dict or method chain (`.squeeze(1)`) of those."""
    activated: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and _is_activation_value(node.value, attributes, activated):
            activated.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return any(
        isinstance(node, ast.Return)
        and node.value is not None
        and _is_activation_value(node.value, attributes, activated)
        for node in ast.walk(function)
    )


def _is_activation_value(value: ast.expr, attributes: set[str], variables: set[str]) -> bool:
    if isinstance(value, ast.Name):
        return value.id in variables
    if isinstance(value, (ast.Tuple, ast.List)):
        return any(_is_activation_value(e, attributes, variables) for e in value.elts)
    if isinstance(value, ast.Dict):
        return any(_is_activation_value(v, attributes, variables) for v in value.values)
    if isinstance(value, ast.Call):
        func = value.func
        if _called_name(func) in ACTIVATION_NAMES:
            return True
        if isinstance(func, ast.Attribute):
            if func.attr in attributes:
                return True
            return _is_activation_value(func.value, attributes, variables)
        return any(
            _is_activation_value(keyword.value, attributes, variables) for keyword in value.keywords
        )
    return False
