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
import builtins
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol

from migrate.analysis import names
from migrate.analysis.names import ImportTable, enclosed_classes

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
    exact: bool = (
        True  # False after `+ eps`, `.clamp(...)`, `[:n]`: still probabilities, not removable
    )
    # Kept away from 0 by `+ eps` or a clamp: its log is finite (MC208 says so).
    shifted: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class LogProbs(Kind):
    activation: Activation | None
    unstable: bool  # log(softmax(z)) rather than log_softmax(z)


@dataclass(frozen=True, eq=False, repr=False)
class Mixture(Kind):
    """Probabilities combined after the activation: attention mixtures, ensemble means."""

    activation: Activation
    # Reduced over an axis (`p.mean(1)`: ten crops, an ensemble), not mixed with other values
    # (`z * torch.sigmoid(g)` is a gate).
    reduced: bool = False


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
    # False for `nn.Sequential(OrderedDict([...]))`: elements are not the call's arguments,
    # so an element cannot be dropped by position.
    positional: bool = True


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
class OneOf(Kind):
    """One of several models or criteria, chosen at run time: by a flag (`if args.dataset
    == ...: net = A() else: net = B()`) or from a registry (`LOSSES[name]()`). A finding may
    follow each option (and names it); a fix never does."""

    options: tuple[Kind, ...]
    # What each option is called in a report (`_netD_CIFAR10`, `NLLLoss`).
    labels: tuple[str, ...] = ()

    def label(self, index: int) -> str:
        return self.labels[index] if index < len(self.labels) else option_label(self.options[index])


def option_label(kind: Kind) -> str:
    if isinstance(kind, Criterion):
        return names.LOSS_DISPLAY.get(kind.loss, kind.loss)
    if isinstance(kind, (ModelInstance, ClassReference)):
        return kind.class_key.rsplit(".", 1)[-1]
    if isinstance(kind, PatchedModel):
        return kind.key.rsplit(".", 1)[-1]
    if isinstance(kind, LossClass):
        return names.LOSS_DISPLAY.get(kind.loss, kind.loss)
    if isinstance(kind, SequentialModule):
        return f"the Sequential of line {kind.constructor.lineno}"
    if isinstance(kind, FunctionReference):
        return kind.function_key.rsplit(".", 1)[-1]
    return "?"


@dataclass(frozen=True, eq=False, repr=False)
class ModuleReference(Kind):
    """A project module as a value (`import model.model as module_arch`, then
    `config.init_obj("arch", module_arch)`): `getattr(module, name)` is one of its members."""

    module_name: str


@dataclass(frozen=True, eq=False, repr=False)
class LossClass(Kind):
    """A torch loss class not yet constructed (`nn.CrossEntropyLoss` in a registry)."""

    loss: str
    node: ast.AST


@dataclass(frozen=True, eq=False, repr=False)
class NestedFunction(Kind):
    """A function defined inside another: not interpreted, but one that returns one of its
    parameters unchanged hands back what it was given."""

    node: FunctionNode


@dataclass(frozen=True, eq=False, repr=False)
class TupleKind(Kind):
    items: tuple[Kind, ...]
    # A list (`layers = [...]`): a function it is handed to may change it.
    mutable: bool = False
    # Unknown items come before these: a list built by code that is not followed
    # (`layers = reduce(...)`), then grown here (`layers += [nn.Linear(...), nn.Softmax()]`).
    # Its end is known, so `layers[-1]` is; `layers[0]` is not.
    open_start: bool = False
    # What every item is, the unknown ones too, when a loop appended the same activation's
    # output each time (`outputs.append(self.softmax(z))`): `torch.cat(outputs)` is that.
    element: Kind | None = None


@dataclass(frozen=True, eq=False, repr=False)
class DictKind(Kind):
    items: tuple[tuple[str, Kind], ...]

    def get(self, key: str) -> Kind:
        for item_key, kind in self.items:
            if item_key == key:
                return kind
        return UNKNOWN


@dataclass(frozen=True, eq=False, repr=False)
class ModeSplit(Kind):
    """A value that differs with the model's mode: `if self.training: return z` and
    `return F.softmax(z, dim=1)` otherwise. A loss reads the arm of the mode it runs in."""

    training: Kind
    evaluation: Kind

    def in_mode(self, mode: str) -> Kind:
        return self.evaluation if mode == EVALUATION else self.training


TRAINING = "training"
EVALUATION = "evaluation"


def same_kind(first: Kind, second: Kind) -> bool:
    """Whether two kinds denote the same value for a finding: two call sites that each build
    `nn.CrossEntropyLoss()`, or pass the same model class, agree; interpreting a function
    again gives the same kinds (new objects for the same activations)."""
    if first is second:
        return True
    if type(first) is not type(second):
        return False
    if isinstance(first, Criterion):
        assert isinstance(second, Criterion)
        return first.loss == second.loss and first.is_function == second.is_function
    if isinstance(first, LossClass):
        assert isinstance(second, LossClass)
        return first.loss == second.loss
    return _same_fields(first, second)


