"""What rules may ask of the analysis: the one door into it, read-only.

A rule (and the fix planners in `migrate/fixing/`) receives a `ModuleQueries` for the module
it checks and reads the interpreted flow through `FlowQueries`: what feeds each loss, which
activation produced it, who calls a model, which thresholds decide on what, which names are
read where. Every collection is typed read-only, so a rule cannot change what another rule
sees; the objects behind them are the analysis's own (no copies, no cost).

Rules import from the analysis only this module (`tests/test_architecture.py` holds them to
it).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Protocol

from migrate.analysis import names
from migrate.analysis.interpreter import (
    UNKNOWN,
    Activation,
    ActivationModule,
    ClassInfo,
    Criterion,
    DictKind,
    FunctionNode,
    ImplicitDim,
    Kind,
    LogOfProbs,
    LogProbs,
    LossUse,
    Mixture,
    ModelCall,
    ModelEscape,
    ModelInstance,
    PatchedModel,
    Probs,
    SequentialModule,
    Threshold,
    TupleKind,
    probability_activation,
)
from migrate.analysis.names import ImportTable
from migrate.findings import Edit, Span

__all__ = [
    "UNKNOWN",
    "Activation",
    "ActivationModule",
    "ClassInfo",
    "Criterion",
    "DictKind",
    "FlowQueries",
    "FunctionNode",
    "ImplicitDim",
    "Kind",
    "LogOfProbs",
    "LogProbs",
    "LossUse",
    "Mixture",
    "ModelCall",
    "ModelEscape",
    "ModelInstance",
    "ModuleQueries",
    "PatchedModel",
    "Probs",
    "ProjectQueries",
    "SequentialModule",
    "Threshold",
    "TupleKind",
    "names",
    "probability_activation",
]


class FlowQueries(Protocol):
    """The interpreted flow of one module."""

    @property
    def module_name(self) -> str: ...
    @property
    def loss_uses(self) -> Sequence[LossUse]:
        """Every loss call, with the kind of its input and the criterion that computed it."""

    @property
    def loss_inputs(self) -> Mapping[ast.AST, LossUse]:
        """Each loss call's input expression, to tell a reader that feeds a loss."""

    @property
    def activations(self) -> Mapping[ast.AST, Activation]:
        """Every activation applied by a call."""

    @property
    def logs_of_probs(self) -> Sequence[LogOfProbs]: ...
    @property
    def implicit_dims(self) -> Mapping[int, ImplicitDim]: ...
    @property
    def thresholds(self) -> Sequence[Threshold]: ...
    @property
    def model_calls(self) -> Sequence[ModelCall]:
        """`model(x)` where `model` is an instance of a project class."""

    @property
    def model_escapes(self) -> Sequence[ModelEscape]:
        """A model handed to code whose use of it is not followed."""

    @property
    def patched_models(self) -> Sequence[PatchedModel]: ...
    @property
    def reads(self) -> Mapping[int, Sequence[ast.Name]]:
        """Binding id -> the names that read it."""

    @property
    def assignments(self) -> Mapping[ast.Name, int]:
        """Assignment target -> the binding it creates."""

    @property
    def classes(self) -> Mapping[str, ClassInfo]: ...
    @property
    def function_nodes(self) -> Mapping[str, FunctionNode]: ...

    def key(self, name: str) -> str: ...
    def function_node(self, qualified: str) -> FunctionNode | None: ...
    def refined_with_model(self, function_name: str, model_key: str) -> bool: ...
    def forward_kind(self, class_key: str) -> Kind: ...


class ProjectQueries(Protocol):
    """The other modules of the run."""

    @property
    def by_path(self) -> Mapping[str, ModuleQueries]: ...

    def flow_of(self, module_name: str) -> FlowQueries | None: ...
    def load_importers(self, module_name: str) -> None:
        """Make every module that imports `module_name` (a few imports back) visible in
        `by_path`, reading those outside the run's selection."""

    def resolve(self, qualified: str, from_module: str) -> tuple[FlowQueries, str] | None: ...


class ModuleQueries(Protocol):
    """One module as the rules see it: its text, tree, imports and flow, and the helpers
    that turn tree positions into text edits."""

    @property
    def path(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def module_name(self) -> str: ...
    @property
    def tree(self) -> ast.Module: ...
    @property
    def imports(self) -> ImportTable: ...
    @property
    def flow(self) -> FlowQueries: ...
    @property
    def uninterpreted_flow(self) -> FlowQueries:
        """The flow's definitions (classes, keys) without interpreting the module yet."""

    @property
    def parents(self) -> Mapping[ast.AST, ast.AST]: ...
    @property
    def project(self) -> ProjectQueries | None: ...
    @property
    def data_dependent_fixes(self) -> bool: ...

    def facts_for(self, path: str) -> ModuleQueries | None: ...
    def contains(self, ancestor: ast.AST, node: ast.AST) -> bool: ...
    def statement_of(self, node: ast.AST) -> ast.stmt: ...
    def is_only_statement_on_line(self, statement: ast.stmt) -> bool: ...
    def span(self, node: object) -> Span: ...
    def offsets(self, node: ast.AST) -> tuple[int, int]: ...
    def has_parentheses(self, node: ast.AST) -> bool: ...
    def offsets_with_parentheses(self, node: ast.AST) -> tuple[int, int]: ...
    def attribute_name_offsets(self, node: ast.Attribute) -> tuple[int, int]: ...
    def replace_attribute_name(self, node: ast.Attribute, replacement: str) -> Edit: ...
    def code(self, node: ast.AST) -> str: ...
    def replace(self, node: ast.AST, replacement: str) -> Edit: ...
    def insert_at(self, offset: int, text: str) -> Edit: ...
    def line_offset(self, line: int) -> int: ...
    def line_text(self, line: int) -> str: ...
