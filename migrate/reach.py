"""Could an activation's output reach a loss in this file? A coarse answer from `ast`, cheap.

The screen asks it of every file that passes the token tests, before any libcst parse. Each
value is abstracted to a few flags: may it hold probabilities, may it be a criterion, what
may calling it give, and where its unknown parts came from (an imported name, a parameter,
an activation applied here). Functions are read statement by statement; branches join; loops
run twice; a class's `self.` attributes come from all of its methods.

It over-approximates the engine's flow (`migrate/flow.py`), and mirrors what the engine can
and cannot learn, so that "no" here means the engine has nothing to find:

- a library call (`nn.Linear(...)(x)`, `torch.cat`) gives nothing the engine follows;
- a parameter is unknown only where the engine learns it from call sites (module-level
  functions and `forward`); elsewhere only its annotation or default counts;
- calling a parameter is not a loss site: it is a criterion only when a caller hands one
  over, and that caller built it here or in its own file (a criterion handed on, returned
  or stored keeps the file, and names the module it is handed to);
- a log of a parameter matters only when a caller may hand it an activation's output (in
  this file: `parameter_logs` is confirmed here; in another file: by the selection);
- base classes are not read (the engine reads none), dict keys carry nothing.

When the engine learns to follow more, this must follow too: `tests/test_selection.py` runs
the engine on every file of every case and fixture project and compares.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

ACTIVATION_FUNCTIONS = frozenset({"softmax", "sigmoid", "log_softmax", "expit"})
ACTIVATION_CLASSES = frozenset({"Softmax", "Sigmoid", "LogSoftmax"})
LOSS_FUNCTIONS = frozenset(
    {"cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits", "nll_loss"}
)
LOSS_CLASSES = frozenset({"CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss"})
_CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_WRAPPERS = frozenset({"DataParallel", "DistributedDataParallel", "compile"})
# Modules whose functions return nothing the engine follows (apart from the names above).
LIBRARY_ROOTS = frozenset({"torch", "math", "numpy", "builtins", "typing", "functools", "os"})
_BUILTINS = frozenset(dir(builtins))
# `try`, and `try ... except*` where the running Python has it (3.11 and later).
TRY_STATEMENTS: tuple[type[ast.stmt], ...] = (
    ast.Try,
    *([ast.TryStar] if hasattr(ast, "TryStar") else []),
)
_LOSS_LIKE = re.compile(r"loss|criterion|crit", re.IGNORECASE)


@dataclass(frozen=True)
class Value:
    """What an expression may hold, and what calling it may give."""

    probs: bool = False  # an activation's output, or anything unknown
    criterion: bool = False  # calling it computes a loss
    call_probs: bool = False  # calling it may give probabilities (a model, an activation)
    call_criterion: bool = False  # calling it may give a criterion (a loss class, a factory)
    # A criterion (or loss class) named in this file: handed on, another file may call it.
    local_loss: bool = False
    # Where an unknown part came from: names imported from project modules, or PARAMETER
    # (a caller), or ELSEWHERE (anything: every import and every caller may matter).
    sources: frozenset[str] = frozenset()

    def join(self, other: Value) -> Value:
        if self == other:
            return self
        return Value(
            self.probs or other.probs,
            self.criterion or other.criterion,
            self.call_probs or other.call_probs,
            self.call_criterion or other.call_criterion,
            self.local_loss or other.local_loss,
            self.sources | other.sources,
        )

    def called(self) -> Value:
        """What calling it gives: a loss class builds a criterion, a criterion gives a loss
        value (nothing to follow), a model or unknown callable gives anything."""
        return Value(
            probs=self.call_probs,
            criterion=self.call_criterion,
            call_probs=self.call_probs,
            call_criterion=self.call_probs and self.call_criterion,
            local_loss=self.local_loss and self.call_criterion,
            sources=self.sources,
        )


PARAMETER = "<parameter>"
ELSEWHERE = "<elsewhere>"
ESCAPE = "<escape>"
# A softmax (or log-softmax) / a sigmoid applied in this file. The engine reports a log only
# of a softmax's output; a loss of either.
SOFTMAX_APPLIED = "<softmax>"
SIGMOID_APPLIED = "<sigmoid>"
_MARKERS = frozenset({PARAMETER, ELSEWHERE, ESCAPE, SOFTMAX_APPLIED, SIGMOID_APPLIED})
CLEAN = Value()


def unknown(source: str) -> Value:
    """A value this file cannot see: anything at all, coming from `source`."""
    return Value(True, True, True, True, sources=frozenset({source}))


ANYTHING = unknown(ELSEWHERE)
_SIGMOIDS = frozenset({"sigmoid", "expit", "Sigmoid"})


def probabilities(activation: str) -> Value:
    """The output of `activation` (a function, method or module name)."""
    marker = SIGMOID_APPLIED if activation in _SIGMOIDS else SOFTMAX_APPLIED
    return Value(probs=True, sources=frozenset({marker}))


def activation(name: str) -> Value:
    """An activation function or module: calling it gives its output."""
    return Value(call_probs=True, sources=probabilities(name).sources)


CRITERION = Value(criterion=True, local_loss=True)
LOSS_CLASS = Value(call_criterion=True, local_loss=True)


@dataclass(frozen=True)
class _Library:
    """A library module (`torch`, `F`, `nn`) or a name imported from one."""

    name: str


@dataclass(frozen=True)
class _Self:
    """The first parameter of a method: `self.x` reads what the class stored there."""


_SELF = _Self()


@dataclass(frozen=True, eq=False)
class _Class:
    """A class this module defines, and the scope it was defined in."""

    node: ast.ClassDef
    scope: _Scope


Binding = Value | _Library | _Self | _Class


@dataclass
class Reach:
    """What the screen needs to know about one file."""

    loss_site: bool = False  # a loss may get probabilities, or a criterion is handed on
    log_site: bool = False  # a log may be taken of probabilities
    # Where what reached those sites came from (see Value.sources); ESCAPE for a criterion
    # handed on (the code that calls it is elsewhere).
    sources: set[str] = field(default_factory=set)
    # The top-level classes and functions that hold a site ("" for the module's own code).
    definitions: set[str] = field(default_factory=set)
    # Where the values handed to calls came from: a site fed by a parameter gets what the
    # callers in this file pass.
    passed: set[str] = field(default_factory=set)
    # Definitions that take the log of a parameter, when no caller in this file hands them
    # an activation's output: a site only if a caller elsewhere may.
    parameter_logs: set[str] = field(default_factory=set)
    # Imported names a criterion built here is handed to (their modules may call it).
    receivers: set[str] = field(default_factory=set)
    # False when every site was fed only by names imported from project modules: then the
    # sites matter only if one of those modules hands out an activation's output.
    unconditional: bool = False


def reach(tree: ast.Module, loss_lines: frozenset[int] | None = None) -> Reach:
    """`loss_lines`: the lines that name a loss, when the caller already knows them (the
    screen does); found here otherwise."""
    result = Reach()
    if loss_lines is None:
        loss_lines = frozenset(
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, (ast.Name, ast.Attribute)) and _loss_name(node)
        )
    module = _Module(tree, result, loss_lines)
    module.run()
    # A log of a parameter takes probabilities only if a caller passes them: one in this
    # file hands an activation's output to project code; callers in other files are found
    # by the selection (`parameter_logs` is left for it).
    if module.parameter_logs and SOFTMAX_APPLIED in result.passed:
        result.log_site = True
        result.unconditional = True
        result.sources.add(PARAMETER)
        result.definitions |= module.parameter_logs
    else:
        result.parameter_logs = module.parameter_logs
    return result


class _Module:
    def __init__(self, tree: ast.Module, result: Reach, loss_lines: frozenset[int]) -> None:
        self.tree = tree
        self.result = result
        self.loss_lines = loss_lines
        self.globals: dict[str, Binding] = {}
        self.forwards: dict[ast.ClassDef, Value] = {}
        self.current_definition = ""
        # Definitions that take the log of a parameter (see `reach`).
        self.parameter_logs: set[str] = set()

    def instance(self, defined: _Class) -> Value:
        """An instance of a class of this module: calling it runs its forward."""
        loss_base = any(_mentions_loss(base) for base in defined.node.bases)
        returned = self.forward_returns(defined)
        return Value(
            probs=True,
            criterion=loss_base,
            call_probs=returned.probs,
            call_criterion=loss_base,
            sources=returned.sources,
        )

    def forward_returns(self, defined: _Class) -> Value:
        node = defined.node
        if node not in self.forwards:
            self.forwards[node] = ANYTHING  # while it is being read: a recursive model
            attributes = _ClassAttributes(defined.scope, node)
            forward = attributes.method("forward") or attributes.method("__call__")
            if forward is None:
                # Inherited: the engine reads no base class, so it sees nothing here either.
                self.forwards[node] = CLEAN
                return CLEAN
            attributes.collect()
            self.forwards[node] = defined.scope.function(forward, attributes, report=False)
        return self.forwards[node]

    def function_value(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Value:
        """A function of this module: calling it may give anything, and a criterion when it
        names a loss (a factory)."""
        end = node.end_lineno or node.lineno
        names_loss = any(node.lineno <= line <= end for line in self.loss_lines)
        return Value(call_probs=True, call_criterion=names_loss)

    def run(self) -> None:
        scope = _Scope(self, None, self.globals, at_module_level=True)
        scope.block(self.tree.body)
        # Branches and loops rebind the scope's environment: the module's names are those
        # at the end of its body.
        self.globals = scope.env
        for statement in _definitions(self.tree.body):
            assert isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            self.current_definition = statement.name
            scope.definition(statement)


def _definitions(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Function and class definitions of a block, nested in control flow too."""
    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield statement
        elif not isinstance(statement, (ast.Expr, ast.Assign, ast.Return, ast.Import)):
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                inner = getattr(statement, field, None)
                if isinstance(inner, list):
                    for item in inner:
                        if isinstance(item, (ast.ExceptHandler, ast.match_case)):
                            yield from _definitions(item.body)
                        elif isinstance(item, ast.stmt):
                            yield from _definitions([item])