def _same_fields(first: object, second: object) -> bool:
    if first is second:
        return True
    if isinstance(first, Kind) and isinstance(second, Kind):
        if type(first) is not type(second) or first is UNKNOWN or second is UNKNOWN:
            return False
        if isinstance(first, (Criterion, LossClass)):
            return same_kind(first, second)
    elif isinstance(first, Activation) and isinstance(second, Activation):
        # The same call or constructor in the source, whichever interpretation made it.
        return first.node is second.node and first.op == second.op
    elif isinstance(first, tuple) and isinstance(second, tuple):
        return len(first) == len(second) and all(
            _same_fields(a, b) for a, b in zip(first, second, strict=True)
        )
    else:
        return first == second if isinstance(first, (str, int, bool, type(None))) else False
    return all(
        _same_fields(getattr(first, item.name), getattr(second, item.name))
        for item in fields(first)  # type: ignore[arg-type]
    )


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
    # The model's mode when the input differs by mode (`if self.training:` in `forward`).
    mode: str | None = None
    # The calls that handed the criterion or the value down to this function, outermost
    # first (`train.py:105`, `train:79`); empty when the loss is where the values are made.
    route: tuple[str, ...] = ()
    # The option followed when the model or the criterion is chosen at run time (`_netD`,
    # `NLLLoss`); None when there is no choice.
    chosen: str | None = None


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
    # The other classes whose `forward` the same call may run (a call through an abstract
    # base class): a reader that cannot change for one of them alone.
    shared_with: tuple[str, ...] = ()


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

    target: str  # "module.function" or "module.Class.method"
    is_method: bool
    positional: tuple[Kind, ...] | None
    keywords: dict[str, Kind]
    node: ast.Call | None = None
    # Where the call is (file, calling function and its module), for a finding's route.
    path: str = ""
    caller: str = ""
    caller_module: str = ""


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
    # Attributes set outside `__init__`: by a method (a setter such as `add_loss_op(fn)`) or
    # from outside (`model.criterion = nn.NLLLoss()`); per assignment node, the kind assigned.
    taught: dict[str, dict[int, Kind]] = field(default_factory=dict)
    # Attributes assigned `None` (a placeholder until a setter or the caller fills them).
    placeholders: set[str] = field(default_factory=set)
    # The functions that read each attribute, interpreted again when its teaching changes.
    readers: dict[str, dict[int, tuple[ModuleFlow, FunctionNode, ClassInfo | None]]] = field(
        default_factory=dict
    )
    changed: set[str] = field(default_factory=set)
    # Attributes that store a parameter (`self.model = model`), with the method storing it:
    # when such an attribute is called, that method's callers decide what it holds.
    stored_parameters: dict[str, str] = field(default_factory=dict)
    # The attribute names its methods assign on `self` (`_assigned_on_self`), once read.
    assigned_on_self: frozenset[str] | None = None
    # The scopes that call an instance (`model(x)`; a module body under the key of its flow):
    # interpreted again when `forward` gives something better known (a wrapper model taught
    # what its constructor stored).
    callers: dict[int, tuple[ModuleFlow, FunctionNode | None, ClassInfo | None]] = field(
        default_factory=dict
    )

    def attribute(self, name: str) -> Kind:
        """What the attribute holds: the kind every assignment agrees on, placeholders aside."""
        kinds = [self.attributes[name]] if name in self.attributes else []
        kinds += list(self.taught.get(name, {}).values())
        if not kinds:
            return UNKNOWN
        first = kinds[0]
        return first if all(same_kind(kind, first) for kind in kinds) else UNKNOWN

    def teach(self, name: str, node: ast.AST, kind: Kind) -> None:
        assignments = self.taught.setdefault(name, {})
        before = self.attribute(name)
        assignments[id(node)] = kind
        if not same_kind(before, self.attribute(name)):
            self.changed.add(name)


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

    def module_flow(self, module: str, from_module: str) -> ModuleFlow | None:
        """The module an import names (`from .models import *`), as imported from
        `from_module`."""
        ...

    def decorated_with(self, module: str, functions: set[str]) -> list[tuple[ModuleFlow, str]]:
        """The classes and functions (module flow, name) decorated by one of `functions` of
        `module` (`@register_model("mlp")`), among the modules that import it."""
        ...

    def subclasses_of(self, class_key: str) -> list[str]:
        """The keys of the project classes that name `class_key` as a direct base."""
        ...

    def known_subclasses_of(self, class_key: str) -> list[str]:
        """`subclasses_of` among the modules read already (none is read for it)."""
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
        self._call_site_index: dict[tuple[int, str], int] = {}
        self._blocks: frozenset[str] | None = None
        # Function key -> the call site that taught its parameters (for a finding's route).
        self.taught_by: dict[str, CallSite] = {}
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
        self._seen_loss_calls: set[tuple[int, str | None]] = set()
        self.module_env: Env = {}
        self.function_nodes: dict[str, FunctionNode] = {}
        self._module_env_state = "pending"
        self._module_scope: _Scope | None = None
        self._registries: dict[int, str | None] = {}
        self._handed_back: dict[int, str | None] = {}
        self._interpreted = False
        # Nested functions being followed from a call (`exec_nested_call`).
        self._inlining: set[int] = set()
        self._collect_definitions()

    # -- definitions ----------------------------------------------------------------------

    def _collect_definitions(self) -> None:
        class_nodes = [node for node in self.module.body if isinstance(node, ast.ClassDef)]
        for node in [*class_nodes, *enclosed_classes(self.module)]:
            methods = {item.name: item for item in node.body if isinstance(item, FUNCTION_NODES)}
            self.classes[node.name] = ClassInfo(node.name, node, methods)
        for statement in self.module.body:
            if isinstance(statement, FUNCTION_NODES):
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
            self._module_scope = module_scope
            self._exec_block(self.module.body, module_scope, module_scope.env)
            self.module_env = module_scope.env
            self._module_env_state = "done"
            self._module_scope = None
        elif self._module_env_state == "running" and self._module_scope is not None:
            # A function called by module-level code (a script's `train()`): it sees the
            # globals bound so far, as it would at run time.
            return self._module_scope.env
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
        else:
            parameters = self.refinements.get(key)
        if key in self._in_progress:
            return FunctionSummary(UNKNOWN)
        self._in_progress.add(key)
        qualified = f"{owner.name}.{function.name}" if owner else function.name
        self.function_nodes[qualified] = function
        scope = _Scope(self, qualified, owner, dict(self._ensure_module_env()), function)
        receiver = _receiver(function) if owner is not None else None
        for param in _parameters(function):
            kind: Kind = UNKNOWN
            if owner is not None and param.name == receiver:
                kind = (
                    ClassReference(self.key(owner.name))
                    if _decorated(function, "classmethod")
                    else SelfReference(self.key(owner.name))
                )
            elif param.annotation is not None:
                kind = self.annotation_kind(param.annotation)
            elif param.default is not None:
                kind = scope.eval(param.default)
            if parameters and param.name in parameters:
                taught = parameters[param.name]
                # An annotation names the class; what callers pass may know its fields.
                annotated_record = (
                    isinstance(kind, ModelInstance)
                    and isinstance(taught, RecordKind)
                    and taught.class_key == kind.class_key
                )
                if kind is UNKNOWN or annotated_record:
                    kind = taught
            scope.env[param.name] = self.new_binding(kind)
            if kind is UNKNOWN and param.name != receiver:
                scope.parameter_bindings.add(scope.env[param.name].id)
        constructing = owner is not None and function.name == "__init__"
        stored_before = dict(owner.attributes) if owner is not None and constructing else {}
        if owner is not None and constructing:
            owner.attributes.clear()
        self._exec_block(function.body, scope, scope.env)
        if owner is not None and constructing:
            for name in stored_before.keys() | owner.attributes.keys():
                if not same_kind(
                    stored_before.get(name, UNKNOWN), owner.attributes.get(name, UNKNOWN)
                ):
                    owner.changed.add(name)
        result = FunctionSummary(_mode_join(scope.returns, scope.return_modes))
        if _is_criterion(result.returns):
            # A criterion factory (`get_criterion(cfg)`): its callers apply the loss.
            self.parameter_sites.add(qualified + FACTORY_MARK)
        self._summaries[key] = result
        self._in_progress.discard(key)
        return result

    def returns_of(self, function: FunctionNode) -> Kind:
        """What the function's last interpretation returned (UNKNOWN before any)."""
        summary = self._summaries.get(id(function))
        return summary.returns if summary is not None else UNKNOWN

    def note_caller(self, class_key: str, scope: _Scope) -> None:
        """`scope` calls an instance of `class_key`: it reads that class's `forward`."""
        found = self.class_owner(class_key)
        if found is None or scope.nested:
            return
        key = id(scope.function) if scope.function is not None else id(self)
        found[1].callers[key] = (self, scope.function, scope.owner)

    def rerun_module(self) -> None:
        """Interpret the module body again (a model it calls now gives a known output)."""
        if self._module_env_state == "done":
            self._module_env_state = "pending"
            self._ensure_module_env()

    def resummarize(self, function: FunctionNode, owner: ClassInfo | None) -> None:
        """Interpret `function` again: what its parameters or the attributes it reads hold
        is now better known."""
        if id(function) in self._in_progress:
            return
        self._summaries.pop(id(function), None)
        self.summary(function, owner)

    def class_owner(self, class_key: str) -> tuple[ModuleFlow, ClassInfo] | None:
        """The module that defines the class, and the class."""
        owner = self._owner_flow(class_key)
        info = owner[0].classes.get(owner[1]) if owner is not None else None
        return (owner[0], info) if owner is not None and info is not None else None

    def class_info(self, class_key: str) -> ClassInfo | None:
        found = self.class_owner(class_key)
        return found[1] if found is not None else None

    def record_call_site(self, site: CallSite) -> None:
        # Interpreting a function again replaces what its calls passed.
        # One call may be a site of several functions (each option of a choice).
        key = (id(site.node), site.target)
        index = self._call_site_index.get(key) if site.node is not None else None
        if index is None:
            if site.node is not None:
                self._call_site_index[key] = len(self.call_sites)
            self.call_sites.append(site)
        else:
            self.call_sites[index] = site

    def route_to(self, function: str) -> tuple[str, ...]:
        """The calls that taught `function` its parameters, outermost first: the first as
        `path:line`, the others as `caller:line` (`train.py:105`, `train:79`)."""
        sites: list[CallSite] = []
        flow: ModuleFlow | None = self
        name = function
        seen: set[str] = set()
        while flow is not None and len(sites) < 8:
            key = flow.key(name)
            site = flow.taught_by.get(key)
            if key in seen or site is None or site.node is None:
                break
            seen.add(key)
            sites.append(site)
            if site.caller_module != flow.module_name:
                flow = flow.project.flow_of(site.caller_module) if flow.project else None
            name = site.caller
        hops: list[str] = []
        for number, site in enumerate(reversed(sites)):
            assert site.node is not None
            where = site.path if number == 0 else site.caller
            hops.append(f"{where}:{site.node.lineno}")
        return tuple(hops)

    def qualify(self, node: ast.expr) -> str | None:
        """The qualified name of a name or dotted name, through imports; a name bound by
        `from models import *` is looked up in that module's own imports (`nn` there)."""
        qualified = self.imports.qualify(node)
        if qualified is not None or not self.imports.star_modules or self.project is None:
            return qualified
        dotted = names.dotted_name(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        for star in self.imports.star_modules:
            flow = self.project.module_flow(star, self.module_name)
            bound = flow.imports.names.get(head) if flow is not None else None
            if bound is not None and not bound.startswith(names.LOCAL_PREFIX):
                return f"{bound}.{rest}" if rest else bound
        return None

    def annotation_kind(self, annotation: ast.expr) -> Kind:
        qualified = self.qualify(annotation)
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
        if found is not None:
            flow, name = found
            reference = flow.global_reference(names.LOCAL_PREFIX + name)
            if reference is not UNKNOWN:
                return reference
        module = self.project.module_flow(qualified, self.module_name)
        return ModuleReference(module.module_name) if module is not None else UNKNOWN

    def module_member(self, module: ModuleReference, name: str | None) -> Kind:
        """`getattr(module, name)`: that member, or, when the name is read at run time
        (`config["loss"]`), one of the module's public classes and functions, each named."""
        flow = self.project.flow_of(module.module_name) if self.project is not None else None
        if flow is None:
            return UNKNOWN
        if name is not None:
            return flow.global_reference(names.LOCAL_PREFIX + name)
        members = flow.choosable_names(functions=True)
        options = tuple(flow.global_reference(names.LOCAL_PREFIX + m) for m in members)
        if len(options) == 1:
            return options[0]
        return OneOf(options, tuple(members)) if options else UNKNOWN

    def instance_of_member(self, module: Kind, name: str | None) -> Kind:
        """`getattr(module, name)(...)` inside a project helper (`ConfigParser.init_obj`):
        an instance of the class, or what the function returns, for each member."""
        if not isinstance(module, ModuleReference):
            return UNKNOWN
        member = self.module_member(module, name)
        options = member.options if isinstance(member, OneOf) else (member,)
        labels = [member.label(i) for i in range(len(options))] if isinstance(member, OneOf) else []
        made: list[Kind] = []
        for option in options:
            if isinstance(option, ClassReference):
                made.append(ModelInstance(option.class_key))
            elif isinstance(option, FunctionReference):
                made.append(self.function_returns(option.function_key))
            else:
                made.append(UNKNOWN)
        if len(made) == 1:
            return made[0]
        return OneOf(tuple(made), tuple(labels)) if any(m is not UNKNOWN for m in made) else UNKNOWN

    def _owner_flow(self, key: str) -> tuple[ModuleFlow, str] | None:
        module_name, _, name = key.rpartition(".")
        if module_name == self.module_name:
            return self, name
        flow = self.project.flow_of(module_name) if self.project is not None else None
        return (flow, name) if flow is not None else None

    def function_definition(self, function_key: str) -> FunctionNode | None:
        owner = self._owner_flow(function_key)
        return owner[0].functions.get(owner[1]) if owner is not None else None

    def function_returns(self, function_key: str) -> Kind:
        owner = self._owner_flow(function_key)
        if owner is None:
            return UNKNOWN
        flow, name = owner
        function = flow.functions.get(name)
        if function is None:
            return UNKNOWN
        returned = flow.summary(function, None).returns
        if returned is UNKNOWN:
            returned = flow.registry_returns(function)
        return returned

    def returned_parameter(self, function: FunctionNode) -> str | None:
        if id(function) not in self._handed_back:
            self._handed_back[id(function)] = _returned_parameter(function)
        return self._handed_back[id(function)]

    def registry_returns(self, function: FunctionNode) -> Kind:
        """`create_model(name)` of a registry (`entry = _MODELS[name]; return entry(**kw)`,
        filled by a `@register_model(...)` decorator of this module): any registered model.
        """
        if id(function) not in self._registries:
            self._registries[id(function)] = _registry_of(function)
        registry = self._registries[id(function)]
        if registry is None or self.project is None:
            return UNKNOWN
        registering = {
            name
            for name, candidate in self.functions.items()
            if candidate is not function and _stores_into(candidate, registry)
        }
        if not registering:
            return UNKNOWN
        options: list[Kind] = []
        for flow, name in self.project.decorated_with(self.module_name, registering):
            found = flow.global_reference(names.LOCAL_PREFIX + name)
            if isinstance(found, ClassReference):
                options.append(ModelInstance(found.class_key))
            elif isinstance(found, FunctionReference):
                options.append(flow.function_returns(found.function_key))
        return choice_of(options)

    def forward_kind(self, class_key: str) -> Kind:
        # A plain class that is called like a model (`DecisionEnsemble.__call__`).
        found = self.find_method(class_key, "forward") or self.find_method(class_key, "__call__")
        if found is None:
            return UNKNOWN
        flow, info, forward = found
        flow.class_attributes(info)
        return flow.summary(forward, info).returns

    def dispatched_classes(self, class_key: str) -> list[str]:
        """The classes whose `forward` a call of a `class_key` instance may run: the class
        itself, or, for a mixin or an abstract base without a `forward` of its own
        (`TorchClassMixin.fit` calling `self(x)`, a `model: BaseModel` parameter), each
        project subclass that has one."""
        found = self.find_method(class_key, "forward") or self.find_method(class_key, "__call__")
        if found is not None and not _abstract(found[2]):
            return [class_key]
        if self.project is None:
            return []
        return [
            subclass
            for subclass in self.project.subclasses_of(class_key)
            if self.find_method(subclass, "forward") is not None
        ]

    def own_forward_kind(self, class_key: str) -> Kind:
        """What calling an instance of the class gives: its `forward`, or the `forward` of
        each subclass it dispatches to, as a choice (found per subclass, never fixed)."""
        classes = self.dispatched_classes(class_key)
        if classes == [class_key]:
            return self.forward_kind(class_key)
        options = [self.forward_kind(subclass) for subclass in classes]
        labels = [subclass.rsplit(".", 1)[-1] for subclass in classes]
        if not options:
            return UNKNOWN
        # Another subclass, outside the project, may take the same path.
        return OneOf((*options, UNKNOWN), (*labels, "another subclass"))

    def find_method(
        self, class_key: str, method: str, depth: int = 0
    ) -> tuple[ModuleFlow, ClassInfo, FunctionNode] | None:
        """The class's own method, else the one it inherits from a project base class
        (`class Net(BaseNet)` using `BaseNet.forward`)."""
        owner = self._owner_flow(class_key)
        if owner is None or depth > MAX_BASE_DEPTH:
            return None
        flow, class_name = owner
        info = flow.classes.get(class_name)
        if info is None:
            return None
        function = info.methods.get(method)
        if function is not None:
            return flow, info, function
        for base_key in flow.base_classes(class_key):
            found = flow.find_method(base_key, method, depth + 1)
            if found is not None:
                return found
        return None

    def choosable_names(self, functions: bool) -> list[str]:
        """The public classes (and functions) of this module a run may pick by name, the
        blocks its classes are built from aside."""
        blocks = self.building_blocks()
        defined = [*self.classes, *(self.functions if functions else ())]
        return [name for name in defined if not name.startswith("_") and name not in blocks]

    def building_blocks(self) -> frozenset[str]:
        """The classes and functions of this module that its classes call (a layer or a block
        built in `__init__`, a helper): parts of a model, not models a run picks by name."""
        if self._blocks is None:
            defined = set(self.classes) | set(self.functions)
            called: set[str] = set()
            for info in self.classes.values():
                for node in ast.walk(info.node):
                    if (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name)
                        and node.func.id in defined
                        and node.func.id != info.name
                    ):
                        called.add(node.func.id)
            self._blocks = frozenset(called)
        return self._blocks

    def overridden_below(self, class_key: str, attribute: str, kind: Kind, depth: int = 0) -> bool:
        """Whether a project subclass of the class (among the modules read) sets the attribute
        to something else. Asked only of what can make a finding: an activation, a loss, a
        model."""
        if self.project is None or depth > MAX_BASE_DEPTH or not isinstance(kind, _OVERRIDABLE):
            return False
        for subclass in self.project.known_subclasses_of(class_key):
            found = self.class_owner(subclass)
            if found is None:
                continue
            flow, info = found
            # A look at the source first: interpreting every subclass's `__init__` to learn
            # what it stores cost a check of transformers 12% of its time.
            if attribute in _assigned_on_self(info) and (
                attribute in flow.class_attributes(info) or attribute in info.taught
            ):
                if not same_kind(info.attribute(attribute), kind):
                    return True
            if flow.overridden_below(subclass, attribute, kind, depth + 1):
                return True
        return False

    def base_classes(self, class_key: str) -> list[str]:
        """The project classes the class names as its bases, in order."""
        owner = self._owner_flow(class_key)
        info = owner[0].classes.get(owner[1]) if owner is not None else None
        if owner is None or info is None:
            return []
        flow = owner[0]
        bases = [flow.global_reference(flow.qualify(base)) for base in info.node.bases]
        return [base.class_key for base in bases if isinstance(base, ClassReference)]

    def attribute_owner(
        self, class_key: str, attribute: str, depth: int = 0
    ) -> tuple[ModuleFlow, ClassInfo] | None:
        """The project base class whose `__init__` (or a setter) sets the attribute, for a
        subclass that sets it through `super().__init__(model, criterion)`."""
        if depth > MAX_BASE_DEPTH:
            return None
        for base_key in self.base_classes(class_key):
            found = self.class_owner(base_key)
            if found is None:
                continue
            flow, info = found
            if attribute in flow.class_attributes(info) or attribute in info.taught:
                return flow, info
            deeper = flow.attribute_owner(base_key, attribute, depth + 1)
            if deeper is not None:
                return deeper
        return None

    # -- statements --------------------------------------------------------------------------

    def _exec_block(self, body: Sequence[ast.stmt], scope: _Scope, env: Env) -> None:
        for statement in body:
            self._exec_statement(statement, scope, env)

    def _exec_statement(self, statement: ast.stmt, scope: _Scope, env: Env) -> None:
        scope.env = env
        if isinstance(statement, ast.If):
            scope.eval(statement.test)
            arm = _training_test(statement.test)
            if arm is not None:
                self._exec_mode_branches(statement, arm, scope, env)
                scope.env = env
                return
            self._exec_branches(
                [statement.body, statement.orelse] if statement.orelse else [statement.body],
                scope,
                env,
                keep_original=not statement.orelse,
            )
        elif isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
            if isinstance(statement, (ast.For, ast.AsyncFor)):
                scope.eval(statement.iter)
                # `for model in [cnn, lstm, ensemble]:` takes each model in turn.
                elements = (
                    [scope.eval(element) for element in statement.iter.elts]
                    if isinstance(statement.iter, (ast.List, ast.Tuple))
                    and isinstance(statement.target, ast.Name)
                    else []
                )
                each = _models_of(elements) if elements else None
                scope.bind_target(statement.target, each if each is not None else UNKNOWN)
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
        elif isinstance(statement, FUNCTION_NODES):
            # A nested function (a script's `def train(X, y):` using the `model` and the
            # criterion around it) is interpreted where it is defined, seeing the names
            # bound so far; one that hands back its argument (`model = load(model, path)`)
            # is followed through its calls.
            env[statement.name] = self.new_binding(NestedFunction(statement))
            self._exec_nested(statement, scope, env)
        elif isinstance(statement, ast.ClassDef):
            env[statement.name] = self.new_binding(UNKNOWN)
        elif isinstance(statement, ast.Assign):
            value = scope.eval(statement.value)
            for target in statement.targets:
                scope.bind_target(target, value, statement.value)
        elif isinstance(statement, ast.AnnAssign):
            if statement.value is not None:
                scope.bind_target(statement.target, scope.eval(statement.value))
        elif isinstance(statement, ast.AugAssign):
            added = scope.eval(statement.value)
            before = scope.eval(statement.target)
            grown: Kind = UNKNOWN
            if isinstance(statement.op, ast.Add) and isinstance(added, TupleKind):
                if isinstance(before, TupleKind):  # `+= [...]`
                    grown = TupleKind(before.items + added.items, before.mutable, before.open_start)
                elif before is UNKNOWN and added.mutable:
                    grown = TupleKind(added.items, mutable=True, open_start=True)
            scope.bind_target(statement.target, grown)
        elif isinstance(statement, ast.Expr):
            scope.eval(statement.value)
            switched = _mode_switch(statement.value)
            if switched is not None:
                scope.mode = switched
        elif isinstance(statement, ast.Return):
            scope.returns.append(
                scope.eval(statement.value) if statement.value is not None else UNKNOWN
            )
            scope.return_modes.append(scope.branch_mode)
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
        ended: list[Env] = []
        for body in bodies:
            branch_env = dict(env)
            self._exec_block(body, scope, branch_env)
            # An arm that raises or returns does not reach the code after the statement.
            (ended if _terminates(body) else results).append(branch_env)
        joined = _join_envs(results or ended, self)
        env.clear()
        env.update(joined)
        scope.env = env

    def _exec_nested(
        self,
        function: FunctionNode,
        outer: _Scope,
        env: Env,
        arguments: Mapping[str, Kind] | None = None,
    ) -> None:
        """Interpret a function defined inside another where it is defined, its parameters
        unknown; or, with `arguments`, where it is called (a script's `def criterion(logits,
        labels):` inside `main()` given the model's output)."""
        name = f"{outer.name}.{function.name}" if outer.name != "<module>" else function.name
        scope = _Scope(self, name, outer.owner, dict(env), function)
        scope.nested = True
        scope.site_name = outer.site_name
        scope.parameter_bindings = set(outer.parameter_bindings)
        for param in _parameters(function):
            kind = (arguments or {}).get(param.name, UNKNOWN)
            if outer.owner is not None and param.name == "self":
                kind = outer.env["self"].kind if "self" in outer.env else UNKNOWN
            scope.env[param.name] = self.new_binding(kind)
        self._exec_block(function.body, scope, scope.env)

    def exec_nested_call(self, function: FunctionNode, call: ast.Call, caller: _Scope) -> None:
        """Follow a call of a nested function that hands it an activation's output, a model
        or a criterion: its body runs again with those kinds bound (bounded depth, never
        itself again)."""
        arguments = _bound_arguments(function, call, caller.evaluated_argument)
        # A closure over a model or criterion bound by then (`def train():` in a script's
        # `__main__` block, called after `model = Net()`) is followed too.
        closed_over = (caller.env.get(name) for name in _free_names(function) if name in caller.env)
        if not any(_is_followed_argument(kind) for kind in arguments.values()) and not any(
            binding is not None and _is_followed_argument(binding.kind) for binding in closed_over
        ):
            return
        if id(function) in self._inlining or len(self._inlining) >= MAX_NESTED_CALL_DEPTH:
            return
        self._inlining.add(id(function))
        try:
            self._exec_nested(function, caller, caller.env, arguments)
        finally:
            self._inlining.discard(id(function))

    def _exec_mode_branches(self, statement: ast.If, arm: str, scope: _Scope, env: Env) -> None:
        """`if self.training:` / `if not self.training:`: each arm is the model in one mode.
        A name bound differently by the two arms holds a `ModeSplit`."""
        other = EVALUATION if arm == TRAINING else TRAINING
        outer_mode = scope.branch_mode
        by_mode: dict[str, Env] = {}
        for body, mode in ((statement.body, arm), (statement.orelse, other)):
            branch_env = dict(env)
            scope.branch_mode = mode
            self._exec_block(body, scope, branch_env)
            by_mode[mode] = branch_env
        scope.branch_mode = outer_mode
        training, evaluation = by_mode[TRAINING], by_mode[EVALUATION]
        joined: Env = {}
        for name, binding in training.items():
            other_binding = evaluation.get(name)
            if other_binding is None:
                continue
            if other_binding is binding or other_binding.id == binding.id:
                joined[name] = binding
            elif same_kind(binding.kind, other_binding.kind):
                joined[name] = self.new_binding(binding.kind)
            else:
                joined[name] = self.new_binding(ModeSplit(binding.kind, other_binding.kind))
        env.clear()
        env.update(joined)

    # -- recording ---------------------------------------------------------------------------

    def record_model_call(self, model_call: ModelCall) -> None:
        # Interpreting a function again (refined parameters) meets the same calls again.
        if all(
            known.call is not model_call.call or known.class_key != model_call.class_key
            for known in self.model_calls
        ):
            self.model_calls.append(model_call)

    def record_loss(self, use: LossUse) -> None:
        key = (id(use.call), use.chosen)
        if key in self._seen_loss_calls:
            # A second interpretation (parameters refined from their call sites) may know more.
            for index, known in enumerate(self.loss_uses):
                if (
                    known.call is use.call
                    and known.chosen == use.chosen
                    and known.input_kind is UNKNOWN
                ):
                    self.loss_uses[index] = use
                    self.loss_inputs[use.input_node] = use
            return
        self._seen_loss_calls.add(key)
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

    def __init__(
        self,
        flow: ModuleFlow,
        name: str,
        owner: ClassInfo | None,
        env: Env,
        function: FunctionNode | None = None,
    ) -> None:
        self.flow = flow
        self.name = name
        self.owner = owner
        self.env = env
        self.function = function
        # A function defined inside another (interpreted where it is defined).
        self.nested = False
        # The function whose callers decide this scope's parameters: a nested function's
        # closure reads the parameters of the function it is defined in.
        self.site_name = name
        self.returns: list[Kind] = []
        # Per return, the arm of `if self.training:` it is in (None outside such an arm).
        self.return_modes: list[str | None] = []
        self.branch_mode: str | None = None
        # The mode the models run in here: `model.eval()` switches it, and so does a function
        # named for validation or testing.
        self.mode = EVALUATION if function is not None and _evaluates(function.name) else TRAINING
        self._argument_cache: dict[int, Kind] = {}
        # Binding ids of the parameters that call sites may teach (see `parameter_sites`).
        self.parameter_bindings: set[int] = set()
        # A parameter is called here (`model(x)`): when a loss here then gets an input of
        # unknown kind, the callers decide what that model is.
        self.calls_parameter = False

    # -- binding -----------------------------------------------------------------------------

    def bind_target(
        self, target: ast.expr, value: Kind, value_node: ast.expr | None = None
    ) -> None:
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
            known = isinstance(value, TupleKind) and not value.open_start
            items = value.items if known and isinstance(value, TupleKind) else None
            for index, element in enumerate(elements):
                item: Kind = UNKNOWN
                if items is not None and not starred and len(items) == len(elements):
                    item = items[index]
                elif isinstance(value, OneOf) and not starred:
                    item = _item(value, ast.Constant(index))
                self.bind_target(element, item)
        elif isinstance(target, ast.Attribute):
            self.eval(target.value)
            base = self.eval_quiet(target.value)
            placeholder = isinstance(value_node, ast.Constant) and value_node.value is None
            if isinstance(base, SelfReference) and self.owner is not None:
                info = self.flow.class_info(base.class_key) or self.owner
                if self._from_parameter(_module_value(value_node)):
                    info.stored_parameters[target.attr] = self.name
                if placeholder:
                    info.placeholders.add(target.attr)
                elif self.name.endswith(".__init__"):
                    if target.attr not in info.attributes:
                        info.attributes[target.attr] = value
                else:
                    # A setter (`self.loss_op = loss_op`): what its callers pass.
                    info.teach(target.attr, target, value)
            elif isinstance(target.value, ast.Name) and target.attr in _HEAD_ATTRIBUTES:
                self._patch_head(target.value, target.attr, value)
            elif (
                target.attr in _HEAD_ATTRIBUTES
                and isinstance(target.value, ast.Attribute)
                and self.owner is not None
                and self.name.endswith(".__init__")
                and isinstance(self.eval_quiet(target.value.value), SelfReference)
            ):
                self._patch_stored_head(target.value.attr, target.attr, value)
            elif isinstance(base, (ModelInstance, RecordKind)) and not placeholder:
                # `model.criterion = nn.NLLLoss()`, `cfg.loss = nn.BCEWithLogitsLoss()`: the
                # instance's methods and its other readers see it.
                taught = self.flow.class_info(base.class_key)
                if taught is not None:
                    taught.teach(target.attr, target, value)
        elif isinstance(target, ast.Subscript):
            self.eval(target)
            self._set_item(target, value)

    def _set_item(self, target: ast.Subscript, value: Kind) -> None:
        """`layers["output"] = nn.Softmax(-1)` on a dict being built (an `OrderedDict` for a
        `Sequential`, an output dict): the name now holds one more item, in order."""
        if not isinstance(target.value, ast.Name):
            return
        binding = self.env.get(target.value.id)
        if binding is not None and isinstance(binding.kind, TupleKind):
            # `outputs[0] = logits`: what the list holds is no longer known.
            self.env[target.value.id] = self.flow.new_binding(UNKNOWN)
            return
        if binding is None or not isinstance(binding.kind, DictKind):
            return
        key = _string_value(target.slice)
        items = list(binding.kind.items)
        if key is not None and any(item_key == key for item_key, _ in items):
            items = [(item_key, value if item_key == key else kind) for item_key, kind in items]
        else:
            items.append((key if key is not None else UNKNOWN_KEY, value))
        self.env[target.value.id] = self.flow.new_binding(DictKind(tuple(items)))

    def _append(self, node: ast.Call, method: str, receiver: TupleKind) -> None:
        """`layers.append(nn.ReLU())`, `layers.extend([...])`: the list grows."""
        func = node.func
        assert isinstance(func, ast.Attribute)
        if not isinstance(func.value, ast.Name) or len(node.args) != 1 or node.keywords:
            return
        added = self.eval(node.args[0])
        if method == "append":
            items = (*receiver.items, added)
        elif isinstance(added, TupleKind):
            items = (*receiver.items, *added.items)
        else:
            items = (*receiver.items, UNKNOWN)
        element = None
        if receiver.element is not None and method == "append":
            element = _common_probabilities([receiver.element, added])
        grown = TupleKind(items, receiver.mutable, receiver.open_start, element)
        self.env[func.value.id] = self.flow.new_binding(grown)

    # -- expressions -------------------------------------------------------------------------

    def _patch_head(self, model: ast.Name, attribute: str, head: Kind) -> None:
        """`model.fc = nn.Sequential(nn.Linear(n, C), nn.Sigmoid())` on a pretrained backbone:
        the model's output is now the head's activation. The backbone may be a library's
        (unknown here) or the project's own class: the new head ends either."""
        binding = self.env.get(model.id)
        if binding is None:
            return
        key = f"{self.flow.module_name}.<{model.id}.{attribute} in {self.name}>"
        patched = self._patched(binding.kind, key, head)
        if patched is not None:
            self.env[model.id] = Binding(patched, binding.id)

    def _patch_stored_head(self, stored: str, attribute: str, head: Kind) -> None:
        """`self.backbone.classifier = nn.Sequential(..., nn.Sigmoid())` in `__init__`:
        the stored backbone's output is now the head's activation."""
        assert self.owner is not None
        key = f"{self.flow.module_name}.<self.{stored}.{attribute} in {self.name}>"
        patched = self._patched(self.owner.attributes.get(stored, UNKNOWN), key, head)
        if patched is not None:
            self.owner.attributes[stored] = patched

    def _patched(self, model: Kind, key: str, head: Kind) -> PatchedModel | None:
        """The model whose new head ends in an activation; None for any other head."""
        if not isinstance(head, SequentialModule) or not head.elements:
            return None
        if model is not UNKNOWN and not isinstance(model, (PatchedModel, ModelInstance)):
            return None
        last = head.elements[-1]
        if not isinstance(last, ActivationModule):
            return None
        activation = Activation(
            op=last.op,
            node=last.constructor,
            path=self.flow.path,
            function=self.name,
            sequential=head.constructor if head.positional else None,
            element_index=len(head.elements) - 1 if head.positional else None,
            dim=last.dim,
            callee=last.constructor.func,
        )
        patched = PatchedModel(key, activation)
        self.flow.patched_models.append(patched)
        return patched

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
        if isinstance(node, (ast.Tuple, ast.List)):
            # A list is followed like a tuple: `layers = [nn.Linear(...)]`, grown by `append`.
            return TupleKind(
                tuple(
                    self.eval(element.value if isinstance(element, ast.Starred) else element)
                    for element in node.elts
                ),
                mutable=isinstance(node, ast.List),
            )
        if isinstance(node, ast.Dict):
            return self._eval_dict(node)
        if isinstance(node, ast.DictComp) and _is_globals_registry(node):
            self._eval_children(node)
            return self._classes_by_name()
        if isinstance(node, ast.Subscript):
            return self._eval_subscript(node)
        if isinstance(node, ast.BinOp):
            return self._eval_binary(node)
        if isinstance(node, ast.Lambda):
            self._eval_children(node.body)
            return UNKNOWN
        if isinstance(node, ast.Compare):
            return self._eval_comparison(node)
        if isinstance(node, ast.IfExp):
            # `F.binary_cross_entropy if binary else F.cross_entropy`: a run-time choice.
            self.eval(node.test)
            chosen = [self.eval(node.body), self.eval(node.orelse)]
            if all(same_kind(kind, chosen[0]) for kind in chosen):
                return chosen[0]
            return choice_of(chosen)
        return self._eval_children(node)

    def _classes_by_name(self) -> Kind:
        """`{name: cls for name, cls in globals().items() if issubclass(cls, nn.Module)}`:
        the classes this module defines, by name (a registry the run picks from by name);
        not the blocks its classes are built from (an attention or SE layer)."""
        return DictKind(
            tuple(
                (name, ClassReference(self.flow.key(name)))
                for name in self.flow.choosable_names(functions=False)
            )
        )

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
        qualified = self.flow.qualify(node)
        if qualified is None:
            return UNKNOWN
        if qualified in names.LOSS_FUNCTIONS:
            return Criterion(names.LOSS_FUNCTIONS[qualified], node, is_function=True)
        if qualified in names.LOSS_MODULES:
            # `nn.CrossEntropyLoss` itself, not constructed yet (a registry's entry).
            return LossClass(names.LOSS_MODULES[qualified], node)
        if qualified in names.ACTIVATION_FUNCTIONS:
            return ActivationFunction(names.ACTIVATION_FUNCTIONS[qualified], node)
        return self.flow.global_reference(qualified)

    def _eval_attribute(self, node: ast.Attribute) -> Kind:
        qualified = self.flow.qualify(node)
        if qualified is not None:
            found = self._global_kind(node)
            if found is UNKNOWN and isinstance(node.value, (ast.Name, ast.Attribute)):
                # `TrainConfig.from_namespace`: a method of an imported class.
                owner = self._global_kind(node.value)
                if isinstance(owner, ClassReference):
                    return self._member(owner, node.attr)
            return found
        base = self.eval(node.value)
        if isinstance(base, SelfReference):
            return self._self_attribute(base, node.attr)
        return self._member(base, node.attr)

    def _member(self, base: Kind, attribute: str) -> Kind:
        """`base.attribute` for a record's field, an instance's attribute (set in
        `__init__`, by a setter or from outside) or a class's method; per option of a choice."""
        if isinstance(base, RecordKind):
            found = base.get(attribute)
            if found is not UNKNOWN:
                return found
            return self._member(ModelInstance(base.class_key), attribute)
        if isinstance(base, OneOf):
            members = tuple(self._member(option, attribute) for option in base.options)
            if all(member is UNKNOWN for member in members):
                return UNKNOWN
            return OneOf(members, tuple(base.label(i) for i in range(len(members))))
        if isinstance(base, ModelInstance):
            defined = self.flow.class_owner(base.class_key)
            if defined is None or attribute in defined[1].methods:
                return UNKNOWN
            defined[0].class_attributes(defined[1])
            return self._read_attribute(defined[1], attribute)
        if isinstance(base, ClassReference):
            info = self.flow.class_info(base.class_key)
            if info is not None and attribute in info.methods:
                # `Config.from_args(ns)`: a class method, called for what it returns.
                return MethodReference(base.class_key, attribute)
        return UNKNOWN

    def _self_attribute(self, reference: SelfReference, attribute: str) -> Kind:
        if attribute in ("forward", "__call__"):
            return reference
        found = self.flow.class_owner(reference.class_key)
        if found is None:
            return UNKNOWN
        owner_flow, info = found
        attributes = owner_flow.class_attributes(info)
        if attribute not in attributes and attribute not in info.taught:
            inherited = self.flow.find_method(reference.class_key, attribute)
            if inherited is not None:
                flow, defining, _ = inherited
                return MethodReference(flow.key(defining.name), attribute)
            base = self.flow.attribute_owner(reference.class_key, attribute)
            if base is not None:
                return self._read_attribute(base[1], attribute)
        kind = self._read_attribute(info, attribute)
        if kind is not UNKNOWN and self.flow.overridden_below(reference.class_key, attribute, kind):
            # A base class's method run for a subclass that sets the attribute otherwise
            # (`self.criterion = ProbLoss()` after `super().__init__(model)`).
            return UNKNOWN
        return kind

    def _read_attribute(self, info: ClassInfo, attribute: str) -> Kind:
        """What an instance attribute holds; this function is read again when that changes
        (a setter or an outside assignment teaches it later)."""
        if self.function is not None and not self.nested:
            readers = info.readers.setdefault(attribute, {})
            readers[id(self.function)] = (self.flow, self.function, self.owner)
        return info.attribute(attribute)

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
        if isinstance(index, ast.Slice) and isinstance(base, Probs):
            # `p[:n]`: some rows of the probabilities (labelled examples first).
            return Probs(base.activation, exact=False, shifted=base.shifted)
        if isinstance(index, (ast.Tuple, ast.Slice)):
            return UNKNOWN
        return _item(base, index)

    def _eval_binary(self, node: ast.BinOp) -> Kind:
        left = self.eval(node.left)
        right = self.eval(node.right)
        # `outputs + 1e-7` where `outputs` is one of several models' outputs.
        if isinstance(left, OneOf) and not isinstance(right, OneOf):
            options = tuple(self._binary_kind(node, option, right) for option in left.options)
            return OneOf(options, left.labels)
        if isinstance(right, OneOf) and not isinstance(left, OneOf):
            options = tuple(self._binary_kind(node, left, option) for option in right.options)
            return OneOf(options, right.labels)
        return self._binary_kind(node, left, right)

    def _binary_kind(self, node: ast.BinOp, left: Kind, right: Kind) -> Kind:
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
                return Probs(probs.activation, exact=False, shifted=True)
        return Mixture(activation)

    # -- calls -------------------------------------------------------------------------------

    def _eval_call(self, node: ast.Call) -> Kind:
        func = node.func
        qualified = self.flow.qualify(func)
        if qualified is not None:
            result = self._eval_qualified_call(node, qualified)
            if result is not None:
                return result
        if isinstance(func, ast.Attribute) and _is_super_call(func.value) and self.owner:
            inherited = self._call_super(node, func.attr)
            if inherited is not None:
                return inherited
        if isinstance(func, ast.Attribute) and qualified is None:
            method = func.attr
            receiver = self.eval(func.value)
            if isinstance(receiver, SelfReference):
                # `self.act(x)`, `self.criterion(p, y)`: what `__init__` stored there.
                callee = self._self_attribute(receiver, method)
                if callee is UNKNOWN:
                    self._note_stored_parameter(receiver, method)
                return self._apply(node, callee)
            member = self._member(receiver, method)
            if isinstance(member, _CALLABLE_MEMBERS):
                # `cfg.loss(out, y)`, `trainer.criterion(p, y)`: a criterion or a module
                # held by a record, a config object or another instance.
                return self._apply(node, member)
            return self._eval_method(node, method, receiver)
        if isinstance(func, ast.Name) and func.id == "getattr" and func.id not in self.env:
            taken = self._getattr_of_module(node)
            if taken is not None:
                return taken
        if isinstance(func, ast.Name):
            self._note_parameter_site(func)
            self.calls_parameter = self.calls_parameter or self._from_parameter(func)
        callee = self.eval(func)
        if callee is UNKNOWN and isinstance(func, ast.Name) and func.id not in self.env:
            if self.flow.imports.star_modules and func.id not in _BUILTINS:
                callee = self._star_reference(func.id)
        return self._apply(node, callee)

    def _call_super(self, node: ast.Call, method: str) -> Kind | None:
        """`super().__init__(model, criterion)`, `super().forward(x)`: the base class's method
        learns its parameters from this call like from any other (what `__init__` stores, the
        subclass reads). The base's method reads the base's attributes, unknown where a
        subclass sets one otherwise (`overridden_below`)."""
        assert self.owner is not None
        for base_key in self.flow.base_classes(self.flow.key(self.owner.name)):
            found = self.flow.find_method(base_key, method)
            if found is None:
                continue
            flow, info, function = found
            positional, keywords = self._argument_kinds(node)
            target = f"{flow.key(info.name)}.{method}"
            self._record_call_site(target, True, positional, keywords, node)
            return flow.summary(function, info).returns
        return None

    def _getattr_of_module(self, node: ast.Call) -> Kind | None:
        """`getattr(module_loss, config["loss"])` on a project module: its member (one of
        them, when the name is read at run time); None for any other `getattr`."""
        if len(node.args) != 2 or node.keywords:
            return None
        module = self.eval_quiet(node.args[0])
        if not isinstance(module, ModuleReference):
            return None
        self._eval_arguments(node)
        return self.flow.module_member(module, _string_value(node.args[1]))

    def _star_reference(self, name: str) -> Kind:
        """`from model import *` then `TextCNN(...)`: a class or function of a project module
        (looked for only where it is called: every unbound name would read modules in vain)."""
        for module in self.flow.imports.star_modules:
            found = self.flow.global_reference(f"{module}.{name}")
            if found is not UNKNOWN:
                return found
        return UNKNOWN

    def _built_elements(self, node: ast.Call) -> tuple[Kind, ...] | None:
        """`nn.Sequential(*layers)` of a list, or `nn.Sequential(layers)` of an `OrderedDict`,
        built step by step before: their elements in order."""
        if len(node.args) != 1 or node.keywords:
            return None
        argument = node.args[0]
        if isinstance(argument, ast.Starred) and isinstance(argument.value, ast.Name):
            built = self.eval(argument.value)
            if not isinstance(built, TupleKind):
                return None
            return (UNKNOWN, *built.items) if built.open_start else built.items
        if isinstance(argument, ast.Name):
            built = self.eval(argument)
            if isinstance(built, DictKind):
                return tuple(kind for _, kind in built.items)
        return None

    def _named_elements(self, node: ast.Call) -> tuple[Kind, ...] | None:
        """`nn.Sequential(OrderedDict([("fc", nn.Linear(...)), ("act", nn.Softmax(1))]))`."""
        if len(node.args) != 1 or node.keywords or not isinstance(node.args[0], ast.Call):
            return None
        inner = node.args[0]
        if self.flow.qualify(inner.func) != "collections.OrderedDict":
            return None
        if len(inner.args) != 1 or not isinstance(inner.args[0], (ast.List, ast.Tuple)):
            return None
        elements: list[Kind] = []
        for item in inner.args[0].elts:
            if not (isinstance(item, ast.Tuple) and len(item.elts) == 2):
                return None
            self.eval(item.elts[0])
            elements.append(self.eval(item.elts[1]))
        return tuple(elements)

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
        if qualified == "collections.OrderedDict" and not (node.args or node.keywords):
            return DictKind(())  # filled item by item (`layers["fc"] = nn.Linear(...)`)
        if qualified in names.SEQUENTIAL:
            named = self._named_elements(node)
            if named is not None:
                return SequentialModule(node, named, self.flow.path, positional=False)
            built = self._built_elements(node)
            if built is not None:
                return SequentialModule(node, built, self.flow.path, positional=False)
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
                if isinstance(first, (ModelInstance, PatchedModel)):
                    return first
                # `torch.compile(model)` of a model chosen by name: each option, wrapped.
                if isinstance(first, OneOf) and _models_of([first], unknown_allowed=True):
                    return first
            return UNKNOWN
        if qualified in _JOINING_FUNCTIONS and len(node.args) >= 1:
            # `torch.cat(outputs)` of softmax rows appended in a loop: still those rows.
            kinds = self._argument_kinds(node)
            first = kinds[0][0] if kinds[0] else UNKNOWN
            element = None
            if isinstance(first, TupleKind) and not first.open_start:
                # Every item known, or each one (known or not) the same activation's rows.
                element = first.element or _common_probabilities(first.items)
            along_rows = qualified in _STACKING_FUNCTIONS or _integer_argument(node, 1, "dim") == 0
            if isinstance(element, Probs) and along_rows:
                return Probs(element.activation, exact=False, shifted=element.shifted)
            return UNKNOWN
        if qualified in ("copy.deepcopy", "copy.copy") and len(node.args) == 1:
            # `client_model = copy.deepcopy(global_model)`: the same model, or criterion.
            kinds = self._argument_kinds(node)
            first = kinds[0][0] if kinds[0] else UNKNOWN
            if isinstance(first, (ModelInstance, PatchedModel, SequentialModule, Criterion)):
                return first
            return UNKNOWN
        if qualified == "functools.partial" and len(node.args) == 1 and node.args:
            # `partial(F.cross_entropy, weight=w)`: keywords bound, still that loss.
            kinds = self._argument_kinds(node)
            first = kinds[0][0] if kinds[0] else UNKNOWN
            if isinstance(first, (Criterion, LossClass, ClassReference, FunctionReference)):
                return first
            return UNKNOWN
        if qualified in _MIXING_FUNCTIONS:
            # `torch.bmm(softmax(s), one_hot)`: probabilities mixed with other values.
            kinds = self._argument_kinds(node)
            mixed = [probability_activation(kind) for kind in kinds[0] or ()]
            activation = next((found for found in mixed if found is not None), None)
            return Mixture(activation) if activation is not None else UNKNOWN
        if qualified == "torch.round":
            argument = _argument(node, 0, "input")
            kinds = self._argument_kinds(node)
            if argument is not None and kinds[0]:
                self.flow.thresholds.append(Threshold(node, argument, kinds[0][0], self.name))
            return UNKNOWN
        if qualified in _CLAMP_FUNCTIONS:
            # `torch.clamp(p, eps, 1 - eps)`: like `p.clamp(...)`, still probabilities.
            argument = _argument(node, 0, "input")
            clamped = self.eval(argument) if argument is not None else UNKNOWN
            self._eval_arguments(node, skip=argument)
            if isinstance(clamped, Probs):
                return Probs(clamped.activation, exact=False, shifted=True)
            return UNKNOWN
        if qualified in names.LOG_FUNCTIONS:
            argument = _argument(node, 0, "input")
            self._note_parameter_site(argument)
            self._eval_arguments(node, skip=argument)
            return self._log_of(node, self.eval(argument) if argument is not None else UNKNOWN)
        return None

    def _eval_method(self, node: ast.Call, method: str, receiver: Kind) -> Kind:
        if isinstance(receiver, TupleKind) and method in ("append", "extend"):
            self._append(node, method, receiver)
            return UNKNOWN
        if isinstance(receiver, TupleKind) and method in _LIST_MUTATIONS:
            # `outputs.insert(0, logits)`: its items and their order are no longer known.
            func = node.func
            assert isinstance(func, ast.Attribute)
            self._eval_arguments(node)
            if isinstance(func.value, ast.Name):
                self.env[func.value.id] = self.flow.new_binding(UNKNOWN)
            return UNKNOWN
        if method in names.ACTIVATION_METHODS and not isinstance(receiver, (SelfReference,)):
            func = node.func
            assert isinstance(func, ast.Attribute)
            op = names.ACTIVATION_METHODS[method]
            self._eval_arguments(node)
            return self._make_activation(node, op, func.value, func, _argument(node, 0, "dim"))
        positional, keywords = self._argument_kinds(node)
        if method not in _FRAMEWORK_METHODS:
            # A method of a project class is followed like a function (`trainer.fit(model)`).
            target = (
                f"{receiver.class_key}.{method}" if isinstance(receiver, ModelInstance) else None
            )
            self._note_model_escape(node, positional, keywords, target)
        if method == "log":
            assert isinstance(node.func, ast.Attribute)
            self._note_parameter_site(node.func.value)
            return self._log_of(node, receiver)
        if method == "round" and not node.args and not node.keywords:
            func = node.func
            assert isinstance(func, ast.Attribute)
            self.flow.thresholds.append(Threshold(node, func.value, receiver, self.name))
        if method in ("forward", "__call__"):
            callee = receiver
            if isinstance(callee, (ModelInstance, SelfReference)):
                return self._apply(node, callee, already_evaluated=True)
        if isinstance(receiver, ModelInstance) and (
            # `trainer.train()` of a project class that defines `train`, not `nn.Module`'s.
            method not in _MODULE_PASSTHROUGH_METHODS
            or self.flow.find_method(receiver.class_key, method) is not None
        ):
            returned = self._call_method(node, receiver, method, positional, keywords)
            if returned is not None:
                return returned
        if isinstance(receiver, ModeSplit) and method in _PASSTHROUGH_METHODS:
            return receiver
        if isinstance(receiver, OneOf):
            if method in ("forward", "__call__"):
                return self._apply_choice(node, receiver)
            if method in _PASSTHROUGH_METHODS or method in _MODULE_PASSTHROUGH_METHODS:
                return receiver
        if isinstance(receiver, (Probs, LogProbs, Mixture)) and method in _PASSTHROUGH_METHODS:
            return receiver
        if isinstance(receiver, (LogProbs, Mixture)) and method in _AXIS_METHODS:
            return receiver
        if isinstance(receiver, Probs):
            if method in _AXIS_METHODS:
                # `p.transpose(1, 2)` for `nll_loss` over (N, C, L): the same values, the
                # class axis moved; a fix written on the softmax's `dim` would be wrong.
                return Probs(receiver.activation, exact=False, shifted=receiver.shifted)
            if method in ("clamp", "clamp_min", "clip"):
                return Probs(receiver.activation, exact=False, shifted=True)
            if method in ("mean", "sum", "prod", "bmm", "matmul", "mm"):
                # Averaged, or mixed with other values (`p.bmm(one_hot)`): a mixture.
                reduced = method in ("mean", "sum", "prod")
                return Mixture(receiver.activation, reduced=reduced)
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
        if isinstance(callee, OneOf):
            return self._apply_choice(node, callee)
        if isinstance(callee, LossClass):
            self._eval_arguments(node)
            return Criterion(callee.loss, node, is_function=False)
        if isinstance(callee, SequentialModule):
            argument = _argument(node, 0, "input")
            current = self.eval(argument) if argument is not None else UNKNOWN
            self._eval_arguments(node, skip=argument)
            return self._apply_sequential(callee, current, node)
        if not already_evaluated:
            positional, keywords = self._argument_kinds(node)
            if not _reads_nothing(node.func):
                target = None
                if isinstance(callee, FunctionReference):
                    target = callee.function_key
                elif isinstance(callee, MethodReference):
                    target = f"{callee.class_key}.{callee.method}"
                elif isinstance(callee, ClassReference):
                    target = f"{callee.class_key}.__init__"
                self._note_model_escape(node, positional, keywords, target)
            if isinstance(callee, FunctionReference):
                self._record_call_site(callee.function_key, False, positional, keywords, node)
            elif isinstance(callee, ModelInstance):
                self._record_call_site(
                    callee.class_key + ".forward", True, positional, keywords, node
                )
            elif isinstance(callee, MethodReference):
                self._record_call_site(
                    f"{callee.class_key}.{callee.method}", True, positional, keywords, node
                )
            elif isinstance(callee, ClassReference):
                # `Trainer(model, criterion)`: what `__init__` stores comes from here.
                self._record_call_site(
                    f"{callee.class_key}.__init__", True, positional, keywords, node
                )
        if isinstance(callee, ClassReference):
            record = self._record(callee, node)
            return record if record is not None else ModelInstance(callee.class_key)
        if isinstance(callee, MethodReference):
            found = self.flow.find_method(callee.class_key, callee.method)
            if found is None:
                return UNKNOWN
            flow, info, method = found
            return flow.summary(method, info).returns
        if isinstance(callee, (SelfReference, ModelInstance)):
            # A call through a base class reads each subclass's output: their fixes must
            # account for it.
            dispatched = self.flow.dispatched_classes(callee.class_key)
            for class_key in dict.fromkeys([callee.class_key, *dispatched]):
                others = tuple(key for key in dispatched if key != class_key)
                self.flow.record_model_call(ModelCall(class_key, node, self.name, others))
                self.flow.note_caller(class_key, self)
            return self.flow.own_forward_kind(callee.class_key)
        if isinstance(callee, PatchedModel):
            self.flow.record_model_call(ModelCall(callee.key, node, self.name))
            return _apply_op(callee.activation.op, callee.activation, UNKNOWN)
        if isinstance(callee, FunctionReference):
            returned = self.flow.function_returns(callee.function_key)
            if returned is UNKNOWN:
                function = self.flow.function_definition(callee.function_key)
                if function is not None:
                    made = _instantiated_member(function)
                    if made is not None:
                        module = _handed_back(made[0], function, node, self._argument_cache)
                        return self.flow.instance_of_member(module, made[1])
                    name = self.flow.returned_parameter(function)
                    return _handed_back(name, function, node, self._argument_cache)
            return returned
        if isinstance(callee, NestedFunction):
            self.flow.exec_nested_call(callee.node, node, self)
            name = self.flow.returned_parameter(callee.node)
            return _handed_back(name, callee.node, node, self._argument_cache)
        return UNKNOWN

    def _apply_choice(self, node: ast.Call, choice: OneOf) -> Kind:
        """Call each option of a run-time choice: every criterion checks the input, every
        model gives its output (a `OneOf` of outputs when they differ)."""
        argument = _argument(node, 0, "input")
        criteria = [option for option in choice.options if isinstance(option, Criterion)]
        evaluated: Kind | None = None
        if criteria:
            self._note_parameter_site(argument)
            evaluated = self.eval(argument) if argument is not None else UNKNOWN
            self._eval_arguments(node, skip=argument)
        # Criteria that are all the same loss (`nn.CrossEntropyLoss()` with or without
        # weights, chosen by a flag) are no choice for the input.
        one_loss = len({criterion.loss for criterion in criteria}) == 1
        results: list[Kind] = []
        labels: list[str] = []
        for index, option in enumerate(choice.options):
            label = choice.label(index)
            if isinstance(option, Criterion):
                if not one_loss or option is criteria[0]:
                    self._loss_call(node, option, evaluated, None if one_loss else label)
                continue
            if isinstance(option, LossClass):
                result: Kind = Criterion(option.loss, node, is_function=False)
            elif isinstance(option, ClassReference):
                result = ModelInstance(option.class_key)
            else:
                again = bool(results) or evaluated is not None
                if again and isinstance(option, FunctionReference):
                    # `getattr(module_loss, config["loss"])(output, target)`: each loss
                    # function of the choice learns its parameters from this call.
                    positional, keywords = self._argument_kinds(node, evaluated=True)
                    self._record_call_site(option.function_key, False, positional, keywords, node)
                result = self._apply(node, option, already_evaluated=again)
            results.append(result)
            labels.append(label)
        if not results:
            return UNKNOWN
        if all(same_kind(result, results[0]) for result in results):
            return results[0]
        return OneOf(tuple(results), tuple(labels))

    def _record_call_site(
        self,
        target: str,
        is_method: bool,
        positional: tuple[Kind, ...] | None,
        keywords: dict[str, Kind],
        node: ast.Call,
    ) -> None:
        site = CallSite(
            target,
            is_method,
            positional,
            keywords,
            node,
            self.flow.path,
            self.name,
            self.flow.module_name,
        )
        self.flow.record_call_site(site)

    def _call_method(
        self,
        node: ast.Call,
        instance: ModelInstance,
        method: str,
        positional: tuple[Kind, ...] | None,
        keywords: dict[str, Kind],
    ) -> Kind | None:
        """`model.run_epoch(loader, criterion)`: a method of a project model, called from
        outside; its parameters learn from this call like a function's."""
        found = self.flow.find_method(instance.class_key, method)
        if found is None:
            return None
        flow, info, function = found
        target = f"{flow.key(info.name)}.{method}"
        self._record_call_site(target, True, positional, keywords, node)
        # Read again when the method's result changes (`server.run()` returning what the
        # constructor stored, once its callers taught it).
        flow.note_caller(flow.key(info.name), self)
        returned = flow.summary(function, info).returns
        made = _instantiated_member(function) if returned is UNKNOWN else None
        if made is not None:
            # `config.init_obj("arch", module_arch)`: a member of the module it is given.
            bound = _bound_arguments(function, node, self.evaluated_argument, skip_receiver=True)
            return self.flow.instance_of_member(bound.get(made[0], UNKNOWN), made[1])
        return returned

    def _record(self, reference: ClassReference, node: ast.Call) -> Kind | None:
        """A plain data class (no `forward`): its fields keep the kinds they were given, so
        `Output(logits=softmax(z)).logits` is still the softmax."""
        info = self.flow.class_info(reference.class_key)
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

    def _argument_kinds(
        self, node: ast.Call, evaluated: bool = False
    ) -> tuple[tuple[Kind, ...] | None, dict[str, Kind]]:
        """The kinds of a call's arguments; positional None when `*args` hides positions.
        `evaluated`: the arguments were evaluated already (another option of a choice was
        called with them), so they are not read again."""
        positional: list[Kind] = []
        keywords: dict[str, Kind] = {}
        starred = False
        for arg in names.source_order_arguments(node):
            value = arg.value if isinstance(arg, (ast.keyword, ast.Starred)) else arg
            if evaluated:
                kind = self.evaluated_argument(value)
            else:
                kind = self.eval(value)
                self._argument_cache[id(value)] = kind
            if isinstance(arg, ast.Starred) or (isinstance(arg, ast.keyword) and arg.arg is None):
                starred = True
            elif isinstance(arg, ast.keyword):
                assert arg.arg is not None
                keywords[arg.arg] = kind
            else:
                positional.append(kind)
            if not evaluated and isinstance(value, ast.Name) and not isinstance(arg, ast.Starred):
                self._hand_over(value, kind)
        return (None if starred else tuple(positional)), keywords

    def _hand_over(self, name: ast.Name, kind: Kind) -> None:
        """A list handed to a call (`add_head(layers)`) may come back changed: what it holds
        afterwards is unknown. `f(*layers)` only reads it."""
        if isinstance(kind, TupleKind) and kind.mutable:
            self.env[name.id] = self.flow.new_binding(UNKNOWN)

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
                    sequential=sequential.constructor if sequential.positional else None,
                    element_index=index if sequential.positional else None,
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
        """Whether the expression is (an attribute or item of, or the same values reshaped:
        `output_cls.squeeze()`) an unknown parameter."""
        base = expression
        while True:
            if isinstance(base, (ast.Attribute, ast.Subscript, ast.Starred)):
                base = base.value
            elif (
                isinstance(base, ast.Call)
                and isinstance(base.func, ast.Attribute)
                and base.func.attr in _PASSTHROUGH_METHODS | _AXIS_METHODS
            ):
                base = base.func.value
            else:
                break
        if not isinstance(base, ast.Name) or not self.parameter_bindings:
            return False
        binding = self.env.get(base.id)
        return binding is not None and binding.id in self.parameter_bindings

    def _note_stored_parameter(self, receiver: SelfReference, attribute: str) -> None:
        """`self.model(x)` / `self.loss_op(p, y)` on an attribute that stores a parameter of
        a setter or the constructor: its callers decide what it holds (see
        `parameter_sites`)."""
        found = self.flow.class_owner(receiver.class_key)
        if found is not None and attribute in found[1].stored_parameters:
            flow, info = found
            flow.parameter_sites.add(info.stored_parameters[attribute] + FACTORY_MARK)

    def _note_parameter_site(self, expression: ast.expr | None) -> None:
        # A constructor calling a parameter builds a layer (`norm_layer(dim)`); what it
        # stores for later calls is noted where those calls are (`_note_stored_parameter`).
        constructing = self.function is not None and self.function.name == "__init__"
        if not constructing and self._from_parameter(expression):
            self.flow.parameter_sites.add(self.site_name)

    def _loss_call(
        self,
        node: ast.Call,
        criterion: Criterion,
        evaluated: Kind | None = None,
        chosen: str | None = None,
    ) -> Kind:
        """A loss called on its input; `evaluated` is the input's kind when another option of
        a run-time choice evaluated it already (`chosen` names the option)."""
        argument = _argument(node, 0, "input")
        if evaluated is None:
            self._note_parameter_site(argument)
            input_kind = self.eval(argument) if argument is not None else UNKNOWN
            self._eval_arguments(node, skip=argument)
        else:
            input_kind = evaluated
        if argument is None:
            return UNKNOWN
        if input_kind is UNKNOWN and self.calls_parameter:
            # `train(model, loader)` in a module whose callers are scripts that name no
            # activation or loss (`train.train(net, ...)`): they are read all the same.
            self.flow.parameter_sites.add(self.site_name + FACTORY_MARK)
        mode: str | None = None
        if isinstance(input_kind, ModeSplit):
            mode = self.mode
            input_kind = input_kind.in_mode(mode)
        options = input_kind.options if isinstance(input_kind, OneOf) else (input_kind,)
        for index, option in enumerate(options):
            label = chosen
            if isinstance(input_kind, OneOf):
                own = input_kind.label(index)
                label = f"{chosen}, {own}" if chosen else own
            if isinstance(option, Probs) and (mode is not None or label is not None):
                # Found on one arm or one option only: removing the activation is a
                # decision about the others too.
                option = Probs(option.activation, exact=False)
            if (
                len(options) > 1
                and probability_activation(option) is None
                and not isinstance(option, LogProbs)
            ):
                continue
            bindings = {name: binding.id for name, binding in self.env.items()}
            target = _argument(node, 1, "target")
            self.flow.record_loss(
                LossUse(
                    criterion.loss,
                    node,
                    argument,
                    option,
                    criterion,
                    self.name,
                    bindings,
                    target,
                    mode,
                    self.flow.route_to(self.name),
                    label,
                )
            )
        return UNKNOWN

    def _log_of(self, node: ast.Call, value: Kind) -> Kind:
        if isinstance(value, OneOf):
            return OneOf(
                tuple(self._log_of(node, option) for option in value.options), value.labels
            )
        if isinstance(value, Probs) and value.activation.op == names.SOFTMAX:
            bindings = {name: binding.id for name, binding in self.env.items()}
            self.flow.logs_of_probs.append(LogOfProbs(node, value, self.name, bindings))
            return LogProbs(value.activation, unstable=True)
        if isinstance(value, Mixture):
            return LogProbs(None, unstable=False)
        return UNKNOWN

    def _note_implicit_dim(self, node: ast.Call, op: str) -> None:
        self.flow.implicit_dims.setdefault(id(node), ImplicitDim(node, op))


