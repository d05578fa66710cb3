"""A fast first look at each file with the standard `ast` module, before any libcst parse.

libcst parses about twenty times slower than `ast`. For a `check` (MC2xx rules) most files of
a large tree cannot contribute to a finding: no loss in them can get probabilities (see
`migrate/reach.py`), they apply no softmax without `dim` and take no log of one. Token tests
come first (`worth_parsing`), so most files are not even parsed with `ast`; the screen then
finds the files that might have a finding, and the selection (`migrate/selection.py`) adds
their neighbours (the modules they import that return an activation, the files that call
into them). It over-approximates: a file it keeps may still have no finding.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from migrate.reach import (
    ACTIVATION_CLASSES,
    ACTIVATION_FUNCTIONS,
    LOSS_CLASSES,
    LOSS_FUNCTIONS,
    TRY_STATEMENTS,
    Reach,
    reach,
)

ACTIVATION_NAMES = ACTIVATION_FUNCTIONS | ACTIVATION_CLASSES
LOSS_NAMES = LOSS_CLASSES | LOSS_FUNCTIONS
_DIMLESS = frozenset({"softmax", "log_softmax", "Softmax", "LogSoftmax"})


_LOSS_TOKENS = ("ross_entropy", "rossEntropy", "BCE", "nll_loss", "NLLLoss")
_SOFTMAX_CALL = re.compile(r"oftmax\s*\(")
_LOG_WORD = re.compile(r"\blog\b")
_ACTIVATION_WORDS = ("oftmax", "igmoid", "expit")


def names_activation(text: str) -> bool:
    """The file spells a softmax or a sigmoid somewhere."""
    return any(word in text for word in _ACTIVATION_WORDS)


def names_loss(text: str) -> bool:
    """The file spells a loss somewhere (code, comment or string)."""
    return any(token in text for token in _LOSS_TOKENS)


def worth_parsing(text: str) -> bool:
    """Cheap token tests: whether the `ast` screen could find anything in this file. It can
    only when the file names a loss, or names a softmax and a log, or calls a softmax whose
    parentheses may hold no `dim`."""
    if names_loss(text):
        return True
    if "oftmax" not in text:
        return False
    if _LOG_WORD.search(text):
        return True
    return any(_may_lack_dim(text, match.end()) for match in _SOFTMAX_CALL.finditer(text))


def _may_lack_dim(text: str, start: int) -> bool:
    """The text of a call's arguments, from just after its `(`: False only when it surely
    passes `dim=` or a second positional argument (strings and comments may fool the
    bracket count; then it answers True)."""
    depth = 0
    top_level: list[str] = []
    piece_start = start
    for position in range(start, min(len(text), start + 2000)):
        character = text[position]
        if character in "([{":
            depth += 1
        elif character in ")]}":
            if depth == 0:
                top_level.append(text[piece_start:position])
                break
            depth -= 1
        elif character == "," and depth == 0:
            top_level.append(text[piece_start:position])
            piece_start = position + 1
    else:
        return True
    arguments = [piece.strip() for piece in top_level if piece.strip()]
    if any(piece.startswith("*") for piece in arguments):
        return True
    if any(re.match(r"dim\s*=(?!=)", piece) for piece in arguments):
        return False
    positional = [piece for piece in arguments if not re.match(r"\w+\s*=(?!=)", piece)]
    return len(positional) < 2 and not (positional and _is_class_call(text, start))


def _is_class_call(text: str, start: int) -> bool:
    """`Softmax(1)`: for the module the first argument is `dim`."""
    head = text[max(0, start - 20) : start]
    return re.search(r"(?<![\w.])(?:\w+\.)*(?:Log)?Softmax\s*\($", head) is not None


@dataclass(frozen=True)
class Definition:
    """A top-level class or function: its lines (decorators included) and the names it uses."""

    name: str
    first_line: int
    last_line: int
    uses: frozenset[str]


@dataclass(frozen=True)
class Screen:
    """What the first look found in one file."""

    syntax_error: tuple[int, int, str] | None = None  # line, column, message
    # A loss may get probabilities here, or a criterion built here is handed on.
    loss_site: bool = False
    local_site: bool = False  # a softmax without dim, or a log that may be of a softmax
    returns_activation: bool = False
    # A class's `forward` returns one: its callers read what a fix would change.
    forward_returns_activation: bool = False
    # What it imports, for resolving to files: (module, name, bound name); `("..a", "n", "m")`
    # for `from ..a import n as m`, `("a.b", "", "a")` for `import a.b`.
    import_targets: frozenset[tuple[str, str, str]] = frozenset()
    # Where what reached a loss or a log came from (`migrate.reach.Value.sources`), and the
    # top-level definitions that hold those sites.
    site_sources: frozenset[str] = frozenset()
    site_definitions: frozenset[str] = frozenset()
    # Where the values this file hands to calls came from (`migrate.reach.Reach.passed`).
    passed_sources: frozenset[str] = frozenset()
    # Definitions taking the log of a parameter that no caller in this file feeds an
    # activation: they matter only if a caller in another file may.
    parameter_logs: frozenset[str] = frozenset()
    # Imported names this file hands a criterion it built (`migrate.reach.Reach.receivers`).
    criterion_receivers: frozenset[str] = frozenset()
    # Every site was fed only by names imported from project modules (and there is no
    # softmax without `dim`): the file matters only if one of them hands out an activation.
    conditional: bool = False
    # Names that appear in a `return` (a factory returns the model class it imports).
    returned_names: frozenset[str] = frozenset()
    # The top-level definitions that hold a softmax without `dim`, or return an activation.
    dimless_definitions: frozenset[str] = frozenset()
    returning_definitions: frozenset[str] = frozenset()
    # Every top-level class and function: where it is and which names it uses (to cut a
    # large file down to the definitions that matter, see `migrate.selection`).
    outline: tuple[Definition, ...] = ()

    @property
    def matters(self) -> bool:
        return self.syntax_error is not None or self.loss_site or self.local_site


def screen_source(source: str, look_for_sites: bool = True) -> Screen:
    """The first look at one file. `look_for_sites=False` for a module reached only as a
    possible provider (what it imports and returns is enough): no reach analysis."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return Screen(syntax_error=(error.lineno or 1, error.offset or 1, str(error.msg)))
    except (RecursionError, MemoryError, ValueError) as error:
        return Screen(syntax_error=(1, 1, f"{type(error).__name__}: {error}"))
    if not look_for_sites and not names_activation(source):
        return _passing_screen(tree, source)
    walk = _Walk()
    for statement in tree.body:
        owner = ""
        if isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            owner = statement.name
        uses: set[str] = set()
        for node in ast.walk(statement):
            walk.look_at(node, owner, uses)
        if owner:
            assert isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            first = min([statement.lineno, *(d.lineno for d in statement.decorator_list)])
            last = statement.end_lineno or statement.lineno
            walk.outline.append(Definition(owner, first, last, frozenset(uses)))
    worth_reaching = look_for_sites and (walk.activation_lines or names_loss(source))
    reached = reach(tree, frozenset(walk.loss_lines)) if worth_reaching else Reach()
    returning = [
        (owner, function)
        for owner, function in walk.functions
        if _may_return_activation(function, walk.activation_lines, walk.activation_attributes)
        and _function_returns_activation(function, walk.activation_attributes)
    ]
    return Screen(
        loss_site=reached.loss_site and names_loss(source),
        local_site=bool(walk.dimless) or reached.log_site,
        returns_activation=bool(returning),
        forward_returns_activation=any(f.name in ("forward", "__call__") for _, f in returning),
        import_targets=frozenset(walk.targets),
        site_sources=frozenset(reached.sources),
        site_definitions=frozenset(reached.definitions),
        passed_sources=frozenset(reached.passed),
        parameter_logs=frozenset(reached.parameter_logs),
        criterion_receivers=frozenset(reached.receivers),
        conditional=not reached.unconditional and not walk.dimless,
        returned_names=frozenset(walk.returned),
        dimless_definitions=frozenset(walk.dimless),
        returning_definitions=frozenset(owner for owner, _ in returning),
        outline=tuple(walk.outline),
    )


