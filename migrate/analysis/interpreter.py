"""Follow values from activations to the losses that consume them: the one interpreter
(docs/architecture.md shows where it sits).

Every expression gets a *kind* from a small lattice (`Probs`, `LogProbs`, `Mixture`,
`Criterion`, model instances, ...). Each function body is interpreted once, in statement
order, with an environment name -> kind; branches join to `UNKNOWN` unless both sides agree.
The interpretation records *events* that rules read: a loss consuming a value, a log of a
softmax, an activation without `dim`, a model being called. `UNKNOWN` is the honest default:
a finding needs a proven path.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from migrate.analysis import names
from migrate.analysis.names import ImportTable

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
FUNCTION_NODES = (ast.FunctionDef, ast.AsyncFunctionDef)

# ---------------------------------------------------------------------------------------------
# Kinds


class Kind:
    """A value kind. Instances compare by identity unless a subclass says otherwise."""

    def __repr__(self) -> str:
        return type(self).__name__


class _Unknown(Kind):
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Kind = _Unknown()


@dataclass(frozen=True, eq=False, repr=False)
class Activation:
    """Where an activation was applied, and how to take it out again."""

    op: str  # names.SOFTMAX | names.SIGMOID | names.LOG_SOFTMAX
    node: ast.AST  # what a finding points at
    path: str  # the file the nodes belong to
    function: str  # qualified name of the enclosing function ("Net.forward", "<module>")
    # The call `act(input)` to replace by `input`; None when the activation is a Sequential
    # element (then `sequential` and `element_index` say which element to drop).
    call: ast.Call | None = None
    input: ast.expr | None = None
    sequential: ast.Call | None = None
    element_index: int | None = None
    dim: ast.expr | None = None
    # Binding ids of the names the input is made of, to tell whether the input expression
    # still denotes the same value at a later point.
    input_bindings: tuple[tuple[str, int], ...] | None = None
    # The callee of a functional/method call, or the module constructor, for renames.
    callee: ast.AST | None = None

    def __repr__(self) -> str:
        return f"Activation({self.op} in {self.function})"


@dataclass(frozen=True, eq=False, repr=False)
class Probs(Kind):
    activation: Activation
    exact: bool = True  # False after `+ eps`, `.clamp(...)`: still probabilities, not removable


@dataclass(frozen=True, eq=False, repr=False)
class LogProbs(Kind):
    activation: Activation | None
    unstable: bool  # log(softmax(z)) rather than log_softmax(z)


@dataclass(frozen=True, eq=False, repr=False)
class Mixture(Kind):
    """Probabilities combined after the activation: attention mixtures, ensemble means."""

    activation: Activation


@dataclass(frozen=True, eq=False, repr=False)
class ActivationModule(Kind):
    op: str
    constructor: ast.Call
    dim: ast.expr | None


@dataclass(frozen=True, eq=False, repr=False)
class ActivationFunction(Kind):
    op: str
    reference: ast.expr


@dataclass(frozen=True, eq=False, repr=False)
class SequentialModule(Kind):
    constructor: ast.Call
    elements: tuple[Kind, ...]
    # The file the constructor is written in: a Sequential returned by a factory in another
    # file carries its activations' location with it.
    path: str


@dataclass(frozen=True, eq=False, repr=False)
class Criterion(Kind):
    loss: str  # names.CROSS_ENTROPY, ...
    node: ast.AST  # the constructor call, or the function reference
    is_function: bool


@dataclass(frozen=True, eq=False, repr=False)
class ClassReference(Kind):
    class_key: str  # "package.module.ClassName"


@dataclass(frozen=True, eq=False, repr=False)
class ModelInstance(Kind):
    class_key: str


@dataclass(frozen=True, eq=False, repr=False)
class PatchedModel(Kind):
    """A model from elsewhere (torchvision, timm) whose head was replaced by the project."""

    key: str
    activation: Activation


@dataclass(frozen=True, eq=False, repr=False)
class MethodReference(Kind):
    """`self.build_criterion`: a method of a project class, called for what it returns."""

    class_key: str
    method: str


@dataclass(frozen=True, eq=False, repr=False)
class RecordKind(Kind):
    """An instance of a plain data class, with the kinds its fields were given."""

    class_key: str
    fields: tuple[tuple[str, Kind], ...]

    def get(self, name: str) -> Kind:
        for field_name, kind in self.fields:
            if field_name == name:
                return kind
        return UNKNOWN


@dataclass(frozen=True, eq=False, repr=False)
class SelfReference(Kind):
    class_key: str


@dataclass(frozen=True, eq=False, repr=False)
class FunctionReference(Kind):
    function_key: str  # "package.module.function"


@dataclass(frozen=True, eq=False, repr=False)
class TupleKind(Kind):
    items: tuple[Kind, ...]


@dataclass(frozen=True, eq=False, repr=False)
class DictKind(Kind):
    items: tuple[tuple[str, Kind], ...]

    def get(self, key: str) -> Kind:
        for item_key, kind in self.items:
            if item_key == key:
                return kind
        return UNKNOWN


def probability_activation(kind: Kind) -> Activation | None:
    if isinstance(kind, (Probs, Mixture)):
        return kind.activation
    return None


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, eq=False, repr=False)
class LossUse:
    """A loss consumed `input_node`, whose kind is `input_kind`."""

    loss: str
    call: ast.Call
    input_node: ast.expr
    input_kind: Kind
    criterion: Criterion
    function: str
    # Binding ids visible at the loss call, to check whether an activation input is still valid.
    bindings_at_call: dict[str, int]
    target_node: ast.expr | None = None


@dataclass(frozen=True, eq=False, repr=False)
class LogOfProbs:
    """`torch.log(p)` / `p.log()` of a softmax output (MC208)."""

    call: ast.Call
    probs: Probs
    function: str
    bindings_at_call: dict[str, int]


@dataclass(frozen=True, eq=False, repr=False)
class ImplicitDim:
    """A softmax / log_softmax applied or constructed without `dim` (MC207)."""

    call: ast.Call
    op: str
    # The keyword `dim=...` is appended after this argument (or inside empty parens).
    reaches_loss: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class ModelCall:
    """`model(x)` where `model` is an instance of a project class."""

    class_key: str
    call: ast.Call
    function: str


@dataclass(frozen=True, eq=False, repr=False)
class Threshold:
    """`value > t`, `value >= t`, `torch.round(value)`, `value.round()`."""

    node: ast.expr
    value: ast.expr
    kind: Kind
    function: str


@dataclass(frozen=True, eq=False, repr=False)
class ModelEscape:
    """A model passed as an argument (`score(model, loader)`, `Wrapper(model)`)."""

    class_key: str
    call: ast.Call
    function: str
    # The project function it is passed to; its parameter may be refined from call sites.
    function_key: str | None


@dataclass(frozen=True, eq=False, repr=False)
class CallSite:
    """A call of a project function or model, with the kinds of its arguments."""

    target: str  # "module.function" or "module.Class.forward"
    is_method: bool
    positional: tuple[Kind, ...] | None
    keywords: dict[str, Kind]


@dataclass
class Binding:
    kind: Kind
    id: int


Env = dict[str, Binding]


@dataclass
class ClassInfo:
    name: str
    node: ast.ClassDef
    methods: dict[str, FunctionNode]
    attributes: dict[str, Kind] = field(default_factory=dict)
    attributes_ready: bool = False


@dataclass
class FunctionSummary:
    returns: Kind


# ---------------------------------------------------------------------------------------------
# The interpreter


class ProjectLookup(Protocol):
    """What a module's interpretation may ask of the rest of the project."""

    def flow_of(self, module_name: str) -> ModuleFlow | None: ...

    def resolve(self, qualified: str, from_module: str) -> tuple[ModuleFlow, str] | None:
        """The module defining `qualified` (a class or function of the project), and its name
        there; relative (`.model.Net`) and re-exported names included."""
        ...


