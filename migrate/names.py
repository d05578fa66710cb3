"""Resolve spellings to qualified names through a module's imports, and name the torch API.

`nn.Softmax`, `torch.nn.Softmax` and `from torch.nn import Softmax as S; S` all resolve to
`torch.nn.Softmax`; a class the module defines itself shadows any import of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst

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


def dotted_name(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a chain of names and attributes; None for anything else."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


class ImportTable:
    """Local name -> qualified name, from every import in the module, and local definitions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    @classmethod
    def of_module(cls, module: cst.Module) -> ImportTable:
        table = cls()
        collector = _ImportCollector(table)
        # Imports are statements: walking statement bodies finds them all without visiting
        # every expression node (a full libcst visit costs more than the parse).
        for statement in _statements(module.body):
            for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
                if isinstance(small, cst.Import):
                    collector.visit_Import(small)
                elif isinstance(small, cst.ImportFrom):
                    collector.visit_ImportFrom(small)
        # A class or function the module defines itself shadows an import of the same name:
        # a project's own `CrossEntropyLoss` is not torch's.
        for statement in module.body:
            if isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                table.names[statement.name.value] = LOCAL_PREFIX + statement.name.value
        return table

    def qualify(self, node: cst.BaseExpression) -> str | None:
        dotted = dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        resolved = self.names.get(head)
        if resolved is None:
            return None
        return f"{resolved}.{rest}" if rest else resolved


def _statements(body: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    for statement in body:
        yield statement
        for child in statement.children:
            if isinstance(child, (cst.IndentedBlock, cst.Else, cst.Finally, cst.ExceptHandler)):
                yield from _statements(_inner_body(child))
            elif isinstance(child, (cst.If,)):  # elif
                yield from _statements([child])
        handlers = getattr(statement, "handlers", ())
        for handler in handlers:
            yield from _statements(_inner_body(handler))


def _inner_body(node: cst.CSTNode) -> Sequence[cst.CSTNode]:
    body = getattr(node, "body", ())
    if isinstance(body, cst.BaseSuite):
        return _inner_body(body)
    return body if isinstance(body, Sequence) else ()


class _ImportCollector:
    def __init__(self, table: ImportTable) -> None:
        self.table = table

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.table.names[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                self.table.names[head] = head

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = "." * len(node.relative) + (dotted_name(node.module) or "" if node.module else "")
        for alias in node.names:
            name = dotted_name(alias.name)
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.table.names[local] = f"{module}.{name}"