_BUILTINS = frozenset(dir(builtins))

# Functions that join a list of tensors: along the rows (`cat` at dim 0) the probability
# rows stay what they were; `stack` adds an axis first.
_STACKING_FUNCTIONS = frozenset({"torch.stack", "torch.vstack", "torch.row_stack"})
_JOINING_FUNCTIONS = frozenset({"torch.cat", "torch.concat", "torch.concatenate"}) | (
    _STACKING_FUNCTIONS
)
# Attribute kinds a subclass that sets them otherwise would change a finding with.
_OVERRIDABLE = (
    ActivationModule,
    ActivationFunction,
    Criterion,
    LossClass,
    SequentialModule,
    ModelInstance,
    PatchedModel,
    OneOf,
)
# List methods other than `append`/`extend` that change what a list holds.
_LIST_MUTATIONS = frozenset({"insert", "remove", "pop", "sort", "reverse", "clear", "__setitem__"})
_CLAMP_FUNCTIONS = frozenset({"torch.clamp", "torch.clip", "torch.clamp_min"})
_MIXING_FUNCTIONS = frozenset({"torch.bmm", "torch.matmul", "torch.mm", "torch.einsum"})

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

# Methods that move axes: the values stay, the class axis may not.
_AXIS_METHODS = frozenset({"transpose", "permute", "movedim", "swapaxes", "swapdims", "t"})
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


