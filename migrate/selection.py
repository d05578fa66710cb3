"""Which files the engine parses with libcst: the ones that can take part in a finding.

libcst is the slow part of a run, so a large tree is narrowed down first, cheapest test
first: a token test on the text (`might_match`, `worth_parsing`), then the `ast` screen
(`migrate/screen.py`), then the neighbours of what the screen kept.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath

from migrate.discovery import SourceFile
from migrate.engine import might_match
from migrate.index import defined_classes, module_name_for
from migrate.reach import (
    ELSEWHERE,
    ESCAPE,
    LIBRARY_ROOTS,
    LOSS_CLASSES,
    LOSS_FUNCTIONS,
    PARAMETER,
)
from migrate.rule import Rule
from migrate.screen import Definition, Screen, names_activation, screen_source, worth_parsing

MAX_IMPORT_ROUNDS = 3
PARALLEL_SCREEN_FILES = 64


@dataclass
class Selection:
    """The files to parse with libcst; the screens of those the `ast` screen looked at; and,
    for the large files that only some definitions of matter, those definitions."""

    files: set[Path]
    screens: dict[Path, Screen] = field(default_factory=dict)
    kept_definitions: dict[Path, frozenset[str]] = field(default_factory=dict)
    # Modules whose values may flow into another file: models, factories, re-exports.
    providers: set[Path] = field(default_factory=set)


def select_files(readable: dict[Path, SourceFile], rules: list[Rule], fixing: bool) -> Selection:
    """The files to parse with libcst, and what else the first look learnt about them.

    A migration (MC1xx) needs every file that names an activation, a loss or a multi-label
    API, and the files that import them (they read the model's output).

    A check (MC2xx only) keeps the files where the screen sees a possible finding: a loss
    that may get probabilities (or a criterion handed on), a softmax without `dim`, a log
    that may be of a softmax's output. A site fed only by imported names counts when one of
    those imports leads to a module that returns an activation; a log of a parameter, when
    a caller that names an activation imports it. Around the kept files it adds the modules
    they import that return an activation (with the factories and package `__init__` files
    on the way), the files that call into their parameter-fed sites, and the `__init__`
    files of their packages. When fixing, also every file that may read the output of a
    model whose forward returns an activation, since a fix rewrites those readers.

    For the kept files and providers it also names the definitions that matter (what holds
    a site or returns an activation, what those use, the callers of parameter-fed sites):
    a large check has libcst parse only those (`cut_source`).
    """
    named = {path for path, source in readable.items() if might_match(source.text)}
    if any(rule.code.startswith("MC1") for rule in rules):
        return Selection(_with_importers(named, readable))
    screens = screen_all(
        {path: readable[path].text for path in named if worth_parsing(readable[path].text)}
    )
    module_names = _module_names(readable)
    core = {path for path, screen in screens.items() if screen.matters}
    # A file whose sites were fed only by imported names matters if one of those imports
    # leads to a module that hands out an activation's output.
    core -= {
        path
        for path in core
        if screens[path].conditional
        and screens[path].syntax_error is None
        and not _providers({path}, screens, readable, module_names)
    }
    # Users: files that name an activation and call into a kept file where a caller feeds a
    # site. A log of a parameter is a site only when such a caller exists.
    holders = _fed_by_callers(core, screens, module_names)
    logs = {
        path: set(screen.parameter_logs)
        for path, screen in screens.items()
        if screen.parameter_logs and module_names[path].split(".", 1)[0] not in LIBRARY_ROOTS
    }
    users = _users({**logs, **holders}, readable, module_names, named)
    used = set().union(*users.values()) if users else set()
    confirmed = {path for path in logs if module_names[path].rsplit(".", 1)[-1] in used}
    core |= confirmed
    held = {module_names[path].rsplit(".", 1)[-1] for path in [*holders, *confirmed]}
    providers = _providers(core, screens, readable, module_names)
    selected = core | set(providers)
    selected |= {path for path, modules in users.items() if modules & held}
    if fixing:
        models = {
            path
            for path in selected
            if path in screens and screens[path].forward_returns_activation
        }
        selected |= _with_importers(models, readable)
    # Package `__init__` files re-export classes (`from .classifier import ImageClassifier`).
    folders = {path.parent for path in selected}
    selected |= {path for path in readable if path.name == "__init__.py" and path.parent in folders}
    kept: dict[Path, frozenset[str]] = {}
    for path in core | set(providers):
        screen = screens[path]
        sites = set(screen.site_definitions)
        if path in confirmed:
            sites |= screen.parameter_logs
        seeds = set(screen.returning_definitions)
        if path in core:
            seeds |= sites | screen.dimless_definitions
        wanted = providers.get(path, frozenset())
        if wanted is None:
            continue  # imported whole (`import pkg.models`): any definition may be read
        kept[path] = _closure(screen, seeds | wanted, sites)
    return Selection(selected, screens, kept, set(providers))


def _closure(screen: Screen, seeds: set[str], sites: set[str]) -> frozenset[str]:
    """The definitions the engine needs to read the seeds as it would in the whole file:
    what they use (a head class, a helper), and the callers of those that hold a site (the
    engine learns a parameter's kind from every call site)."""
    kept = {definition.name for definition in screen.outline if definition.name in seeds}
    callers_needed = kept & sites
    defined = {definition.name for definition in screen.outline}
    changed = True
    while changed:
        changed = False
        for definition in screen.outline:
            if definition.name in kept:
                used = (definition.uses & defined) - kept
                if used:
                    kept |= used
                    changed = True
            elif definition.uses & callers_needed:
                kept.add(definition.name)
                changed = True
    return frozenset(kept)


IMPORT_DEPTH = 3


def _providers(
    core: set[Path],
    screens: dict[Path, Screen],
    readable: dict[Path, SourceFile],
    module_names: dict[Path, str],
) -> dict[Path, frozenset[str] | None]:
    """The modules the kept files import, a few imports deep, that return an activation (a
    model defined elsewhere, built by a factory, re-exported by a package), with the modules
    on the way to them (the factory, the package `__init__`).

    Each step follows only what can carry a model on: from a kept file, the imports that fed
    its sites (and, when a parameter fed one or a criterion is handed on, the imports whose
    values the file passes to calls); from a module reached for some names, the
    imports of those names (a re-export) and of the names it returns (a factory). Library
    modules are not followed: the engine does not follow them either."""
    by_name = {name: path for path, name in module_names.items()}
    came_from: dict[Path, Path] = {}
    # The names wanted from each module reached (None: the whole module).
    wanted_from: dict[Path, frozenset[str] | None] = {}
    frontier: dict[Path, frozenset[str] | None] = {path: None for path in core}
    # Modules a kept file hands a criterion to: they may call it on probabilities.
    receivers: set[Path] = set()
    for _ in range(IMPORT_DEPTH):
        reached: dict[Path, frozenset[str] | None] = {}
        for importer, wanted in frontier.items():
            for target in _followed_imports(screens[importer], importer in core, wanted):
                for name, names in candidate_modules(target, module_names[importer], importer):
                    path = by_name.get(name)
                    if path is None or path in core or name.split(".", 1)[0] in LIBRARY_ROOTS:
                        continue
                    if importer in core and target[2] in screens[importer].criterion_receivers:
                        receivers.add(path)
                    if path in wanted_from:
                        previous = wanted_from[path]
                        merged = None if names is None or previous is None else previous | names
                        wanted_from[path] = merged
                        if path in reached:
                            reached[path] = merged
                    else:
                        came_from[path] = importer
                        wanted_from[path] = reached[path] = names
        unscreened = set(reached) - set(screens)
        texts = {path: readable[path].text for path in unscreened}
        screens.update(screen_all(texts, look_for_sites=False))
        frontier = reached
    providers: dict[Path, frozenset[str] | None] = {}
    for path in came_from:
        screen = screens[path]
        if screen.returns_activation or screen.syntax_error is not None or path in receivers:
            step: Path | None = path
            while step is not None and step not in core and step not in providers:
                providers[step] = wanted_from.get(step)
                step = came_from.get(step)
    return providers


def _followed_imports(
    screen: Screen, holds_site: bool, wanted: frozenset[str] | None
) -> list[tuple[str, str, str]]:
    targets = sorted(screen.import_targets)
    if holds_site:
        names = set(screen.site_sources) | screen.criterion_receivers
        if names & {PARAMETER, ESCAPE}:
            # Fed by a caller, or a criterion handed on: what this file passes to calls.
            names |= screen.passed_sources
        if ELSEWHERE in names:
            return targets
    else:
        names = set(screen.returned_names) | set(wanted or ())
    return [target for target in targets if target[2] in names or target[1] == "*"]


def candidate_modules(
    target: tuple[str, str, str], importer_module: str, importer: PurePath
) -> list[tuple[str, frozenset[str] | None]]:
    """The dotted module names an import may load, each with the names wanted from it:
    `a.b` (everything) for `import a.b`; for `from X import n`, X for n, and X.n (n may be a
    submodule) for everything. X is resolved against the importer's package when relative."""
    module, name, _ = target
    if not name:
        return [(module, None)]
    level = len(module) - len(module.lstrip("."))
    module = module[level:]
    if level:
        # A package's `__init__` is named after the package itself: one level less to climb.
        parts = importer_module.split(".")
        keep = len(parts) - (level - 1 if importer.name == "__init__.py" else level)
        if keep < 0:
            return []
        base = ".".join(parts[:keep])
        module = ".".join(part for part in (base, module) if part)
    if not module:
        return [(name, None)]
    return [(module, frozenset({name})), (f"{module}.{name}", None)]


def _fed_by_callers(
    core: set[Path], screens: dict[Path, Screen], module_names: dict[Path, str]
) -> dict[Path, set[str]]:
    """Kept files with a site fed by a caller (a helper whose parameter reaches a loss) or a
    criterion handed on, and the definitions holding those sites ("" for module level).
    Library modules are left out: the engine does not follow calls into them."""
    holders: dict[Path, set[str]] = {}
    for path in core:
        screen = screens[path]
        if not screen.site_sources & {PARAMETER, ESCAPE, ELSEWHERE}:
            continue
        if module_names[path].split(".", 1)[0] in LIBRARY_ROOTS:
            continue
        # A loss function's own name is a loss wherever it is called: those files are kept.
        definitions = set(screen.site_definitions) - {*LOSS_FUNCTIONS, *LOSS_CLASSES}
        if definitions:
            holders[path] = definitions
    return holders


def _users(
    holders: dict[Path, set[str]],
    readable: dict[Path, SourceFile],
    module_names: dict[Path, str],
    candidates: set[Path],
) -> dict[Path, set[str]]:
    """Files that name an activation and may call into a holder: they import its module and
    name one of its definitions (any, for a module-level site). Each user maps to the last
    parts of the module names it uses."""
    wanted: dict[str, set[str]] = {}
    for path, definitions in holders.items():
        wanted.setdefault(module_names[path].rsplit(".", 1)[-1], set()).update(definitions)
    if not wanted:
        return {}
    names = "|".join(sorted(map(re.escape, wanted)))
    module_pattern = re.compile(rf"(?:\bimport\s+[\w., ]*|\bfrom\s+[\w.]*)\b({names})\b")
    definition_patterns = {
        module: re.compile(
            r"\b(?:" + "|".join(sorted(re.escape(d) for d in definitions if d)) + r")\b"
        )
        for module, definitions in wanted.items()
        if any(definitions)
    }
    users: dict[Path, set[str]] = {}
    for path in candidates:
        text = readable[path].text
        if not names_activation(text):
            continue
        for module in set(module_pattern.findall(text)):
            pattern = definition_patterns.get(module)
            if "" in wanted[module] or (pattern is not None and pattern.search(text)):
                users.setdefault(path, set()).add(module)
    return users


def _module_names(readable: dict[Path, SourceFile]) -> dict[Path, str]:
    package_dirs = {path.parent for path in readable if path.name == "__init__.py"}
    return {path: module_name_for(path, package_dirs) for path in readable}


def screen_all(texts: dict[Path, str], look_for_sites: bool = True) -> dict[Path, Screen]:
    """Screen many files on every core (`ast` work is CPU-bound); few files in-process."""
    paths = sorted(texts)
    screen = partial(_screen_quietly, look_for_sites=look_for_sites)
    if len(paths) < PARALLEL_SCREEN_FILES or (os.cpu_count() or 1) < 2:
        return {path: screen(texts[path]) for path in paths}
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = pool.map(screen, [texts[path] for path in paths], chunksize=8)
        return dict(zip(paths, results, strict=True))


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while trees are built and read (a screen, a batch).

    libcst and `ast` allocate millions of long-lived nodes; the collector would walk them
    again and again (a sixth of a large check's time) to find cycles the trees hardly
    have. The few there are are collected once, at the end: everything allocated inside is
    still in the youngest generation, so collecting that one is enough (and cheap)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect(0)


def _screen_quietly(source: str, look_for_sites: bool) -> Screen:
    with collection_paused():
        return screen_source(source, look_for_sites)


def _with_importers(
    candidates: set[Path], readable: dict[Path, SourceFile], rounds: int = MAX_IMPORT_ROUNDS
) -> set[Path]:
    """Add the files that may read what a candidate defines: those naming one of its classes,
    or importing its module (a factory's callers read the model it builds). A few rounds, so
    a model passed on through a helper module is followed too."""
    selected = set(candidates)
    frontier = set(candidates)
    for _ in range(rounds):
        modules = {path.stem for path in frontier if path.stem != "__init__"}
        modules |= {path.parent.name for path in frontier if path.stem == "__init__"}
        classes = set().union(*(defined_classes(readable[path].text) for path in frontier))
        alternatives = []
        if modules:
            names = "|".join(sorted(map(re.escape, modules)))
            alternatives.append(rf"(?:\bimport\s+[\w., ]*|\bfrom\s+[\w.]*)\b(?:{names})\b")
        if classes:
            alternatives.append(r"\b(?:" + "|".join(sorted(map(re.escape, classes))) + r")\b")
        if not alternatives:
            break
        pattern = re.compile("|".join(alternatives))
        added = {
            path
            for path in readable
            if path not in selected and pattern.search(readable[path].text)
        }
        if not added:
            break
        selected |= added
        frontier = added
    return selected


def cut_source(text: str, outline: tuple[Definition, ...], kept: frozenset[str]) -> str | None:
    """The source with the top-level definitions not in `kept` turned into blank lines (each
    keeps its line ending), so every kept line keeps its number and its bytes; None when
    nothing would be cut."""
    dropped = [d for d in outline if d.name not in kept]
    if not dropped:
        return None
    lines = text.splitlines(keepends=True)
    for definition in dropped:
        for index in range(definition.first_line - 1, min(definition.last_line, len(lines))):
            line = lines[index]
            lines[index] = line[len(line.rstrip("\r\n")) :]
    return "".join(lines)