class ModuleFlow:
    """Interprets one module and keeps the events for all rules.

    Function summaries are computed on demand (another module may ask for a class's forward
    before this module is interpreted); the module's own events come from `interpret()`.
    """

    def __init__(
        self,
        module: ast.Module,
        imports: ImportTable,
        path: str = "<string>",
        module_name: str = "__main__",
        project: ProjectLookup | None = None,
    ) -> None:
        self.module = module
        self.imports = imports
        self.path = path
        self.module_name = module_name
        self.project = project
        self.classes: dict[str, ClassInfo] = {}
        self.functions: dict[str, FunctionNode] = {}
        self.loss_uses: list[LossUse] = []
        self.logs_of_probs: list[LogOfProbs] = []
        self.implicit_dims: dict[int, ImplicitDim] = {}
        self.model_calls: list[ModelCall] = []
        self.call_sites: list[CallSite] = []
        # Every activation applied by a call, and every threshold decision (`p > 0.5`,
        # `torch.round(p)`), for the migration rules.
        self.activations: dict[ast.AST, Activation] = {}
        self.thresholds: list[Threshold] = []
        self.patched_models: list[PatchedModel] = []
        self.model_escapes: list[ModelEscape] = []
        # function node id -> parameter kinds agreed by every call site
        self.refinements: dict[int, dict[str, Kind]] = {}
        # binding id -> the Name nodes that read it
        self.reads: dict[int, list[ast.Name]] = {}
        # assignment target Name -> the binding it creates
        self.assignments: dict[ast.Name, int] = {}
        # Each loss call's input node, to tell a reader that feeds a loss.
        self.loss_inputs: dict[ast.AST, LossUse] = {}
        # Functions (and `Class.forward`) where an unknown parameter reaches a loss's input or
        # a log, or is called (a criterion or a model handed in): what their callers pass
        # decides, so a check must read those callers too.
        self.parameter_sites: set[str] = set()
        self._binding_ids = itertools.count(1)
        self._summaries: dict[int, FunctionSummary] = {}
        self._in_progress: set[int] = set()
        self._seen_loss_calls: set[int] = set()
        self.module_env: Env = {}
        self.function_nodes: dict[str, FunctionNode] = {}
        self._module_env_state = "pending"
        self._interpreted = False
        self._collect_definitions()

    # -- definitions ----------------------------------------------------------------------

    def _collect_definitions(self) -> None:
        for statement in self.module.body:
            if isinstance(statement, ast.ClassDef):
                methods = {
                    item.name: item for item in statement.body if isinstance(item, FUNCTION_NODES)
                }
                self.classes[statement.name] = ClassInfo(statement.name, statement, methods)
            elif isinstance(statement, FUNCTION_NODES):
                self.functions[statement.name] = statement

    def key(self, name: str) -> str:
        return f"{self.module_name}.{name}"

    def interpret(self) -> ModuleFlow:
        """Interpret every function and the module body once, recording the events."""
        if not self._interpreted:
            self._interpreted = True
            self._ensure_module_env()
            for function in self.functions.values():
                self.summary(function, None)
            for info in self.classes.values():
                self.class_attributes(info)
                for method in info.methods.values():
                    self.summary(method, info)
        return self

    def _ensure_module_env(self) -> Env:
        # Module-level code runs before any function is called, so functions see its final
        # environment; a cycle between modules sees an empty one.
        if self._module_env_state == "pending":
            self._module_env_state = "running"
            module_scope = _Scope(self, "<module>", None, {})
            self._exec_block(self.module.body, module_scope, module_scope.env)
            self.module_env = module_scope.env
            self._module_env_state = "done"
        return self.module_env

    def refined_with_model(self, function_name: str, model_key: str) -> bool:
        """Whether a parameter of `function_name` is known to hold the model `model_key`
        (annotated, or refined from call sites), so its calls of the model are followed."""
        function = self.functions.get(function_name)
        if function is None:
            return False
        kinds = list(self.refinements.get(id(function), {}).values())
        kinds += [
            self.annotation_kind(param.annotation)
            for param in _parameters(function)
            if param.annotation is not None
        ]
        return any(
            (isinstance(kind, ModelInstance) and kind.class_key == model_key)
            or (isinstance(kind, PatchedModel) and kind.key == model_key)
            for kind in kinds
        )

    def function_node(self, qualified: str) -> FunctionNode | None:
        return self.function_nodes.get(qualified)

    def new_binding(self, kind: Kind) -> Binding:
        return Binding(kind, next(self._binding_ids))

    # -- classes and functions ---------------------------------------------------------------

    def class_attributes(self, info: ClassInfo) -> dict[str, Kind]:
        if not info.attributes_ready:
            info.attributes_ready = True
            init = info.methods.get("__init__")
            if init is not None:
                self.summary(init, info)
        return info.attributes

    def summary(
        self,
        function: FunctionNode,
        owner: ClassInfo | None,
        parameters: dict[str, Kind] | None = None,
    ) -> FunctionSummary:
        """Interpret `function` once (memoized); `parameters` re-interprets it with kinds that
        every call site agrees on."""
        key = id(function)
        cached = self._summaries.get(key)
        if cached is not None and parameters is None:
            return cached
        if parameters:
            self.refinements[id(function)] = parameters
        if key in self._in_progress:
            return FunctionSummary(UNKNOWN)
        self._in_progress.add(key)
        qualified = f"{owner.name}.{function.name}" if owner else function.name
        self.function_nodes[qualified] = function
        scope = _Scope(self, qualified, owner, dict(self._ensure_module_env()))
        for param in _parameters(function):
            kind: Kind = UNKNOWN
            if owner is not None and param.name == "self":
                kind = SelfReference(self.key(owner.name))
            elif param.annotation is not None:
                kind = self.annotation_kind(param.annotation)
            elif param.default is not None:
                kind = scope.eval(param.default)
            if parameters and kind is UNKNOWN and param.name in parameters:
                kind = parameters[param.name]
            scope.env[param.name] = self.new_binding(kind)
            learnable = owner is None or function.name == "forward"
            if learnable and kind is UNKNOWN and param.name != "self":
                scope.parameter_bindings.add(scope.env[param.name].id)
        self._exec_block(function.body, scope, scope.env)
        result = FunctionSummary(_join_all(scope.returns))
        self._summaries[key] = result
        self._in_progress.discard(key)
        return result

    def annotation_kind(self, annotation: ast.expr) -> Kind:
        qualified = self.imports.qualify(annotation)
        if qualified in names.LOSS_MODULES:
            return Criterion(names.LOSS_MODULES[qualified], annotation, is_function=False)
        reference = self.global_reference(qualified)
        if isinstance(reference, ClassReference):
            return ModelInstance(reference.class_key)
        return UNKNOWN

    def global_reference(self, qualified: str | None) -> Kind:
        """A class or function of this module or, through the project, of another one."""
        if qualified is None:
            return UNKNOWN
        if qualified.startswith(names.LOCAL_PREFIX):
            local = qualified[len(names.LOCAL_PREFIX) :]
            if local in self.classes:
                return ClassReference(self.key(local))
            if local in self.functions:
                return FunctionReference(self.key(local))
            return UNKNOWN
        if self.project is None or qualified.startswith("torch"):
            return UNKNOWN
        found = self.project.resolve(qualified, self.module_name)
        if found is None:
            return UNKNOWN
        flow, name = found
        return flow.global_reference(names.LOCAL_PREFIX + name)

    def _owner_flow(self, key: str) -> tuple[ModuleFlow, str] | None:
        module_name, _, name = key.rpartition(".")
        if module_name == self.module_name:
            return self, name
        flow = self.project.flow_of(module_name) if self.project is not None else None
        return (flow, name) if flow is not None else None

    def function_returns(self, function_key: str) -> Kind:
        owner = self._owner_flow(function_key)
        if owner is None:
            return UNKNOWN
        flow, name = owner
        function = flow.functions.get(name)
        return UNKNOWN if function is None else flow.summary(function, None).returns

    def forward_kind(self, class_key: str) -> Kind:
        owner = self._owner_flow(class_key)
        if owner is None:
            return UNKNOWN
        flow, class_name = owner
        if flow is not self:
            return flow.forward_kind(class_key)
        info = self.classes.get(class_name)
        if info is None:
            return UNKNOWN
        self.class_attributes(info)
        forward = info.methods.get("forward")
        if forward is None:
            return UNKNOWN
        return self.summary(forward, info).returns

    # -- statements --------------------------------------------------------------------------

    def _exec_block(self, body: Sequence[ast.stmt], scope: _Scope, env: Env) -> None:
        for statement in body:
            self._exec_statement(statement, scope, env)

    def _exec_statement(self, statement: ast.stmt, scope: _Scope, env: Env) -> None:
        scope.env = env
        if isinstance(statement, ast.If):
            scope.eval(statement.test)
            self._exec_branches(
                [statement.body, statement.orelse] if statement.orelse else [statement.body],
                scope,
                env,
                keep_original=not statement.orelse,
            )
        elif isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
            if isinstance(statement, (ast.For, ast.AsyncFor)):
                scope.eval(statement.iter)
                scope.bind_target(statement.target, UNKNOWN)
            else:
                scope.eval(statement.test)
            branches = [statement.body]
            if statement.orelse:
                branches.append(statement.orelse)
            self._exec_branches(branches, scope, env, keep_original=True)
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                value = scope.eval(item.context_expr)
                if item.optional_vars is not None:
                    scope.bind_target(
                        item.optional_vars, value if _is_passthrough(value) else UNKNOWN
                    )
            self._exec_block(statement.body, scope, env)
        elif isinstance(statement, ast.Try):
            self._exec_block(statement.body, scope, env)
            handlers = [handler.body for handler in statement.handlers]
            if statement.orelse:
                handlers.append(statement.orelse)
            if handlers:
                self._exec_branches(handlers, scope, env, keep_original=True)
            if statement.finalbody:
                self._exec_block(statement.finalbody, scope, env)
        elif isinstance(statement, ast.ClassDef) and statement.name in self.classes:
            class_reference = ClassReference(self.key(statement.name))
            env[statement.name] = self.new_binding(class_reference)
        elif isinstance(statement, FUNCTION_NODES) and statement.name in self.functions:
            function_reference = FunctionReference(self.key(statement.name))
            env[statement.name] = self.new_binding(function_reference)
        elif isinstance(statement, (*FUNCTION_NODES, ast.ClassDef)):
            # Nested definitions are not interpreted; a name they bind becomes unknown.
            env[statement.name] = self.new_binding(UNKNOWN)
        elif isinstance(statement, ast.Assign):
            value = scope.eval(statement.value)
            for target in statement.targets:
                scope.bind_target(target, value)
        elif isinstance(statement, ast.AnnAssign):
            if statement.value is not None:
                scope.bind_target(statement.target, scope.eval(statement.value))
        elif isinstance(statement, ast.AugAssign):
            scope.eval(statement.value)
            scope.eval(statement.target)
            scope.bind_target(statement.target, UNKNOWN)
        elif isinstance(statement, ast.Expr):
            scope.eval(statement.value)
        elif isinstance(statement, ast.Return):
            scope.returns.append(
                scope.eval(statement.value) if statement.value is not None else UNKNOWN
            )
        elif isinstance(statement, (ast.Delete, ast.Assert)):
            for child in ast.iter_child_nodes(statement):
                if isinstance(child, ast.expr):
                    scope.eval(child)
        elif isinstance(statement, ast.Raise) and statement.exc is not None:
            # `raise E from cause`: the cause is not read as a value of this flow.
            scope.eval(statement.exc)
        scope.env = env

    def _exec_branches(
        self, bodies: Sequence[list[ast.stmt]], scope: _Scope, env: Env, keep_original: bool
    ) -> None:
        results: list[Env] = [dict(env)] if keep_original else []
        for body in bodies:
            branch_env = dict(env)
            self._exec_block(body, scope, branch_env)
            results.append(branch_env)
        joined = _join_envs(results, self)
        env.clear()
        env.update(joined)
        scope.env = env

    # -- recording ---------------------------------------------------------------------------

    def record_model_call(self, model_call: ModelCall) -> None:
        # Interpreting a function again (refined parameters) meets the same calls again.
        if all(known.call is not model_call.call for known in self.model_calls):
            self.model_calls.append(model_call)

    def record_loss(self, use: LossUse) -> None:
        if id(use.call) in self._seen_loss_calls:
            # A second interpretation (parameters refined from their call sites) may know more.
            for index, known in enumerate(self.loss_uses):
                if known.call is use.call and known.input_kind is UNKNOWN:
                    self.loss_uses[index] = use
                    self.loss_inputs[use.input_node] = use
            return
        self._seen_loss_calls.add(id(use.call))
        self.loss_uses.append(use)
        self.loss_inputs[use.input_node] = use
        kind = use.input_kind
        activation = probability_activation(kind)
        if activation is None and isinstance(kind, LogProbs):
            activation = kind.activation
        if activation is None:
            return
        # The call that applied it, or the `nn.Softmax()` constructor it came from.
        for node in (activation.node, activation.callee):
            noted = self.implicit_dims.get(id(node)) if node is not None else None
            if noted is not None:
                self.implicit_dims[id(node)] = ImplicitDim(noted.call, noted.op, reaches_loss=True)