def _item(base: Kind, index: ast.expr) -> Kind:
    """`base[index]` for a tuple, a dict or a registry, and for each option of a choice."""
    if isinstance(base, OneOf):
        items = tuple(_item(option, index) for option in base.options)
        if all(item is UNKNOWN for item in items):
            return UNKNOWN
        return OneOf(items, tuple(base.label(i) for i in range(len(base.options))))
    position = _integer(index)
    if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
        negated = _integer(index.operand)
        if isinstance(base, TupleKind) and negated is not None:
            position = len(base.items) - negated
    if isinstance(base, TupleKind) and position is not None:
        if base.open_start and not isinstance(index, ast.UnaryOp):
            return UNKNOWN  # counted from a start that is not known
        return base.items[position] if 0 <= position < len(base.items) else UNKNOWN
    if isinstance(base, DictKind):
        key = _string_value(index)
        if key is not None:
            return base.get(key)
        # `LOSSES[args.loss]`: any of the registry's entries.
        choice = choice_of([kind for _, kind in base.items])
        if isinstance(choice, OneOf):
            labels = [key for key, kind in base.items if kind is not UNKNOWN]
            return OneOf(
                choice.options, tuple(labels) if len(labels) == len(choice.options) else ()
            )
        return UNKNOWN
    if isinstance(base, (Probs, LogProbs)) and isinstance(index, (ast.Name, ast.Attribute)):
        # `out[mask]`, `out[idx]`: a selection of rows keeps what each row holds.
        return base
    return UNKNOWN


