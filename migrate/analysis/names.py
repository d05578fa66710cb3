"""Resolve spellings to qualified names through a module's imports, and name the torch API.

`nn.Softmax`, `torch.nn.Softmax` and `from torch.nn import Softmax as S; S` all resolve to
`torch.nn.Softmax`; a class the module defines itself shadows any import of the same name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

LOCAL_PREFIX = "<local>."

SOFTMAX = "softmax"
SIGMOID = "sigmoid"
LOG_SOFTMAX = "log_softmax"

# Functions that apply an activation to their first argument.
ACTIVATION_FUNCTIONS: dict[str, str] = {
    "torch.softmax": SOFTMAX,
    "torch.nn.functional.softmax": SOFTMAX,
    "torch.special.softmax": SOFTMAX,
    "torch.sigmoid": SIGMOID,
    "torch.nn.functional.sigmoid": SIGMOID,
    "torch.special.expit": SIGMOID,
    "torch.log_softmax": LOG_SOFTMAX,
    "torch.nn.functional.log_softmax": LOG_SOFTMAX,
    "torch.special.log_softmax": LOG_SOFTMAX,
}
ACTIVATION_METHODS: dict[str, str] = {
    "softmax": SOFTMAX,
    "sigmoid": SIGMOID,
    "log_softmax": LOG_SOFTMAX,
}
ACTIVATION_MODULES: dict[str, str] = {
    "torch.nn.Softmax": SOFTMAX,
    "torch.nn.modules.activation.Softmax": SOFTMAX,
    "torch.nn.Sigmoid": SIGMOID,
    "torch.nn.modules.activation.Sigmoid": SIGMOID,
    "torch.nn.LogSoftmax": LOG_SOFTMAX,
    "torch.nn.modules.activation.LogSoftmax": LOG_SOFTMAX,
}
LOG_FUNCTIONS = frozenset({"torch.log", "torch.Tensor.log", "math.log"})

CROSS_ENTROPY = "cross_entropy"
BCE = "binary_cross_entropy"
BCE_WITH_LOGITS = "binary_cross_entropy_with_logits"
NLL = "nll_loss"

LOSS_MODULES: dict[str, str] = {
    "torch.nn.CrossEntropyLoss": CROSS_ENTROPY,
    "torch.nn.modules.loss.CrossEntropyLoss": CROSS_ENTROPY,
    "torch.nn.BCELoss": BCE,
    "torch.nn.modules.loss.BCELoss": BCE,
    "torch.nn.BCEWithLogitsLoss": BCE_WITH_LOGITS,
    "torch.nn.modules.loss.BCEWithLogitsLoss": BCE_WITH_LOGITS,
    "torch.nn.NLLLoss": NLL,
    "torch.nn.modules.loss.NLLLoss": NLL,
}
LOSS_FUNCTIONS: dict[str, str] = {
    "torch.nn.functional.cross_entropy": CROSS_ENTROPY,
    "torch.nn.functional.binary_cross_entropy": BCE,
    "torch.nn.functional.binary_cross_entropy_with_logits": BCE_WITH_LOGITS,
    "torch.nn.functional.nll_loss": NLL,
}
LOSS_DISPLAY: dict[str, str] = {
    CROSS_ENTROPY: "CrossEntropyLoss",
    BCE: "BCELoss",
    BCE_WITH_LOGITS: "BCEWithLogitsLoss",
    NLL: "NLLLoss",
}
SEQUENTIAL = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})

# Cheap prefilter: a file that mentions none of these cannot produce a finding.
TRIGGER_WORDS = (
    "softmax",
    "sigmoid",
    "Softmax",
    "Sigmoid",
    "cross_entropy",
    "CrossEntropy",
    "BCE",
    "nll_loss",
    "NLLLoss",
    "expit",
    "multi_label",
    "multilabel",
    "Multilabel",
    "problem_type",
    "one_hot",
    '"samples"',
    "'samples'",
)


def dotted_name(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names and attributes; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def call_argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    """The argument at `position` or passed as `keyword`; None when absent, or when a
    `*args` or `**kwargs` written before it hides which one it is."""
    positional = 0
    for argument in source_order_arguments(call):
        if isinstance(argument, ast.keyword):
            if argument.arg is None:
                return None
            if argument.arg == keyword:
                return argument.value
            continue
        if isinstance(argument, ast.Starred):
            return None
        if positional == position:
            return argument
        positional += 1
    return None


def source_order_arguments(call: ast.Call) -> list[ast.expr | ast.keyword]:
    """Positional and keyword arguments in the order they are written."""
    arguments: list[ast.expr | ast.keyword] = [*call.args, *call.keywords]
    return sorted(arguments, key=lambda node: (node.lineno, node.col_offset))


def last_argument(call: ast.Call) -> ast.expr | None:
    """The value of the argument written last (positional or keyword)."""
    arguments = source_order_arguments(call)
    if not arguments:
        return None
    last = arguments[-1]
    return last.value if isinstance(last, ast.keyword) else last


class ImportTable:
    """Local name -> qualified name, from every import in the module, and local definitions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        # `from X import *`: the modules whose public names are bound here too.
        self.star_modules: list[str] = []

    @classmethod
    def of_module(cls, tree: ast.Module) -> ImportTable:
        table = cls()
        # Imports are statements: walking statement bodies finds them all without visiting
        # every expression node.
        for statement in statements(tree.body):
            if isinstance(statement, ast.Import):
                table._add_import(statement)
            elif isinstance(statement, ast.ImportFrom):
                table._add_import_from(statement)
        # A class or function the module defines itself shadows an import of the same name:
        # a project's own `CrossEntropyLoss` is not torch's.
        for statement in tree.body:
            if isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                table.names[statement.name] = LOCAL_PREFIX + statement.name
        return table

    def qualify(self, node: ast.expr) -> str | None:
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        resolved = self.names.get(head)
        if resolved is None:
            resolved = self._torch_star_name(head)
        if resolved is None:
            return None
        return f"{resolved}.{rest}" if rest else resolved

    def _torch_star_name(self, name: str) -> str | None:
        """`Softmax` after `from torch.nn import *`: a torch name the star import binds."""
        for module in self.star_modules:
            if module.startswith("torch"):
                candidate = f"{module}.{name}"
                if any(candidate in table for table in _TORCH_TABLES):
                    return candidate
        return None

    def _add_import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname is not None:
                self.names[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                self.names[head] = head

    def _add_import_from(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self.star_modules.append(module)
                return
            self.names[alias.asname or alias.name] = f"{module}.{alias.name}"


_TORCH_TABLES = (ACTIVATION_FUNCTIONS, ACTIVATION_MODULES, LOSS_MODULES, LOSS_FUNCTIONS, SEQUENTIAL)


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of `body`, nested blocks included, outside nested definitions too."""
    for statement in body:
        yield statement
        for block in _inner_blocks(statement):
            yield from statements(block)


def enclosed_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Classes a module defines below its top level: inside `if __name__ == "__main__":`, a
    `try`, or a function such as `main()` (scripts do this). Only a name defined once in the
    whole module counts, so a class chosen by a branch or redefined stays unknown."""
    top_level = {
        statement.name
        for statement in tree.body
        if isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }
    found: dict[str, list[ast.ClassDef]] = {}
    for statement in tree.body:
        if not isinstance(statement, ast.ClassDef):
            _collect_enclosed_classes(_inner_blocks(statement), found)
    return [
        definitions[0]
        for name, definitions in found.items()
        if len(definitions) == 1 and name not in top_level
    ]


def _collect_enclosed_classes(
    blocks: list[list[ast.stmt]], found: dict[str, list[ast.ClassDef]]
) -> None:
    for block in blocks:
        for statement in block:
            if isinstance(statement, ast.ClassDef):
                # A class's own nested classes (`class Config:`) are not the module's.
                found.setdefault(statement.name, []).append(statement)
            else:
                _collect_enclosed_classes(_inner_blocks(statement), found)


def _inner_blocks(statement: ast.stmt) -> list[list[ast.stmt]]:
    blocks: list[list[ast.stmt]] = []
    for field_name in ("body", "orelse", "finalbody", "handlers", "cases"):
        inner = getattr(statement, field_name, None)
        if not isinstance(inner, list):
            continue
        statements_here = [item for item in inner if isinstance(item, ast.stmt)]
        if statements_here:
            blocks.append(statements_here)
        blocks.extend(
            item.body for item in inner if isinstance(item, (ast.ExceptHandler, ast.match_case))
        )
    return blocks


def might_match(source: str) -> bool:
    """Cheap token test: a file that names no activation, loss or multi-label API cannot
    produce a finding of its own (it may still read a model defined elsewhere)."""
    return any(word in source for word in TRIGGER_WORDS)
