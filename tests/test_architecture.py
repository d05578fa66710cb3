"""The package's shape: no import cycles, and rules see the analysis through one door.

Every import counts, also those under `TYPE_CHECKING` and inside functions: a cycle hidden
that way is still two modules that cannot be understood one without the other.
"""

import ast
from pathlib import Path, PurePath

from migrate.analysis.graph import ProjectGraph

ROOT = Path(__file__).resolve().parent.parent


def _graph() -> ProjectGraph:
    files = [*ROOT.joinpath("migrate").rglob("*.py"), *ROOT.joinpath("rules").glob("*.py")]
    texts = {
        PurePath(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in files
        if "_shim" not in path.parts  # the sandbox's sitecustomize is not part of the package
    }
    return ProjectGraph(texts)


def _module_edges(graph: ProjectGraph) -> dict[str, set[str]]:
    """Module -> the modules it imports, leaving out a package's own `__init__` reached
    only on the way to one of its modules (`from migrate.x import y` runs `migrate/__init__`
    first, which is not a dependency on what `__init__` defines)."""
    edges: dict[str, set[str]] = {}
    for path in graph.texts:
        name = graph.module_name(path)
        targets: set[str] = set()
        for imported in graph.imported(path):
            module = imported.module
            if graph.path_of(module) is None:
                continue
            submodules = [n for n in imported.names if graph.path_of(f"{module}.{n}") is not None]
            if imported.names and len(submodules) == len(imported.names):
                continue  # `from migrate import names`: the edge is to `migrate.analysis.names`
            targets.add(module)
        edges[name] = {target for target in targets if target != name}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for following in sorted(edges.get(node, ())):
            if following not in index:
                visit(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycles() -> None:
    assert _cycles(_module_edges(_graph())) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The fix planners that rules call (`migrate.fixing.units` is the gate, which reads imports
# through the graph, not the analysis's results).
_RULE_SIDE = (
    "rules.",
    "migrate.fixing.edits",
    "migrate.fixing.readers",
    "migrate.fixing.loss_path",
)


def test_rules_read_the_analysis_only_through_its_api() -> None:
    graph = _graph()
    reached: dict[str, set[str]] = {}
    for path in graph.texts:
        name = graph.module_name(path)
        if not name.startswith(_RULE_SIDE):
            continue
        for imported in graph.imported(path):
            known = graph.path_of(imported.module) is not None
            if known and imported.module.startswith("migrate.analysis"):
                reached.setdefault(name, set()).add(imported.module)
    assert reached, "no rule imports the analysis: the test reads the wrong files"
    beyond = {
        name: modules - {"migrate.analysis", "migrate.analysis.api"}
        for name, modules in reached.items()
    }
    assert {name: modules for name, modules in beyond.items() if modules} == {}


def _prints(tree: ast.Module) -> bool:
    """Whether the module writes to the terminal itself: `print`, `typer.echo`,
    `sys.stdout.write` / `sys.stderr.write`, a rich console's `print`."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print":
            return True
        if isinstance(func, ast.Attribute):
            owner = func.value
            owner_name = (
                owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            )
            if func.attr == "echo" and owner_name == "typer":
                return True
            if func.attr == "write" and owner_name in ("stdout", "stderr"):
                return True
    return False


def test_only_the_output_package_prints() -> None:
    graph = _graph()
    printing = {
        graph.module_name(path)
        for path, text in graph.texts.items()
        if not graph.module_name(path).startswith("migrate.output") and _prints(ast.parse(text))
    }
    # The verify child talks to its parent over stdout (a JSON protocol), not to a person.
    assert printing <= {"migrate.verify.child.__main__"}