def _handed_back(
    name: str | None, function: FunctionNode, call: ast.Call, evaluated: dict[int, Kind]
) -> Kind:
    """The kind of the argument a function returns unchanged (`return model` after loading
    its weights); `name` is that parameter (`_returned_parameter`)."""
    if name is None:
        return UNKNOWN
    parameters = [*function.args.posonlyargs, *function.args.args]
    position = next((i for i, p in enumerate(parameters) if p.arg == name), None)
    argument: ast.expr | None = None
    if (
        position is not None
        and position < len(call.args)
        and not any(isinstance(a, ast.Starred) for a in call.args)
    ):
        argument = call.args[position]
    else:
        argument = next((k.value for k in call.keywords if k.arg == name), None)
    return evaluated.get(id(argument), UNKNOWN) if argument is not None else UNKNOWN


def _bound_arguments(
    function: FunctionNode,
    call: ast.Call,
    evaluated: Callable[[ast.expr], Kind],
    skip_receiver: bool = False,
) -> dict[str, Kind]:
    """Parameter name -> kind of the argument a call passes to it (positions and keywords;
    nothing past a `*args` at the call); `skip_receiver` for a method called on an instance."""
    parameters = [*function.args.posonlyargs, *function.args.args][1 if skip_receiver else 0 :]
    bound: dict[str, Kind] = {}
    for position, argument in enumerate(call.args):
        if isinstance(argument, ast.Starred) or position >= len(parameters):
            break
        bound[parameters[position].arg] = evaluated(argument)
    for keyword in call.keywords:
        if keyword.arg is not None:
            bound[keyword.arg] = evaluated(keyword.value)
    return bound


