"""The project graph: which file is which module, and which files each file imports.

Built once per run. Selection, the index, batches and migration units all ask it; nothing
else resolves an import. Imports are read without parsing the whole file: each `import` /
`from ... import` statement is cut out of the text (parenthesised and continued lines
included) and parsed on its own with `ast`, so a file that is never analysed costs a scan.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import PurePath

# The start of an import statement at a line start (any indentation); and, rarer, after a
# `;` or a `:` on the same line (`if lazy: import x`), looked for only when the text has one.
_IMPORT_START = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]|import[ \t]+\w)", re.M)
_INLINE_IMPORT_START = re.compile(r"(?<=[;:])[ \t]*(?:from[ \t]+[\w.]|import[ \t]+\w)")
_INLINE_HINT = re.compile(r"[;:][ \t]*(?:from|import)[ \t]")
_MAX_STATEMENT = 5000


@dataclass(frozen=True)
class Imported:
    """One imported module: its absolute dotted name, and the names taken from it (empty
    for `import a.b`, `("*",)` for a star import)."""

    module: str
    names: tuple[str, ...]
    bound: tuple[str, ...]  # the local names bound by the statement


def module_name_for(path: PurePath, package_dirs: Iterable[PurePath] = ()) -> str:
    """`pkg/sub/mod.py` -> `pkg.sub.mod`, walking up while folders hold `__init__.py`
    (a `src/` layout gives `pkg.mod`: `src` is not a package)."""
    packages = set(package_dirs)
    parts = [path.stem] if path.stem != "__init__" else []
    folder = path.parent
    while folder in packages and folder != folder.parent:
        parts.insert(0, folder.name)
        folder = folder.parent
    return ".".join(parts) or path.stem


def package_root(path: PurePath, package_dirs: Iterable[PurePath] = ()) -> PurePath:
    """The folder a module's dotted name starts from: the first folder above its packages
    (a script run from there finds its siblings)."""
    packages = set(package_dirs)
    folder = path.parent
    while folder in packages and folder != folder.parent:
        folder = folder.parent
    return folder


# A module name that starts with a folder: `{lessons/02}.train`. Scripts in different folders
# often share a name (`train.py`, `model.py` in each lesson or experiment); Python finds each
# script's siblings first, and so does the analysis.
FOLDER_OPEN, FOLDER_CLOSE = "{", "}"


def folder_scope(module: str) -> str:
    """`{lessons/02}.train` -> `{lessons/02}`; "" for a module without a folder."""
    head = module.split(".", 1)[0]
    return head if head.startswith(FOLDER_OPEN) and head.endswith(FOLDER_CLOSE) else ""


def import_candidates(module: str, importer: str) -> list[str]:
    """The names an absolute import `module` may denote from `importer`: a sibling of a
    script in its own folder first, then the module as named."""
    scope = folder_scope(importer)
    return [f"{scope}.{module}", module] if scope and module else [module]


def _scoped_names(names: dict[PurePath, str], package_dirs: set[PurePath]) -> dict[PurePath, str]:
    """Names made unique: when top-level modules of different folders share a name, every
    top-level script of those folders (and each colliding package) is named with its folder."""
    roots = {path: package_root(path, package_dirs) for path in names}
    tops: dict[str, set[PurePath]] = {}
    for path, name in names.items():
        tops.setdefault(name.split(".", 1)[0], set()).add(roots[path])
    colliding = {top for top, folders in tops.items() if len(folders) > 1}
    # Folders whose top-level scripts are scoped: one of their scripts collides.
    scoped_folders = {
        roots[path]
        for path, name in names.items()
        if "." not in name and path.parent == roots[path] and name in colliding
    }
    scoped: dict[PurePath, str] = {}
    for path, name in names.items():
        root = roots[path]
        is_script = "." not in name and path.parent == root and path.name != "__init__.py"
        if (is_script and root in scoped_folders) or name.split(".", 1)[0] in colliding:
            token = root.as_posix().replace(".", "_")
            scoped[path] = f"{FOLDER_OPEN}{token}{FOLDER_CLOSE}.{name}"
        else:
            scoped[path] = name
    return scoped


def _path_aliases(module_names: Mapping[PurePath, str]) -> dict[str, str]:
    """Dotted paths that name exactly one file of the run, mapped to its module name:
    `src.models.train` for `src/models/train.py` when `src/models/` has no `__init__.py`
    (a namespace package, or a folder put on `sys.path` by a script)."""
    found: dict[str, set[str]] = {}
    for path, name in module_names.items():
        parts = [*path.parent.parts, path.stem] if path.stem != "__init__" else [*path.parent.parts]
        parts = [part for part in parts if part not in ("", ".", "/")]
        for start in range(len(parts)):
            dotted = ".".join(parts[start:])
            if dotted and dotted != name and all(part.isidentifier() for part in parts[start:]):
                found.setdefault(dotted, set()).add(name)
    taken = set(module_names.values())
    return {
        dotted: next(iter(names))
        for dotted, names in found.items()
        if len(names) == 1 and dotted not in taken
    }


def absolute_module(module: str, level: int, importer: str, importer_is_package: bool) -> str:
    """`from ..a import b` in `pkg.sub.mod` -> `pkg.a`: the one place a relative import is
    resolved. A package's `__init__` is named after the package, so it climbs one level less.
    Returns "" when the dots climb above the top package."""
    if level == 0:
        return module
    parts = importer.split(".") if importer else []
    keep = len(parts) - (level - 1 if importer_is_package else level)
    if keep < 0:
        return ""
    return ".".join(part for part in (*parts[:keep], module) if part)


def import_statements(text: str) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of the text, at any depth, parsed with `ast`: all of them in
    one parse when they can be, else one by one (an `import` word inside a string)."""
    starts = [match.start() for match in _IMPORT_START.finditer(text)]
    if _INLINE_HINT.search(text):
        starts = sorted({*starts, *(m.start() for m in _INLINE_IMPORT_START.finditer(text))})
    pieces = [_statement_text(text, start).strip() for start in starts]
    if not pieces:
        return []
    try:
        return _imports_of(ast.parse("\n".join(pieces)))
    except SyntaxError:
        found: list[ast.Import | ast.ImportFrom] = []
        for piece in pieces:
            try:
                found.extend(_imports_of(ast.parse(piece)))
            except SyntaxError:
                continue  # `from the data import ...` in a docstring, or a broken line
        return found