def _mentions_loss(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Name, ast.Attribute)) and _loss_name(n) for n in ast.walk(node))


def _loss_name(node: ast.Name | ast.Attribute) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr
    return name in LOSS_CLASSES or name in LOSS_FUNCTIONS


class _Scope:
    """One function body (or the module's, or a class's) read in statement order."""

    def __init__(
        self,
        module: _Module,
        owner: _ClassAttributes | None,
        env: dict[str, Binding],
        at_module_level: bool = False,
        report: bool = True,
    ) -> None:
        self.module = module
        self.owner = owner
        self.env = env
        self.at_module_level = at_module_level
        self.report = report
        self.returned = CLEAN

    # -- statements --------------------------------------------------------------------------

    def block(self, body: list[ast.stmt]) -> None:
        for statement in body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                self.eval(decorator)
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    self.eval(base)
                self.env[node.name] = _Class(node, self)
            else:
                self.env[node.name] = self.module.function_value(node)
            if not self.at_module_level:
                self.definition(node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".", 1)[0]
                bound = alias.asname or root
                self.env[bound] = _Library(alias.name) if root in LIBRARY_ROOTS else unknown(bound)
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".", 1)[0]
            for alias in node.names:
                bound = alias.asname or alias.name
                from_library = node.level == 0 and root in LIBRARY_ROOTS
                self.env[bound] = _imported(alias.name, bound, from_library)
        elif isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AnnAssign):
            self.eval(node.annotation)
            if node.value is not None:
                self.assign(node.target, self.eval(node.value))
        elif isinstance(node, ast.AugAssign):
            value = self.eval(node.value).join(self.eval(node.target))
            self.assign(node.target, value)
        elif isinstance(node, (ast.Return, ast.Expr)):
            if node.value is not None:
                value = self.eval(node.value)
                if isinstance(node, ast.Return):
                    self.returned = self.returned.join(value)
                    if value.local_loss:
                        self.escape()
        elif isinstance(node, ast.If):
            self.eval(node.test)
            self.branches([node.body, node.orelse])
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.assign(node.target, self.eval(node.iter))
            self.loop(node.body, node.orelse)
        elif isinstance(node, ast.While):
            self.eval(node.test)
            self.loop(node.body, node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.eval(item.context_expr)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, value)
            self.block(node.body)
        elif isinstance(node, TRY_STATEMENTS):
            tried = cast(ast.Try, node)  # `try ... except*` has the same fields
            before = dict(self.env)
            self.block(tried.body)
            self.block(tried.orelse)
            for handler in tried.handlers:
                self.env = _join(self.env, before)
                if handler.type is not None:
                    self.eval(handler.type)
                if handler.name:
                    self.env[handler.name] = CLEAN
                self.block(handler.body)
            self.env = _join(self.env, before)
            self.block(tried.finalbody)
        elif isinstance(node, ast.Match):
            self.eval(node.subject)
            self.branches([case.body for case in node.cases] + [[]])
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child)

    def branches(self, bodies: list[list[ast.stmt]]) -> None:
        before = self.env
        joined: dict[str, Binding] | None = None
        for body in bodies:
            self.env = dict(before)
            self.block(body)
            joined = self.env if joined is None else _join(joined, self.env)
        self.env = joined if joined is not None else before

    def loop(self, body: list[ast.stmt], orelse: list[ast.stmt]) -> None:
        # Twice, so a value assigned late in the body is seen at its top on the next turn.
        for _ in range(2):
            before = dict(self.env)
            self.block(body)
            self.env = _join(self.env, before)
        self.block(orelse)

    def assign(self, target: ast.expr, value: Value) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = value
            if self.at_module_level and value.local_loss:
                self.escape()  # a module-level criterion may be imported elsewhere
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.assign(element, value)
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value)
        elif isinstance(target, ast.Attribute):
            base = self.lookup(target.value.id) if isinstance(target.value, ast.Name) else None
            if isinstance(base, _Self) and self.owner is not None:
                self.owner.store(target.attr, value)
            else:
                self.eval(target.value)
            if value.local_loss:
                self.escape()
        elif isinstance(target, ast.Subscript):
            self.eval(target.slice)
            if isinstance(target.value, ast.Name):
                current = self.lookup(target.value.id)
                if isinstance(current, Value):
                    self.env[target.value.id] = current.join(value)
            else:
                self.eval(target.value)
            if value.local_loss:
                self.escape()

    def definition(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ClassDef):
            _ClassAttributes(self, node).run()
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(node, None)

    def function(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        owner: _ClassAttributes | None,
        report: bool = True,
    ) -> Value:
        """Read a function's body; what its returns may hold."""
        env = {} if self.at_module_level else dict(self.env)
        arguments = node.args
        positional = [*arguments.posonlyargs, *arguments.args]
        defaults: dict[str, Value] = {}
        for positional_argument, default in zip(
            reversed(positional), reversed(arguments.defaults), strict=False
        ):
            defaults[positional_argument.arg] = self.eval(default)
        for keyword_argument, keyword_default in zip(
            arguments.kwonlyargs, arguments.kw_defaults, strict=True
        ):
            if keyword_default is not None:
                defaults[keyword_argument.arg] = self.eval(keyword_default)
        # The engine learns a parameter's kind from its call sites only for module-level
        # functions and `forward` (other methods keep theirs unknown), and from an annotation
        # or a default anywhere.
        refined = owner is None or node.name == "forward"
        for argument in [*positional, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
            if argument is None:
                continue
            value = unknown(PARAMETER) if refined else CLEAN
            if argument.annotation is not None:
                value = value.join(self.annotation(argument.annotation))
            if argument.arg in defaults:
                value = value.join(defaults[argument.arg])
            env[argument.arg] = value
        is_static = any(
            isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")
            for d in node.decorator_list
        )
        if owner is not None and positional and not is_static:
            env[positional[0].arg] = _SELF
        body = _Scope(self.module, owner, env, report=report and self.report)
        body.block(node.body)
        return body.returned

    def annotation(self, node: ast.expr) -> Value:
        """What the engine makes of an annotation: a loss class gives a criterion, a project
        class a model; anything else (`torch.Tensor`, `int`, a string) nothing."""
        if isinstance(node, ast.Subscript):  # `Optional[Net]`: the engine reads no subscript
            return CLEAN
        binding = self.eval_binding(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if isinstance(binding, _Class):
            return self.module.instance(binding)
        if binding == LOSS_CLASS:
            return CRITERION
        if isinstance(binding, Value) and binding.sources - _MARKERS:
            # A project class: the engine makes a model of it (a criterion only when the
            # class is a loss, which its name then says).
            name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
            loss_like = bool(_LOSS_LIKE.search(name))
            return Value(
                probs=True,
                criterion=loss_like,
                call_probs=True,
                call_criterion=loss_like,
                sources=binding.sources - _MARKERS,
            )
        return CLEAN

    # -- expressions -------------------------------------------------------------------------

    def lookup(self, name: str) -> Binding:
        if name in self.env:
            return self.env[name]
        if name in self.module.globals:
            return self.module.globals[name]
        if name in _BUILTINS:
            return CLEAN
        known = _torch_name(name)  # `from torch.nn.functional import *`
        return known if known is not None else unknown(name)  # or a global set elsewhere

    def eval(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            binding = self.lookup(node.id)
            return _as_value(binding)
        if isinstance(node, ast.Attribute):
            return _as_value(self.attribute(node))
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Constant):
            return CLEAN
        if isinstance(node, ast.Lambda):
            inner = dict(self.env)
            arguments = node.args
            for argument in [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]:
                if argument is not None:
                    inner[argument.arg] = unknown(PARAMETER)
            _Scope(self.module, self.owner, inner, report=self.report).eval(node.body)
            return CLEAN
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner_scope = _Scope(self.module, self.owner, dict(self.env), report=self.report)
            for generator in node.generators:
                inner_scope.assign(generator.target, inner_scope.eval(generator.iter))
                for condition in generator.ifs:
                    inner_scope.eval(condition)
            if isinstance(node, ast.DictComp):
                return inner_scope.eval(node.key).join(inner_scope.eval(node.value))
            return inner_scope.eval(node.elt)
        if isinstance(node, ast.NamedExpr):
            value = self.eval(node.value)
            self.assign(node.target, value)
            return value
        if isinstance(node, ast.Dict):
            # The engine keeps a dict's values by string key; a key carries nothing on.
            for key in node.keys:
                if key is not None:
                    self.eval(key)
            return _joined(self.eval(value) for value in node.values)
        if isinstance(node, ast.IfExp):
            self.eval(node.test)
            return self.eval(node.body).join(self.eval(node.orelse))
        if isinstance(node, ast.Subscript):
            self.eval(node.slice)
            return self.eval(node.value)  # a selection keeps what the rows hold
        if isinstance(node, (ast.Compare, ast.BoolOp, ast.UnaryOp, ast.JoinedStr)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.eval(child)
            return CLEAN
        # Containers, subscripts, arithmetic, conditionals: whatever any part may hold.
        value = CLEAN
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                value = value.join(self.eval(child))
            elif isinstance(child, ast.comprehension):  # pragma: no cover - handled above
                value = value.join(self.eval(child.iter))
        return value

    def attribute(self, node: ast.Attribute) -> Binding:
        base = self.eval_binding(node.value)
        if isinstance(base, _Library):
            return _library_member(node.attr)
        if isinstance(base, _Self):
            return self.owner.load(node.attr) if self.owner is not None else ANYTHING
        if node.attr in ACTIVATION_FUNCTIONS:
            return activation(node.attr)  # `x.softmax` (bound method) or a module attribute
        if isinstance(base, Value) and base.local_loss and not base.probs:
            return CLEAN  # `loss_fct.ignore_index`: a setting of a criterion built here
        return base

    def eval_binding(self, node: ast.expr) -> Binding:
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        return self.eval(node)

    def call(self, node: ast.Call) -> Value:
        func = node.func
        receiver: Value | None = None
        if isinstance(func, ast.Attribute):
            base = self.eval_binding(func.value)
            if isinstance(base, _Library):
                callee: Binding = _library_member(func.attr)
            elif isinstance(base, _Self):
                callee = self.owner.load(func.attr) if self.owner is not None else ANYTHING
            else:
                receiver = _as_value(base)
                callee = CLEAN
        else:
            callee = self.eval_binding(func)
        arguments = [self.eval(arg) for arg in node.args]
        keywords = {keyword.arg: self.eval(keyword.value) for keyword in node.keywords}
        passed = [*arguments, *keywords.values()]
        first = _first_argument(node, arguments, keywords)
        if self.report and not isinstance(callee, _Library):
            # Project code (a function, a model, a parameter): not a library module's call.
            handed_to = receiver if receiver is not None else _as_value(callee)
            if handed_to.call_probs or isinstance(callee, _Class):
                self.hand_over(passed)
        if any(value.local_loss for value in passed):
            # A criterion built here, handed to code that may call it (in another module,
            # when the callee was imported).
            handed_to = receiver if receiver is not None else _as_value(callee)
            self.escape()
            if self.report:
                self.module.result.receivers |= handed_to.sources - _MARKERS
        if receiver is not None:
            assert isinstance(func, ast.Attribute)
            return self.method(func.attr, receiver, first)
        if isinstance(callee, _Class):
            return self.module.instance(callee)
        if isinstance(callee, _Library):
            if callee.name == "log":
                self.log_call(first)
                return Value(probs=first.probs)
            if callee.name in _CONTAINERS:
                return _joined(passed)
            if callee.name in _WRAPPERS:
                return first
            return CLEAN  # the engine follows no other library call
        value = _as_value(callee)
        # A parameter is a criterion only when a caller hands one over: that caller built it
        # (a loss named in its file, where the handing over keeps the file, see `escape`).
        if value.criterion and value.sources != {PARAMETER}:
            self.loss_call(first)
        return value.called()

    def method(self, name: str, receiver: Value, first: Value) -> Value:
        if name in ACTIVATION_FUNCTIONS:
            return probabilities(name)
        if name == "log":
            self.log_call(receiver)
            return Value(probs=receiver.probs)
        if name == "forward":
            if receiver.criterion:
                self.loss_call(first)
            return receiver.called()
        # `.to(device)`, `.view(-1)`, `.clamp(min=eps)`: whatever the receiver holds.
        return receiver

    # -- what the screen is after ------------------------------------------------------------

    def loss_call(self, argument: Value) -> None:
        if self.report and argument.probs:
            self.module.result.loss_site = True
            self.note(argument.sources)

    def log_call(self, argument: Value) -> None:
        if not self.report or not argument.probs:
            return
        if argument.sources == {SIGMOID_APPLIED}:
            return  # the engine reports a log of a softmax's output, not of a sigmoid's
        if argument.sources == {PARAMETER}:
            self.module.parameter_logs.add(self.module.current_definition)
            return
        self.module.result.log_site = True
        self.note(argument.sources)

    def escape(self) -> None:
        if self.report:
            self.module.result.loss_site = True
            self.note(frozenset({ESCAPE}))

    def hand_over(self, passed: list[Value]) -> None:
        """Values handed to project code (for logs of parameters, see `reach`)."""
        for value in passed:
            self.module.result.passed |= value.sources

    def note(self, sources: frozenset[str]) -> None:
        self.module.result.sources |= sources
        if not sources or sources & _MARKERS:
            self.module.result.unconditional = True
        self.module.result.definitions.add(self.module.current_definition)


class _ClassAttributes:
    """What a class stores on `self`, read from all of its methods (twice: an attribute may
    be built from another), then its methods read once more for sites."""

    def __init__(self, scope: _Scope, node: ast.ClassDef) -> None:
        self.scope = scope
        self.node = node
        self.attributes: dict[str, Value] = {}
        self.returns: dict[str, Value] = {}
        self.collected = False
        self.methods = {
            item.name
            for item in node.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        }

    def method(self, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for item in self.node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name:
                return item
        return None

    def collect(self) -> None:
        """The attributes, without reporting sites (the class's own reading does that)."""
        for method in self._methods():
            self.scope.function(method, self, report=False)
        self.collected = True

    def method_returns(self, name: str) -> Value:
        if name in self.returns:
            return self.returns[name]
        method = self.method(name)
        if method is None:
            return ANYTHING
        self.returns[name] = ANYTHING  # while it is being read: a recursive method
        returned = self.scope.function(method, self, report=False)
        if self.collected:
            self.returns[name] = returned  # final once every attribute is known
        else:
            del self.returns[name]
        return returned

    def _methods(self) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
        return [
            item
            for item in self.node.body
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
        ]

    def run(self) -> None:
        body_scope = _Scope(
            self.scope.module, None, dict(self.scope.env) if not self.scope.at_module_level else {}
        )
        body_scope.report = self.scope.report
        for item in self.node.body:
            if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                body_scope.statement(item)
        for name, binding in body_scope.env.items():
            if isinstance(binding, Value):
                self.store(name, binding)
                if binding.local_loss:
                    body_scope.escape()
        self.collect()
        for method in self._methods():
            self.scope.function(method, self)
        for item in self.node.body:
            if isinstance(item, ast.ClassDef):
                _ClassAttributes(self.scope, item).run()

    def store(self, name: str, value: Value) -> None:
        self.attributes[name] = self.attributes.get(name, CLEAN).join(value)

    def load(self, name: str) -> Value:
        if name in self.attributes:
            return self.attributes[name]
        if name in self.methods:
            # `self.helper(x)`: the engine reads the method's returns (its parameters stay
            # unknown), and so does this.
            returned = self.method_returns(name)
            return Value(
                call_probs=returned.probs,
                call_criterion=returned.criterion or returned.local_loss,
                sources=returned.sources,
            )
        # Set by a base class, or not at all: the engine reads no base class (it knows
        # only what this class's own `__init__` stores), so it follows nothing from here.
        return CLEAN


def _imported(name: str, bound: str, from_library: bool) -> Binding:
    if from_library:
        return _library_member(name)
    if name in ACTIVATION_FUNCTIONS or name in ACTIVATION_CLASSES:
        return unknown(bound)
    # Calling an imported class or function is never a loss call to the engine (it follows
    # the function or builds the model); what it returns may be a criterion (a factory),
    # unless it is a class whose name does not say loss.
    returns_criterion = bool(_LOSS_LIKE.search(name)) or not name[:1].isupper()
    return Value(
        probs=True,
        call_probs=True,
        call_criterion=returns_criterion,
        sources=frozenset({bound}),
    )


def _library_member(name: str) -> Binding:
    known = _torch_name(name)
    return known if known is not None else _Library(name)


def _torch_name(name: str) -> Value | None:
    """An activation or a loss spelled by its torch name; None for any other name."""
    if name in ACTIVATION_FUNCTIONS or name in ACTIVATION_CLASSES:
        return activation(name)
    if name in LOSS_FUNCTIONS:
        return CRITERION
    if name in LOSS_CLASSES:
        return LOSS_CLASS
    return None


def _as_value(binding: Binding) -> Value:
    if isinstance(binding, Value):
        return binding
    if isinstance(binding, _Class):
        loss_base = any(_mentions_loss(base) for base in binding.node.bases)
        return Value(call_probs=True, call_criterion=loss_base)
    if isinstance(binding, _Self):
        return Value(probs=True, call_probs=True)  # the model itself
    return CLEAN  # a library module or function, as a value


def _first_argument(
    node: ast.Call, arguments: list[Value], keywords: dict[str | None, Value]
) -> Value:
    if any(isinstance(arg, ast.Starred) for arg in node.args) or None in keywords:
        return _joined([*arguments, *keywords.values()])
    if arguments:
        return arguments[0]
    return keywords.get("input", CLEAN)


def _joined(values: Iterable[Value]) -> Value:
    result = CLEAN
    for value in values:
        result = result.join(value)
    return result


def _join(first: dict[str, Binding], second: dict[str, Binding]) -> dict[str, Binding]:
    joined = dict(first)
    for name, binding in second.items():
        current = joined.get(name)
        if current is None or current == binding:
            joined[name] = binding
        elif isinstance(current, Value) and isinstance(binding, Value):
            joined[name] = current.join(binding)
        else:
            joined[name] = ANYTHING
    return joined