def _is_followed_argument(kind: Kind) -> bool:
    return isinstance(
        kind,
        (Probs, LogProbs, Mixture, ModelInstance, SequentialModule, PatchedModel, Criterion, OneOf),
    )


def _assigned_on_self(info: ClassInfo) -> frozenset[str]:
    """The attribute names the class's methods assign on their receiver (`self.x = ...`)."""
    found = info.assigned_on_self
    if found is None:
        names_found: set[str] = set()
        for function in info.methods.values():
            receiver = _receiver(function)
            for node in ast.walk(function):
                targets: list[ast.expr] = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                    targets = [node.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == receiver
                    ):
                        names_found.add(target.attr)
        found = frozenset(names_found)
        info.assigned_on_self = found
    return found


def _is_globals_registry(node: ast.DictComp) -> bool:
    """`{name: cls for name, cls in globals().items() if ...}`: the module's own names."""
    if len(node.generators) != 1:
        return False
    generator = node.generators[0]
    source = generator.iter
    if not (
        isinstance(source, ast.Call)
        and not source.args
        and isinstance(source.func, ast.Attribute)
        and source.func.attr == "items"
        and isinstance(source.func.value, ast.Call)
        and isinstance(source.func.value.func, ast.Name)
        and source.func.value.func.id == "globals"
        and not source.func.value.args
    ):
        return False
    target = generator.target
    bound = (
        [e.id for e in target.elts if isinstance(e, ast.Name)]
        if isinstance(target, ast.Tuple) and len(target.elts) == 2
        else []
    )
    read = [e.id for e in (node.key, node.value) if isinstance(e, ast.Name)]
    return len(bound) == 2 and read == bound