class _Scope:
    """The state of one function's interpretation."""

    def __init__(self, flow: ModuleFlow, name: str, owner: ClassInfo | None, env: Env) -> None:
        self.flow = flow
        self.name = name
        self.owner = owner
        self.env = env
        self.returns: list[Kind] = []
        self._argument_cache: dict[int, Kind] = {}
        # Binding ids of the parameters that call sites may teach (see `parameter_sites`).
        self.parameter_bindings: set[int] = set()

    # -- binding -----------------------------------------------------------------------------

    def bind_target(self, target: ast.expr, value: Kind) -> None:
        if isinstance(target, ast.Name):
            binding = self.flow.new_binding(value)
            self.env[target.id] = binding
            self.flow.assignments[target] = binding.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            elements = [
                element.value if isinstance(element, ast.Starred) else element
                for element in target.elts
            ]
            starred = any(isinstance(element, ast.Starred) for element in target.elts)
            items = value.items if isinstance(value, TupleKind) else None
            for index, element in enumerate(elements):
                item: Kind = UNKNOWN
                if items is not None and not starred and len(items) == len(elements):
                    item = items[index]
                self.bind_target(element, item)
        elif isinstance(target, ast.Attribute):
            self.eval(target.value)
            base = self.eval_quiet(target.value)
            if isinstance(base, SelfReference) and self.owner is not None:
                # Only `__init__` defines what an attribute holds; elsewhere it becomes unknown.
                if self.name.endswith(".__init__") and target.attr not in self.owner.attributes:
                    self.owner.attributes[target.attr] = value
                else:
                    self.owner.attributes[target.attr] = UNKNOWN
            elif isinstance(target.value, ast.Name) and target.attr in _HEAD_ATTRIBUTES:
                self._patch_head(target.value, target.attr, value)
        elif isinstance(target, ast.Subscript):
            self.eval(target)

    # -- expressions -------------------------------------------------------------------------

    def _patch_head(self, model: ast.Name, attribute: str, head: Kind) -> None:
        """`model.fc = nn.Sequential(nn.Linear(n, C), nn.Sigmoid())` on a pretrained backbone:
        the model's output is now the head's activation. The backbone may be a library's
        (unknown here) or the project's own class: the new head ends either."""
        binding = self.env.get(model.id)
        if binding is None or not isinstance(head, SequentialModule) or not head.elements:
            return
        if binding.kind is not UNKNOWN and not isinstance(
            binding.kind, (PatchedModel, ModelInstance)
        ):
            return
        last = head.elements[-1]
        if not isinstance(last, ActivationModule):
            return
        activation = Activation(
            op=last.op,
            node=last.constructor,
            path=self.flow.path,
            function=self.name,
            sequential=head.constructor,
            element_index=len(head.elements) - 1,
            dim=last.dim,
            callee=last.constructor.func,
        )
        key = f"{self.flow.module_name}.<{model.id}.{attribute} in {self.name}>"
        patched = PatchedModel(key, activation)
        self.flow.patched_models.append(patched)
        self.env[model.id] = Binding(patched, binding.id)

    def eval_quiet(self, node: ast.expr) -> Kind:
        """The kind of a simple name or attribute, without recording a read."""
        if isinstance(node, ast.Name):
            binding = self.env.get(node.id)
            return binding.kind if binding else self._global_kind(node)
        return UNKNOWN

    def eval(self, node: ast.expr) -> Kind:
        if isinstance(node, ast.Name):
            binding = self.env.get(node.id)
            if binding is not None:
                self.flow.reads.setdefault(binding.id, []).append(node)
                return binding.kind
            return self._global_kind(node)
        if isinstance(node, ast.Attribute):
            return self._eval_attribute(node)
        if isinstance(node, ast.Call):
            return self._eval_call(node)
        if isinstance(node, ast.Tuple):
            return TupleKind(
                tuple(
                    self.eval(element.value if isinstance(element, ast.Starred) else element)
                    for element in node.elts
                )
            )
        if isinstance(node, ast.Dict):
            return self._eval_dict(node)
        if isinstance(node, ast.Subscript):
            return self._eval_subscript(node)
        if isinstance(node, ast.BinOp):
            return self._eval_binary(node)
        if isinstance(node, ast.Lambda):
            self._eval_children(node.body)
            return UNKNOWN
        if isinstance(node, ast.Compare):
            return self._eval_comparison(node)
        return self._eval_children(node)

    def _eval_comparison(self, node: ast.Compare) -> Kind:
        left = self.eval(node.left)
        for comparator in node.comparators:
            self.eval(comparator)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Gt, ast.GtE)):
            self.flow.thresholds.append(Threshold(node, node.left, left, self.name))
        return UNKNOWN

    def _eval_children(self, node: ast.AST) -> Kind:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.eval(child)
            else:
                self._eval_children(child)
        return UNKNOWN

    def _global_kind(self, node: ast.expr) -> Kind:
        qualified = self.flow.imports.qualify(node)
        if qualified is None:
            return UNKNOWN
        if qualified in names.LOSS_FUNCTIONS:
            return Criterion(names.LOSS_FUNCTIONS[qualified], node, is_function=True)
        if qualified in names.ACTIVATION_FUNCTIONS:
            return ActivationFunction(names.ACTIVATION_FUNCTIONS[qualified], node)
        return self.flow.global_reference(qualified)

    def _eval_attribute(self, node: ast.Attribute) -> Kind:
        qualified = self.flow.imports.qualify(node)
        if qualified is not None:
            return self._global_kind(node)
        base = self.eval(node.value)
        if isinstance(base, SelfReference):
            return self._self_attribute(base, node.attr)
        if isinstance(base, RecordKind):
            return base.get(node.attr)
        return UNKNOWN

    def _self_attribute(self, reference: SelfReference, attribute: str) -> Kind:
        if attribute == "forward":
            return reference
        owner = self.flow._owner_flow(reference.class_key)
        info = owner[0].classes.get(owner[1]) if owner is not None else None
        if info is None:
            return UNKNOWN
        attributes = self.flow.class_attributes(info)
        if attribute not in attributes and attribute in info.methods:
            return MethodReference(reference.class_key, attribute)
        return attributes.get(attribute, UNKNOWN)

    def _eval_dict(self, node: ast.Dict) -> Kind:
        items: list[tuple[str, Kind]] = []
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is not None:
                self.eval(key_node)
                value = self.eval(value_node)
                key = _string_value(key_node)
                if key is not None:
                    items.append((key, value))
            else:
                self.eval(value_node)
        return DictKind(tuple(items))

    def _eval_subscript(self, node: ast.Subscript) -> Kind:
        base = self.eval(node.value)
        index = node.slice
        self.eval(index)
        if isinstance(index, (ast.Tuple, ast.Slice)):
            return UNKNOWN
        if isinstance(base, TupleKind) and _integer(index) is not None:
            position = _integer(index)
            assert position is not None
            if position < len(base.items):
                return base.items[position]
        if isinstance(base, TupleKind) and isinstance(index, ast.UnaryOp):
            negated = _integer(index.operand)
            if isinstance(index.op, ast.USub) and negated is not None:
                position = len(base.items) - negated
                if 0 <= position < len(base.items):
                    return base.items[position]
        if isinstance(base, DictKind):
            key = _string_value(index)
            if key is not None:
                return base.get(key)
        if isinstance(base, (Probs, LogProbs)) and isinstance(index, (ast.Name, ast.Attribute)):
            # `out[mask]`, `out[idx]`: a selection of rows keeps what each row holds.
            return base
        return UNKNOWN

    def _eval_binary(self, node: ast.BinOp) -> Kind:
        left = self.eval(node.left)
        right = self.eval(node.right)
        left_act = probability_activation(left)
        right_act = probability_activation(right)
        if left_act is None and right_act is None:
            return UNKNOWN
        activation = left_act or right_act
        assert activation is not None
        if isinstance(node.op, ast.MatMult):
            return Mixture(activation)
        if isinstance(node.op, ast.Add) and (left_act is None or right_act is None):
            # `p + eps`: still probabilities, but the softmax can no longer be removed.
            probs = left if left_act is not None else right
            other = right if left_act is not None else left
            if isinstance(probs, Probs) and other is UNKNOWN:
                return Probs(probs.activation, exact=False)
        return Mixture(activation)

    # -- calls -------------------------------------------------------------------------------

    def _eval_call(self, node: ast.Call) -> Kind:
        func = node.func
        qualified = self.flow.imports.qualify(func)
        if qualified is not None:
            result = self._eval_qualified_call(node, qualified)
            if result is not None:
                return result
        if isinstance(func, ast.Attribute) and qualified is None:
            method = func.attr
            receiver = self.eval(func.value)
            if isinstance(receiver, SelfReference):
                # `self.act(x)`, `self.criterion(p, y)`: what `__init__` stored there.
                return self._apply(node, self._self_attribute(receiver, method))
            return self._eval_method(node, method, receiver)
        if isinstance(func, ast.Name):
            self._note_parameter_site(func)
        callee = self.eval(func)
        return self._apply(node, callee)

    def _eval_qualified_call(self, node: ast.Call, qualified: str) -> Kind | None:
        if qualified in names.ACTIVATION_FUNCTIONS:
            op = names.ACTIVATION_FUNCTIONS[qualified]
            return self._activation_call(node, op, _argument(node, 0, "input"), node.func, 1)
        if qualified in names.ACTIVATION_MODULES:
            self._eval_arguments(node)
            op = names.ACTIVATION_MODULES[qualified]
            dim = _argument(node, 0, "dim")
            if op != names.SIGMOID and dim is None:
                self._note_implicit_dim(node, op)
            return ActivationModule(op, node, dim)
        if qualified in names.SEQUENTIAL:
            elements = tuple(self.eval(_unstarred(arg)) for arg in node.args)
            return SequentialModule(node, elements, self.flow.path)
        if qualified in names.LOSS_MODULES:
            self._eval_arguments(node)
            return Criterion(names.LOSS_MODULES[qualified], node, is_function=False)
        if qualified in names.LOSS_FUNCTIONS:
            criterion = Criterion(names.LOSS_FUNCTIONS[qualified], node.func, is_function=True)
            return self._loss_call(node, criterion)
        if qualified in _MODULE_WRAPPERS:
            wrapped = _argument(node, 0, "module")
            kinds = self._argument_kinds(node)
            if wrapped is not None and kinds[0]:
                first = kinds[0][0]
                return first if isinstance(first, (ModelInstance, PatchedModel)) else UNKNOWN
            return UNKNOWN
        if qualified == "torch.round":
            argument = _argument(node, 0, "input")
            kinds = self._argument_kinds(node)
            if argument is not None and kinds[0]:
                self.flow.thresholds.append(Threshold(node, argument, kinds[0][0], self.name))
            return UNKNOWN
        if qualified in names.LOG_FUNCTIONS:
            argument = _argument(node, 0, "input")
            self._note_parameter_site(argument)
            self._eval_arguments(node, skip=argument)
            return self._log_of(node, self.eval(argument) if argument is not None else UNKNOWN)
        return None

    def _eval_method(self, node: ast.Call, method: str, receiver: Kind) -> Kind:
        if method in names.ACTIVATION_METHODS and not isinstance(receiver, (SelfReference,)):
            func = node.func
            assert isinstance(func, ast.Attribute)
            op = names.ACTIVATION_METHODS[method]
            self._eval_arguments(node)
            return self._make_activation(node, op, func.value, func, _argument(node, 0, "dim"))
        positional, keywords = self._argument_kinds(node)
        if method not in _FRAMEWORK_METHODS:
            self._note_model_escape(node, positional, keywords, None)
        if method == "log":
            assert isinstance(node.func, ast.Attribute)
            self._note_parameter_site(node.func.value)
            return self._log_of(node, receiver)
        if method == "round" and not node.args and not node.keywords:
            func = node.func
            assert isinstance(func, ast.Attribute)
            self.flow.thresholds.append(Threshold(node, func.value, receiver, self.name))
        if method == "forward":
            callee = receiver
            if isinstance(callee, (ModelInstance, SelfReference)):
                return self._apply(node, callee, already_evaluated=True)
        if isinstance(receiver, (Probs, LogProbs)) and method in _PASSTHROUGH_METHODS:
            return receiver
        if isinstance(receiver, Probs):
            if method in ("clamp", "clamp_min", "clip"):
                return Probs(receiver.activation, exact=False)
            if method in ("mean", "sum", "prod"):
                return Mixture(receiver.activation)
        if isinstance(
            receiver, (Criterion, ActivationModule, SequentialModule, ModelInstance, PatchedModel)
        ):
            if method in _MODULE_PASSTHROUGH_METHODS:
                return receiver
        return UNKNOWN

    def _apply(self, node: ast.Call, callee: Kind, already_evaluated: bool = False) -> Kind:
        if isinstance(callee, ActivationModule):
            argument = _argument(node, 0, "input")
            return self._make_activation_from_call(node, callee.op, argument, callee)
        if isinstance(callee, ActivationFunction):
            return self._activation_call(node, callee.op, _argument(node, 0, "input"), node.func, 1)
        if isinstance(callee, Criterion):
            return self._loss_call(node, callee)
        if isinstance(callee, SequentialModule):
            argument = _argument(node, 0, "input")
            current = self.eval(argument) if argument is not None else UNKNOWN
            self._eval_arguments(node, skip=argument)
            return self._apply_sequential(callee, current, node)
        if not already_evaluated:
            positional, keywords = self._argument_kinds(node)
            if not _reads_nothing(node.func):
                target = callee.function_key if isinstance(callee, FunctionReference) else None
                self._note_model_escape(node, positional, keywords, target)
            if isinstance(callee, FunctionReference):
                self.flow.call_sites.append(
                    CallSite(callee.function_key, False, positional, keywords)
                )
            elif isinstance(callee, ModelInstance):
                self.flow.call_sites.append(
                    CallSite(callee.class_key + ".forward", True, positional, keywords)
                )
        if isinstance(callee, ClassReference):
            record = self._record(callee, node)
            return record if record is not None else ModelInstance(callee.class_key)
        if isinstance(callee, MethodReference):
            owner = self.flow._owner_flow(callee.class_key)
            info = owner[0].classes.get(owner[1]) if owner is not None else None
            method = info.methods.get(callee.method) if info is not None else None
            if owner is None or info is None or method is None:
                return UNKNOWN
            return owner[0].summary(method, info).returns
        if isinstance(callee, (ModelInstance, SelfReference)):
            self.flow.record_model_call(ModelCall(callee.class_key, node, self.name))
            return self.flow.forward_kind(callee.class_key)
        if isinstance(callee, PatchedModel):
            self.flow.record_model_call(ModelCall(callee.key, node, self.name))
            return _apply_op(callee.activation.op, callee.activation, UNKNOWN)
        if isinstance(callee, FunctionReference):
            return self.flow.function_returns(callee.function_key)
        return UNKNOWN

    def _record(self, reference: ClassReference, node: ast.Call) -> Kind | None:
        """A plain data class (no `forward`): its fields keep the kinds they were given, so
        `Output(logits=softmax(z)).logits` is still the softmax."""
        owner = self.flow._owner_flow(reference.class_key)
        info = owner[0].classes.get(owner[1]) if owner is not None else None
        if info is None or "forward" in info.methods or "__call__" in info.methods:
            return None
        fields = [
            item.target.id
            for item in info.node.body
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
        ]
        if not fields:
            return None
        values: list[tuple[str, Kind]] = []
        positional = 0
        for arg in names.source_order_arguments(node):
            if isinstance(arg, ast.Starred) or (isinstance(arg, ast.keyword) and arg.arg is None):
                return None
            if isinstance(arg, ast.keyword):
                assert arg.arg is not None
                values.append((arg.arg, self.evaluated_argument(arg.value)))
            elif positional < len(fields):
                values.append((fields[positional], self.evaluated_argument(arg)))
                positional += 1
        return RecordKind(reference.class_key, tuple(values))

    def evaluated_argument(self, node: ast.expr) -> Kind:
        """The kind of an argument already evaluated by the caller (its reads are counted)."""
        return self._argument_cache.get(id(node), UNKNOWN)

    def _note_model_escape(
        self,
        node: ast.Call,
        positional: tuple[Kind, ...] | None,
        keywords: dict[str, Kind],
        function_key: str | None,
    ) -> None:
        """A model handed to code whose use of it is not followed: a wrapper, a helper with
        unrefined parameters, a library. A fix that changes the model's output must then
        refuse, since a reader may hide there."""
        kinds = [*(positional or ()), *keywords.values()]
        for kind in kinds:
            if isinstance(kind, (ModelInstance, PatchedModel)):
                key = kind.class_key if isinstance(kind, ModelInstance) else kind.key
                self.flow.model_escapes.append(ModelEscape(key, node, self.name, function_key))

    def _argument_kinds(self, node: ast.Call) -> tuple[tuple[Kind, ...] | None, dict[str, Kind]]:
        """The kinds of a call's arguments; positional None when `*args` hides positions."""
        positional: list[Kind] = []
        keywords: dict[str, Kind] = {}
        starred = False
        for arg in names.source_order_arguments(node):
            value = arg.value if isinstance(arg, (ast.keyword, ast.Starred)) else arg
            kind = self.eval(value)
            self._argument_cache[id(value)] = kind
            if isinstance(arg, ast.Starred) or (isinstance(arg, ast.keyword) and arg.arg is None):
                starred = True
            elif isinstance(arg, ast.keyword):
                assert arg.arg is not None
                keywords[arg.arg] = kind
            else:
                positional.append(kind)
        return (None if starred else tuple(positional)), keywords

    def _apply_sequential(
        self, sequential: SequentialModule, current: Kind, call: ast.Call
    ) -> Kind:
        for index, element in enumerate(sequential.elements):
            if isinstance(element, ActivationModule):
                activation = Activation(
                    op=element.op,
                    node=element.constructor,
                    path=sequential.path,
                    function=self.name,
                    sequential=sequential.constructor,
                    element_index=index,
                    dim=element.dim,
                    callee=element.constructor.func,
                )
                current = _apply_op(element.op, activation, current)
            elif isinstance(element, SequentialModule):
                current = self._apply_sequential(element, current, call)
            else:
                current = UNKNOWN
        return current

    def _eval_arguments(self, node: ast.Call, skip: ast.expr | None = None) -> None:
        for arg in names.source_order_arguments(node):
            value = arg.value if isinstance(arg, (ast.keyword, ast.Starred)) else arg
            if value is not skip:
                self.eval(value)

    def _activation_call(
        self,
        node: ast.Call,
        op: str,
        argument: ast.expr | None,
        callee: ast.AST,
        dim_position: int,
    ) -> Kind:
        self._eval_arguments(node, skip=argument)
        dim = _argument(node, dim_position, "dim")
        if op != names.SIGMOID and dim is None:
            self._note_implicit_dim(node, op)
        if argument is None:
            return UNKNOWN
        return self._make_activation(node, op, argument, callee, dim)

    def _make_activation(
        self,
        node: ast.Call,
        op: str,
        argument: ast.expr,
        callee: ast.AST,
        dim: ast.expr | None,
    ) -> Kind:
        input_kind = self.eval(argument)
        activation = Activation(
            op=op,
            node=node,
            path=self.flow.path,
            function=self.name,
            call=node,
            input=argument,
            dim=dim,
            input_bindings=self._bindings_of(argument),
            callee=callee,
        )
        self.flow.activations[node] = activation
        return _apply_op(op, activation, input_kind)

    def _make_activation_from_call(
        self,
        node: ast.Call,
        op: str,
        argument: ast.expr | None,
        module: ActivationModule,
    ) -> Kind:
        if argument is None:
            self._eval_arguments(node)
            return UNKNOWN
        self._eval_arguments(node, skip=argument)
        return self._make_activation(node, op, argument, module.constructor, module.dim)

    def _bindings_of(self, expression: ast.expr) -> tuple[tuple[str, int], ...] | None:
        """The names a simple expression (`z`, `out.logits`) is made of, with their bindings."""
        base: ast.expr = expression
        while isinstance(base, ast.Attribute):
            base = base.value
        if not isinstance(base, ast.Name):
            return None
        binding = self.env.get(base.id)
        # 0: a global or builtin not bound in this scope; it stays 0 until assigned here.
        return ((base.id, binding.id if binding is not None else 0),)

    def _from_parameter(self, expression: ast.expr | None) -> bool:
        """Whether the expression is (an attribute or item of) an unknown parameter."""
        base = expression
        while isinstance(base, (ast.Attribute, ast.Subscript, ast.Starred)):
            base = base.value
        if not isinstance(base, ast.Name) or not self.parameter_bindings:
            return False
        binding = self.env.get(base.id)
        return binding is not None and binding.id in self.parameter_bindings

    def _note_parameter_site(self, expression: ast.expr | None) -> None:
        if self._from_parameter(expression):
            self.flow.parameter_sites.add(self.name)

    def _loss_call(self, node: ast.Call, criterion: Criterion) -> Kind:
        argument = _argument(node, 0, "input")
        self._note_parameter_site(argument)
        input_kind = self.eval(argument) if argument is not None else UNKNOWN
        self._eval_arguments(node, skip=argument)
        if argument is not None:
            bindings = {name: binding.id for name, binding in self.env.items()}
            target = _argument(node, 1, "target")
            self.flow.record_loss(
                LossUse(
                    criterion.loss,
                    node,
                    argument,
                    input_kind,
                    criterion,
                    self.name,
                    bindings,
                    target,
                )
            )
        return UNKNOWN

    def _log_of(self, node: ast.Call, value: Kind) -> Kind:
        if isinstance(value, Probs) and value.activation.op == names.SOFTMAX:
            bindings = {name: binding.id for name, binding in self.env.items()}
            self.flow.logs_of_probs.append(LogOfProbs(node, value, self.name, bindings))
            return LogProbs(value.activation, unstable=True)
        if isinstance(value, Mixture):
            return LogProbs(None, unstable=False)
        return UNKNOWN

    def _note_implicit_dim(self, node: ast.Call, op: str) -> None:
        self.flow.implicit_dims.setdefault(id(node), ImplicitDim(node, op))