def _imports_of(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    return [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def _statement_text(text: str, start: int) -> str:
    """From `start` to the end of the logical line: through parentheses and `\\` endings,
    stopping at `;` or a comment outside them."""
    depth = 0
    position = start
    end = min(len(text), start + _MAX_STATEMENT)
    while position < end:
        character = text[position]
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
        elif character == "\\" and text[position + 1 : position + 2] == "\n":
            position += 2
            continue
        elif character == "#":
            newline = text.find("\n", position)
            if depth == 0 or newline < 0:
                return text[start:position]
            position = newline
            continue
        elif character in ";\n" and depth <= 0:
            return text[start:position]
        position += 1
    return text[start:position]


def imported_modules(
    statements: Iterable[ast.Import | ast.ImportFrom], importer: str, importer_is_package: bool
) -> list[Imported]:
    """The absolute modules the statements import. `from X import n` lists X (for n)
    and X.n (n may be a submodule)."""
    imported: list[Imported] = []
    for statement in statements:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                local = alias.asname or alias.name.split(".")[0]
                imported.append(Imported(alias.name, (), (local,)))
            continue
        base = absolute_module(
            statement.module or "", statement.level, importer, importer_is_package
        )
        if not base and statement.level:
            continue
        names = tuple(alias.name for alias in statement.names)
        bound = tuple(alias.asname or alias.name for alias in statement.names)
        if base:
            imported.append(Imported(base, names, bound))
        for alias in statement.names:
            if alias.name != "*":
                submodule = f"{base}.{alias.name}" if base else alias.name
                imported.append(Imported(submodule, (), (alias.asname or alias.name,)))
    return imported


class ProjectGraph:
    """Files and modules of one run, with resolved import edges both ways."""

    def __init__(
        self, texts: Mapping[PurePath, str], packages_outside: Iterable[PurePath] = ()
    ) -> None:
        """`packages_outside`: folders that hold an `__init__.py` the run does not read (the
        run was given `pkg/client.py pkg/nets`, not `pkg/__init__.py`); names stay those of
        the project."""
        self.texts = texts
        package_dirs = {path.parent for path in texts if path.name == "__init__.py"}
        package_dirs |= set(packages_outside)
        self.module_names: dict[PurePath, str] = _scoped_names(
            {path: module_name_for(path, package_dirs) for path in texts}, package_dirs
        )
        self.paths_by_module: dict[str, PurePath] = {}
        for path in sorted(texts):
            self.paths_by_module.setdefault(self.module_names[path], path)
        self.aliases = _path_aliases(self.module_names)
        self._imports: dict[PurePath, frozenset[PurePath]] = {}

    def module_name(self, path: PurePath) -> str:
        return self.module_names[path]

    def path_of(self, module: str) -> PurePath | None:
        return self.paths_by_module.get(module)

    def imported(self, path: PurePath) -> list[Imported]:
        """What the file imports, resolved to absolute module names."""
        return imported_modules(
            import_statements(self.texts[path]),
            self.module_names[path],
            path.name == "__init__.py",
        )

    def imports_of(self, path: PurePath) -> frozenset[PurePath]:
        """The files of this run the file imports, and the packages on the way
        (`import a.b.c` runs `a/__init__.py` and `a/b/__init__.py` too)."""
        known = self._imports.get(path)
        if known is None:
            found: set[PurePath] = set()
            importer = self.module_names[path]
            for imported in self.imported(path):
                for candidate in import_candidates(imported.module, importer):
                    parts = candidate.split(".")
                    files = [
                        self.paths_by_module.get(".".join(parts[:end]))
                        for end in range(len(parts), 0, -1)
                    ]
                    hits = {file for file in files if file is not None and file != path}
                    if hits:
                        found.update(hits)
                        break
                else:
                    alias = self.aliases.get(imported.module)
                    target = self.paths_by_module.get(alias) if alias is not None else None
                    if target is not None and target != path:
                        found.add(target)
            known = self._imports[path] = frozenset(found)
        return known

    @cached_property
    def _importers(self) -> dict[PurePath, frozenset[PurePath]]:
        reverse: dict[PurePath, set[PurePath]] = {}
        for path in self.texts:
            for imported in self.imports_of(path):
                reverse.setdefault(imported, set()).add(path)
        return {path: frozenset(files) for path, files in reverse.items()}

    def release_texts(self) -> None:
        """Learn every file's imports now and let go of the texts (a large check keeps only
        the texts it analyses)."""
        for path in self.texts:
            self.imports_of(path)
        self._importers  # noqa: B018 (computed now, from the imports just learnt)
        self.texts = {}

    def importers_of(self, path: PurePath) -> frozenset[PurePath]:
        return self._importers.get(path, frozenset())

    def importer_closure(self, start: Iterable[PurePath], depth: int) -> set[PurePath]:
        """`start` and the files that import it, `depth` imports back."""
        selected = set(start)
        frontier = set(selected)
        for _ in range(depth):
            frontier = {found for path in frontier for found in self.importers_of(path)} - selected
            if not frontier:
                break
            selected |= frontier
        return selected