def _is_super_call(node: ast.expr) -> bool:
    """`super()` (or `super(Net, self)`)."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "super"
        and len(node.args) in (0, 2)
    )


def _instantiated_member(function: FunctionNode) -> tuple[str, str | None] | None:
    """A helper whose every return is `getattr(module, name)(...)` on a parameter `module`
    that nothing rebinds (`ConfigParser.init_obj`): that parameter, and `name` when it is a
    string constant."""
    parameters = {p.arg for p in [*function.args.posonlyargs, *function.args.args]}
    found: set[tuple[str, str | None]] = set()
    for node in _own_nodes(function):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            return None
        if not isinstance(node, ast.Return):
            continue
        value = node.value
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Call)):
            return None
        getter = value.func
        if not (
            isinstance(getter.func, ast.Name)
            and getter.func.id == "getattr"
            and len(getter.args) == 2
            and isinstance(getter.args[0], ast.Name)
            and getter.args[0].id in parameters
        ):
            return None
        found.add((getter.args[0].id, _string_value(getter.args[1])))
    if len(found) != 1:
        return None
    module, name = found.pop()
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and node.id == module and not isinstance(node.ctx, ast.Load):
            return None
    return module, name


def _returned_parameter(function: FunctionNode) -> str | None:
    """The parameter every return gives back unchanged, when nothing rebinds it."""
    returned: set[str] = set()
    for node in _own_nodes(function):
        if isinstance(node, ast.Return):
            if not isinstance(node.value, ast.Name):
                return None
            returned.add(node.value.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            return None
    if len(returned) != 1:
        return None
    name = returned.pop()
    parameters = {p.arg for p in [*function.args.posonlyargs, *function.args.args]}
    if name not in parameters:
        return None
    for node in _own_nodes(function):
        if isinstance(node, ast.Name) and node.id == name and not isinstance(node.ctx, ast.Load):
            return None
    return name


def _free_names(function: FunctionNode) -> set[str]:
    """The names a function reads without binding them itself: its closure and globals."""
    arguments = function.args
    bound = {
        argument.arg
        for argument in (
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *(a for a in (arguments.vararg, arguments.kwarg) if a is not None),
        )
    }
    read: set[str] = set()
    for node in _own_nodes(function):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (*FUNCTION_NODES, ast.ClassDef)):
            bound.add(node.name)
    return read - bound


def _own_nodes(function: FunctionNode) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions or classes defined inside."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (*FUNCTION_NODES, ast.ClassDef, ast.Lambda)):
                pending.append(child)


def _is_criterion(kind: Kind) -> bool:
    if isinstance(kind, OneOf):
        return any(_is_criterion(option) for option in kind.options)
    return isinstance(kind, (Criterion, LossClass))


def _registry_of(function: FunctionNode) -> str | None:
    """The module-level dict a factory looks its entry up in: `entry = REG[name]` (or
    `REG.get(name)`) then `return entry(...)`, or `return REG[name](...)`."""
    looked_up: dict[str, str] = {}
    registry: str | None = None
    for node in _own_nodes(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            source = _lookup_base(node.value)
            if isinstance(target, ast.Name) and source is not None:
                looked_up[target.id] = source
    for node in _own_nodes(function):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            callee = node.value.func
            base = looked_up.get(callee.id) if isinstance(callee, ast.Name) else None
            base = base or _lookup_base(callee)
            if base is None or (registry is not None and base != registry):
                return None
            registry = base
    return registry


def _lookup_base(node: ast.expr) -> str | None:
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
    ):
        return node.func.value.id
    return None


def _stores_into(function: FunctionNode, registry: str) -> bool:
    """Whether a function (its inner decorator included) stores into `registry[...]`."""
    return any(
        isinstance(node, ast.Subscript)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == registry
        for node in ast.walk(function)
    )


def _decorated(function: FunctionNode, name: str) -> bool:
    return any(names.dotted_name(item) == name for item in function.decorator_list)


def _receiver(function: FunctionNode) -> str | None:
    """The parameter a method receives its instance (or class) in: `self`, `cls`."""
    if _decorated(function, "staticmethod"):
        return None
    positional = [*function.args.posonlyargs, *function.args.args]
    return positional[0].arg if positional else None


def _module_value(node: ast.expr | None) -> ast.expr | None:
    """`model.to(device)`, `model.cuda()`: the module the call returns is `model`."""
    while (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _MODULE_PASSTHROUGH_METHODS
    ):
        node = node.func.value
    return node


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


def _mode_join(kinds: list[Kind], modes: list[str | None]) -> Kind:
    """What a function returns; a `ModeSplit` when its `if self.training:` arms return
    different kinds (a return outside the arms counts for a mode whose arm returns nothing)."""
    if all(mode is None for mode in modes):
        return _join_all(kinds)
    outside = [kind for kind, mode in zip(kinds, modes, strict=True) if mode is None]
    per_mode = []
    for wanted in (TRAINING, EVALUATION):
        inside = [kind for kind, mode in zip(kinds, modes, strict=True) if mode == wanted]
        per_mode.append(_join_all(inside or outside))
    training, evaluation = per_mode
    return training if same_kind(training, evaluation) else ModeSplit(training, evaluation)


def _training_test(test: ast.expr) -> str | None:
    """The mode whose arm is the `if` body: `self.training` -> training, `not self.training`
    -> evaluation; None for any other test."""
    negated = False
    while isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        negated = not negated
        test = test.operand
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        if isinstance(right, ast.Constant) and isinstance(right.value, bool):
            if isinstance(test.ops[0], (ast.Eq, ast.Is)):
                negated ^= not right.value
            elif isinstance(test.ops[0], (ast.NotEq, ast.IsNot)):
                negated ^= right.value
            else:
                return None
            test = test.left
    if not (
        isinstance(test, ast.Attribute)
        and test.attr == "training"
        and isinstance(test.value, ast.Name)
        and test.value.id == "self"
    ):
        return None
    return EVALUATION if negated else TRAINING


def _mode_switch(call: ast.expr) -> str | None:
    """`model.eval()` / `model.train()` / `model.train(False)` as a statement."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    if call.func.attr == "eval" and not call.args and not call.keywords:
        return EVALUATION
    if call.func.attr == "train" and not call.keywords and len(call.args) <= 1:
        if call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value is False:
            return EVALUATION
        return TRAINING
    return None


_EVALUATING_WORDS = frozenset(
    {
        "val",
        "valid",
        "validate",
        "validation",
        "eval",
        "evaluate",
        "evaluation",
        "test",
        "testing",
        "inference",
    }
)


