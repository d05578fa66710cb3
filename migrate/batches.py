"""Split a large check into batches that can run apart (and in parallel), each holding one
folder's files plus the modules they import, so that flows across files are still followed.

Only for runs that write nothing: a fix rewrites every reader of a model, which needs the
whole project in one index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+([^\n#]+)|import[ \t]+([\w., \t]+))", re.M
)
# As deep as the selection looks for providers (migrate.selection.IMPORT_DEPTH).
IMPORT_DEPTH = 3


@dataclass(frozen=True)
class Batch:
    members: frozenset[str]  # files whose findings this batch reports
    context: frozenset[str]  # members and the modules they import


def plan_batches(
    modules: dict[str, tuple[str, str]], max_bytes: int, relevant: set[str] | None = None
) -> list[Batch]:
    """`modules` maps a file to (module name, source). Folders are grouped into batches of
    about `max_bytes` of source (libcst holds about 500 times a file's size in memory, so this
    bounds what one worker holds); each batch carries the modules its members import, `IMPORT_DEPTH`
    levels deep, among the `relevant` ones (those whose values can flow into another file)."""
    by_name = {name: path for path, (name, _) in modules.items()}
    imports = {
        path: _imported(name, path.endswith("__init__.py"), source, by_name)
        for path, (name, source) in modules.items()
    }
    if relevant is not None:
        imports = {path: found & relevant for path, found in imports.items()}
    folders: dict[str, list[str]] = {}
    for path in sorted(modules):
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    batches: list[Batch] = []
    current: list[str] = []
    current_bytes = 0
    for folder_files in folders.values():
        for path in folder_files:
            current.append(path)
            current_bytes += len(modules[path][1])
            if current_bytes >= max_bytes:
                batches.append(_batch(current, imports))
                current, current_bytes = [], 0
    if current:
        batches.append(_batch(current, imports))
    return batches


def _batch(members: list[str], imports: dict[str, set[str]]) -> Batch:
    context = set(members)
    frontier = set(members)
    for _ in range(IMPORT_DEPTH):
        frontier = set().union(*(imports[path] for path in frontier)) - context
        context |= frontier
    return Batch(frozenset(members), frozenset(context))


def _imported(module_name: str, is_package: bool, source: str, by_name: dict[str, str]) -> set[str]:
    """The files of this run that a module imports (and the packages on the way)."""
    if is_package:
        package = module_name
    else:
        package = module_name.rsplit(".", 1)[0] if "." in module_name else ""
    found: set[str] = set()
    for dots, module, names, plain in _IMPORT.findall(source):
        targets: list[str] = []
        if plain:
            targets = [part.strip().split(" ")[0] for part in plain.split(",")]
        else:
            base = module
            if dots:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (len(dots) - 1)] if len(dots) > 1 else parts
                base = ".".join([*parts, module] if module else parts)
            targets = [base]
            names = names.strip().strip("()")
            targets += [
                f"{base}.{name.strip().split(' ')[0]}" for name in names.split(",") if name.strip()
            ]
        for target in targets:
            found.update(_files_for(target, by_name))
    return found


def _files_for(dotted: str, by_name: dict[str, str]) -> Iterable[str]:
    parts = dotted.split(".")
    for end in range(1, len(parts) + 1):
        path = by_name.get(".".join(parts[:end]))
        if path is not None:
            yield path