@dataclass
class _Walk:
    """What the screen collects in one walk over a module."""

    dimless: set[str] = field(default_factory=set)  # top-level owners of such a call
    activation_lines: set[int] = field(default_factory=set)
    activation_attributes: set[str] = field(default_factory=set)
    targets: set[tuple[str, str, str]] = field(default_factory=set)
    functions: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = field(
        default_factory=list
    )
    returned: set[str] = field(default_factory=set)
    outline: list[Definition] = field(default_factory=list)
    loss_lines: set[int] = field(default_factory=set)

    def look_at(self, node: ast.AST, owner: str, uses: set[str]) -> None:
        if isinstance(node, ast.Name):
            uses.add(node.id)
        if isinstance(node, ast.Return) and node.value is not None:
            self.returned.update(n.id for n in ast.walk(node.value) if isinstance(n, ast.Name))
        if isinstance(node, ast.Import):
            self.targets.update(
                (alias.name, "", alias.asname or alias.name.split(".", 1)[0])
                for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level + (node.module or "")
            self.targets.update(
                (prefix, alias.name, alias.asname or alias.name) for alias in node.names
            )
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.functions.append((owner, node))
        elif isinstance(node, (ast.Name, ast.Attribute)):
            spelled = node.id if isinstance(node, ast.Name) else node.attr
            if spelled in ACTIVATION_NAMES:
                self.activation_lines.add(node.lineno)
            elif spelled in LOSS_NAMES:
                self.loss_lines.add(node.lineno)
        elif isinstance(node, ast.Call):
            name = called_name(node.func)
            if name in _DIMLESS and _without_dim(node, name):
                self.dimless.add(owner)
        elif isinstance(node, ast.Assign) and _builds_activation(node.value):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    self.activation_attributes.add(target.attr)


_RETURN_LINE = re.compile(r"^[ \t]*return\b(.*)$", re.M)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _passing_screen(tree: ast.Module, source: str) -> Screen:
    """A module that spells no activation, reached on the way to a provider (a factory, a
    package re-exporting a model): only what it imports and the names it returns matter,
    and those are read without walking the whole tree."""
    walk = _Walk()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            walk.look_at(statement, "", set())
        elif isinstance(statement, (ast.If, ast.With, *TRY_STATEMENTS)):
            pending.extend(getattr(statement, "body", []))
            pending.extend(getattr(statement, "orelse", []))
            pending.extend(getattr(statement, "finalbody", []))
            for handler in getattr(statement, "handlers", []):
                pending.extend(handler.body)
    returned = {name for line in _RETURN_LINE.findall(source) for name in _IDENTIFIER.findall(line)}
    return Screen(
        import_targets=frozenset(walk.targets),
        returned_names=frozenset(returned),
    )


def _may_return_activation(
    function: ast.FunctionDef | ast.AsyncFunctionDef, lines: set[int], attributes: set[str]
) -> bool:
    """Only a function that spells an activation (or may call a stored one) can return it."""
    if attributes:
        return True
    end = function.end_lineno or function.lineno
    return any(function.lineno <= line <= end for line in lines)


def called_name(func: ast.expr) -> str | None:
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
        name = called_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name in ACTIVATION_NAMES:
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
        if called_name(func) in ACTIVATION_NAMES:
            return True
        if isinstance(func, ast.Attribute):
            if func.attr in attributes:
                return True
            return _is_activation_value(func.value, attributes, variables)
        return any(
            _is_activation_value(keyword.value, attributes, variables) for keyword in value.keywords
        )
    return False