def _evaluates(function_name: str) -> bool:
    """A function named for validation or testing runs the model in eval mode."""
    return any(word in _EVALUATING_WORDS for word in function_name.lower().split("_"))


def _join_all(kinds: list[Kind]) -> Kind:
    """What a function returns over all its returns: their kind when they agree, a choice
    between models or criteria (`get_criterion(cfg)` returning one of two partials)."""
    if not kinds:
        return UNKNOWN
    first = kinds[0]
    if all(kind is first for kind in kinds):
        return first
    return choice_of(kinds)


def _join_envs(envs: list[Env], flow: ModuleFlow) -> Env:
    """The names bound on every path; a name whose paths bound it differently gets a new
    binding, of their kind when they agree on it, a `OneOf` when the paths chose between
    models or criteria, else UNKNOWN."""
    if not envs:
        return {}
    first, others = envs[0], envs[1:]
    joined: Env = {}
    for name, binding in first.items():
        same_binding = same_kind = True
        kinds = [binding.kind]
        for env in others:
            other = env.get(name)
            if other is None:
                break
            kinds.append(other.kind)
            if other is not binding and other.id != binding.id:
                same_binding = False
                same_kind = same_kind and other.kind is binding.kind
        else:
            if same_binding:
                joined[name] = binding
            elif same_kind:
                joined[name] = flow.new_binding(binding.kind)
            elif (grown := _grown(kinds)) is not None:
                joined[name] = flow.new_binding(grown)
            else:
                joined[name] = flow.new_binding(choice_of(kinds))
    # A name bound on some paths only (`if args.model == "mlp": net = MLP()` with no
    # `else`): code that reads it ran one of those paths, or stopped with a NameError.
    for name in sorted({name for env in envs for name in env} - joined.keys()):
        present = [env[name].kind for env in envs if name in env]
        choice = choice_of(present)
        if isinstance(choice, OneOf):
            joined[name] = flow.new_binding(choice)
    return joined


def _common_probabilities(kinds: Sequence[Kind]) -> Kind | None:
    """The probabilities every one of `kinds` is (one activation's output), else None."""
    first = kinds[0] if kinds else None
    if not isinstance(first, Probs):
        return None
    if all(isinstance(k, Probs) and _same_fields(k.activation, first.activation) for k in kinds):
        return first
    return None


def _integer_argument(node: ast.Call, position: int, keyword: str) -> int | None:
    """The integer constant a call passes (0 when nothing is passed: `torch.cat`'s default)."""
    argument = _argument(node, position, keyword)
    return 0 if argument is None else _integer(argument)


def _grown(kinds: Sequence[Kind]) -> Kind | None:
    """A list or dict that some paths grew (a loop that appends layers): what every path
    starts with, then an unknown number of unknown items. None when the paths disagree on
    more than that."""
    if all(isinstance(kind, TupleKind) and not kind.open_start for kind in kinds):
        sequences = [kind.items for kind in kinds if isinstance(kind, TupleKind)]
        shortest = min(sequences, key=len)
        if all(sequence[: len(shortest)] == shortest for sequence in sequences):
            appended = [item for sequence in sequences for item in sequence[len(shortest) :]]
            element = _common_probabilities([*shortest, *appended])
            return TupleKind((*shortest, UNKNOWN), element=element)
        return None
    if all(isinstance(kind, DictKind) for kind in kinds):
        dicts = [kind.items for kind in kinds if isinstance(kind, DictKind)]
        first = min(dicts, key=len)
        if all(items[: len(first)] == first for items in dicts):
            return DictKind((*first, (UNKNOWN_KEY, UNKNOWN)))
    return None


def choice_of(kinds: Sequence[Kind]) -> Kind:
    """The join of models or criteria chosen on different paths: a `OneOf` of the options
    (a path that left the name unknown adds none), else UNKNOWN."""
    options: list[Kind] = []
    for kind in kinds:
        for option in kind.options if isinstance(kind, OneOf) else (kind,):
            if option is UNKNOWN:
                continue
            if not isinstance(option, _CHOOSABLE):
                return UNKNOWN
            if not any(same_kind(option, known) for known in options):
                options.append(option)
    return OneOf(tuple(options)) if options else UNKNOWN


def _terminates(body: Sequence[ast.stmt]) -> bool:
    """Whether a block always leaves by `raise`, `return`, `continue` or `break`."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (ast.Raise, ast.Return, ast.Continue, ast.Break)):
        return True
    if isinstance(last, ast.If) and last.orelse:
        return _terminates(last.body) and _terminates(last.orelse)
    return False


# What an attribute may hold that a call applies (`cfg.loss(out, y)`).
_CALLABLE_MEMBERS = (
    Criterion,
    OneOf,
    ActivationModule,
    ActivationFunction,
    SequentialModule,
    ModelInstance,
    PatchedModel,
    LossClass,
    FunctionReference,
)

# What a run-time choice may hold: a model or a criterion (a registry of loss classes too).
_CHOOSABLE = (
    ModelInstance,
    PatchedModel,
    # `model = nn.Sequential(..., nn.Softmax())` in both arms of `if is_nonlinear:`.
    SequentialModule,
    Criterion,
    LossClass,
    ClassReference,
    FunctionReference,
)

# Kinds worth carrying from call sites into a function's parameters.
_PROPAGATED = (
    Criterion,
    ModelInstance,
    # `test_hyper_parameters(model_cls=GRU)` then `model = model_cls(**args)`.
    ClassReference,
    # `Trainer(model, criterion=nn.CrossEntropyLoss)` then `criterion(size_average=False)`.
    LossClass,
    PatchedModel,
    # `model = nn.Sequential(..., nn.Softmax(dim=1))` then `train(model, ...)`.
    SequentialModule,
    Probs,
    LogProbs,
    Mixture,
    TupleKind,
    DictKind,
    RecordKind,
    ModeSplit,
    OneOf,
)


def _abstract(function: FunctionNode) -> bool:
    """A method left to subclasses: its body only raises, passes or is `...` (after a
    docstring)."""
    body = [
        statement
        for statement in function.body
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
    ]
    return all(isinstance(statement, (ast.Raise, ast.Pass)) for statement in body)


# The key of an item set under a key the analysis cannot read (`layers[f"{i}_lin"] = ...`).
UNKNOWN_KEY = "\0"
MAX_REFINEMENT_ROUNDS = 6
# Nested functions followed from their calls, one inside another.
MAX_NESTED_CALL_DEPTH = 3
# Appended to a parameter site (`get_criterion()`, `Trainer.__init__()`) whose callers hand
# over or receive a model or a criterion built elsewhere: they need not name an activation
# or a loss themselves (`migrate.analysis.selection.callers_of`).
FACTORY_MARK = "()"
# How far up a chain of project base classes a method is looked for.
MAX_BASE_DEPTH = 8


def refine_parameters(flows: Sequence[ModuleFlow]) -> None:
    """Parameters are UNKNOWN unless annotated; where every call site in the analyzed files
    passes the same kind (a criterion, a model, a model's output), interpret the function
    again with that kind. Repeated until nothing changes (a few rounds at most), so a model
    and a criterion handed down `main -> train -> train_epoch -> step` reach the step; an
    attribute a setter or a caller filled in is read again by the methods that use it."""
    applied: dict[int, dict[str, Kind]] = {}
    for _ in range(MAX_REFINEMENT_ROUNDS):
        changed = False
        sites: dict[str, list[CallSite]] = {}
        for flow in flows:
            for site in flow.call_sites:
                sites.setdefault(site.target, []).append(site)
        by_module = {flow.module_name: flow for flow in flows}
        for target, calls in sites.items():
            module_name, _, rest = target.rpartition(".")
            is_method = calls[0].is_method
            class_name = ""
            if is_method:
                module_name, _, class_name = module_name.rpartition(".")
            target_flow = by_module.get(module_name)
            if target_flow is None:
                continue
            owner = target_flow.classes.get(class_name) if is_method else None
            function = (
                owner.methods.get(rest) if owner is not None else target_flow.functions.get(rest)
            )
            if function is None or (is_method and owner is None):
                continue
            agreed = _agreed_parameters(function, calls, is_method)
            if agreed and not _same_parameters(agreed, applied.get(id(function))):
                applied[id(function)] = agreed
                target_flow.taught_by[target] = calls[0]
                target_flow.summary(function, owner, agreed)
                changed = True
        for flow in flows:
            for info in flow.classes.values():
                # Once per round: a reader that teaches the attribute again waits for the next.
                attributes, info.changed = info.changed, set()
                readers = {
                    id(reader): entry
                    for attribute in attributes
                    for reader, entry in (
                        (entry[1], entry) for entry in info.readers.get(attribute, {}).values()
                    )
                }
                for reader_flow, reader, reader_owner in readers.values():
                    before = reader_flow.returns_of(reader)
                    reader_flow.resummarize(reader, reader_owner)
                    changed = True
                    if reader_owner is not None and not same_kind(
                        before, reader_flow.returns_of(reader)
                    ):
                        _reinterpret_callers(reader_owner)
        if not changed:
            return


def _reinterpret_callers(info: ClassInfo) -> None:
    """The class's `forward` now gives something else: the code calling its instances reads
    it again (a script's loop on a wrapper model whose constructor was just taught)."""
    for caller_flow, caller, caller_owner in list(info.callers.values()):
        if caller is None:
            caller_flow.rerun_module()
        else:
            caller_flow.resummarize(caller, caller_owner)


def _same_parameters(new: dict[str, Kind], old: dict[str, Kind] | None) -> bool:
    if old is None or new.keys() != old.keys():
        return False
    return all(same_kind(kind, old[name]) for name, kind in new.items())


def _agreed_parameters(
    function: FunctionNode, calls: list[CallSite], is_method: bool
) -> dict[str, Kind]:
    params = [*function.args.posonlyargs, *function.args.args]
    if is_method:
        params = params[1:]
    keyword_only = [param.arg for param in function.args.kwonlyargs]
    agreed: dict[str, Kind] = {}
    for position, name in enumerate([*(param.arg for param in params), *keyword_only]):
        by_position = position < len(params)
        kinds: list[Kind] = []
        for call in calls:
            if call.positional is None:
                return {}
            if by_position and position < len(call.positional):
                kinds.append(call.positional[position])
            elif name in call.keywords:
                kinds.append(call.keywords[name])
            else:
                kinds.append(UNKNOWN)
        first = kinds[0]
        if isinstance(first, _PROPAGATED) and all(same_kind(kind, first) for kind in kinds):
            agreed[name] = first
        elif len(probs := [kind for kind in kinds if isinstance(kind, Probs)]) == len(
            kinds
        ) and all(_same_fields(kind.activation, probs[0].activation) for kind in probs):
            # The same softmax, handed over whole here and as rows (`p[:n]`) there.
            exact = all(kind.exact for kind in probs)
            shifted = any(kind.shifted for kind in probs)
            agreed[name] = Probs(probs[0].activation, exact=exact, shifted=shifted)
        elif (models := _models_of(kinds, unknown_allowed=True)) is not None:
            # `train_model(model, ...)` called with a GRU here and an LSTM there: each model
            # is a path the run takes, followed like a run-time choice (found, never fixed).
            agreed[name] = models
    return agreed


def _models_of(kinds: Sequence[Kind], unknown_allowed: bool = False) -> Kind | None:
    """The model instances that `kinds` may be (one, or a choice of several), or None when
    one of them is not a model instance. With `unknown_allowed`, unknown values are one more
    option of the choice (the callers we cannot see), so each known model is still followed
    for a finding while no fix is offered."""
    distinct: list[Kind] = []
    unknown = False
    for kind in kinds:
        options = kind.options if isinstance(kind, OneOf) else (kind,)
        for option in options:
            if option is UNKNOWN and unknown_allowed:
                unknown = True
                continue
            if not isinstance(option, ModelInstance):
                return None
            if not any(same_kind(option, seen) for seen in distinct):
                distinct.append(option)
    if not distinct:
        return None
    if unknown:
        distinct.append(UNKNOWN)
    return distinct[0] if len(distinct) == 1 else OneOf(tuple(distinct))