# Module methods that return the module itself (`model = Net().to(device)`).
_MODULE_PASSTHROUGH_METHODS = frozenset(
    {"to", "cuda", "cpu", "double", "float", "half", "train", "eval", "requires_grad_", "type"}
)
# Wrappers whose call behaves like the wrapped module's.
_MODULE_WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.compile",
    }
)

# Methods that take a model and only run its own methods, which are analyzed (Lightning's
# Trainer), or only save or count it.
_FRAMEWORK_METHODS = frozenset(
    {
        "fit",
        "validate",
        "test",
        "predict",
        "tune",
        "save",
        "add_module",
        "register_module",
        "watch",
        "log_graph",
        "append",
    }
)
# Builtins and functions that read no model output.
_NON_READERS = frozenset(
    {
        "print",
        "len",
        "isinstance",
        "id",
        "type",
        "str",
        "repr",
        "hasattr",
        "getattr",
        "setattr",
        "sum",
        "list",
        "vars",
        "dir",
    }
)


def _reads_nothing(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in _NON_READERS
    dotted = names.dotted_name(func)
    return dotted in ("torch.save", "torch.jit.save", "torch.onnx.export")


# Attributes that hold a pretrained model's final layer.
_HEAD_ATTRIBUTES = frozenset({"fc", "classifier", "head"})

_PASSTHROUGH_METHODS = frozenset(
    {
        "float",
        "double",
        "half",
        "to",
        "cuda",
        "cpu",
        "contiguous",
        "view",
        "reshape",
        "squeeze",
        "unsqueeze",
        "flatten",
        "type",
        "type_as",
        "view_as",
        "reshape_as",
    }
)


def _apply_op(op: str, activation: Activation, input_kind: Kind) -> Kind:
    if op == names.LOG_SOFTMAX:
        return LogProbs(activation, unstable=False)
    return Probs(activation)


def _is_passthrough(kind: Kind) -> bool:
    return isinstance(kind, (Criterion, ModelInstance))


_argument = names.call_argument


def _unstarred(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Starred) else node


def _string_value(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _integer(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: ast.expr | None
    default: ast.expr | None


def _parameters(function: FunctionNode) -> Iterator[Parameter]:
    """Named parameters (not `*args`/`**kwargs`) with their annotations and defaults."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    for index, parameter in enumerate(positional):
        default = arguments.defaults[index - first_default] if index >= first_default else None
        yield Parameter(parameter.arg, parameter.annotation, default)
    for parameter, keyword_default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        yield Parameter(parameter.arg, parameter.annotation, keyword_default)


def _join_all(kinds: list[Kind]) -> Kind:
    if not kinds:
        return UNKNOWN
    first = kinds[0]
    if all(kind is first for kind in kinds):
        return first
    return UNKNOWN


def _join_envs(envs: list[Env], flow: ModuleFlow) -> Env:
    """The names bound on every path; a name whose paths bound it differently gets a new
    binding, of their kind when they agree on it, else UNKNOWN."""
    if not envs:
        return {}
    first, others = envs[0], envs[1:]
    joined: Env = {}
    for name, binding in first.items():
        same_binding = same_kind = True
        for env in others:
            other = env.get(name)
            if other is None:
                break
            if other is not binding and other.id != binding.id:
                same_binding = False
                same_kind = same_kind and other.kind is binding.kind
        else:
            if same_binding:
                joined[name] = binding
            else:
                joined[name] = flow.new_binding(binding.kind if same_kind else UNKNOWN)
    return joined


# Kinds worth carrying from call sites into a function's parameters.
_PROPAGATED = (
    Criterion,
    ModelInstance,
    PatchedModel,
    Probs,
    LogProbs,
    Mixture,
    TupleKind,
    DictKind,
    RecordKind,
)


def refine_parameters(flows: list[ModuleFlow]) -> None:
    """Parameters are UNKNOWN unless annotated; where every call site in the analyzed files
    passes the same kind (a criterion, a model, a model's output), interpret the function
    again with that kind. One round, so the cost stays bounded."""
    sites: dict[str, list[CallSite]] = {}
    for flow in flows:
        for site in flow.call_sites:
            sites.setdefault(site.target, []).append(site)
    by_module = {flow.module_name: flow for flow in flows}
    for target, calls in sites.items():
        module_name, _, rest = target.rpartition(".")
        is_method = calls[0].is_method
        if is_method:
            module_name, _, class_name = module_name.rpartition(".")
        target_flow = by_module.get(module_name)
        if target_flow is None:
            continue
        owner = target_flow.classes.get(class_name) if is_method else None
        function = owner.methods.get(rest) if owner is not None else target_flow.functions.get(rest)
        if function is None or (is_method and owner is None):
            continue
        agreed = _agreed_parameters(function, calls, is_method)
        if agreed:
            target_flow.summary(function, owner, agreed)


def _agreed_parameters(
    function: FunctionNode, calls: list[CallSite], is_method: bool
) -> dict[str, Kind]:
    params = [*function.args.posonlyargs, *function.args.args]
    if is_method:
        params = params[1:]
    agreed: dict[str, Kind] = {}
    for position, param in enumerate(params):
        name = param.arg
        kinds: list[Kind] = []
        for call in calls:
            if call.positional is None:
                return {}
            if position < len(call.positional):
                kinds.append(call.positional[position])
            elif name in call.keywords:
                kinds.append(call.keywords[name])
            else:
                kinds.append(UNKNOWN)
        first = kinds[0]
        if isinstance(first, _PROPAGATED) and all(kind is first for kind in kinds):
            agreed[name] = first
    return agreed
