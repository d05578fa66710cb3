"""Which files the engine parses with libcst: the ones that can take part in a finding.

libcst is the slow part of a run, so a large tree is narrowed down first, cheapest test
first: a token test on the text (`might_match`, `worth_parsing`), then the `ast` screen
(`migrate/screen.py`), then the neighbours of what the screen kept.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from migrate.discovery import SourceFile
from migrate.engine import might_match
from migrate.index import defined_classes, module_name_for
from migrate.reach import ELSEWHERE, ESCAPE, LOSS_CLASSES, LOSS_FUNCTIONS, PARAMETER
from migrate.rule import Rule
from migrate.screen import Screen, screen_source, worth_parsing

MAX_IMPORT_ROUNDS = 3
PARALLEL_SCREEN_FILES = 64


def select_files(
    readable: dict[Path, SourceFile], rules: list[Rule], fixing: bool
) -> tuple[set[Path], dict[Path, Screen]]:
    """The files to parse with libcst, and the screens of those the `ast` screen looked at.

    A migration (MC1xx) needs every file that names an activation, a loss or a multi-label
    API, and the files that import them (they read the model's output).

    A check (MC2xx only) keeps the files where the screen sees a possible finding: a loss
    that may get probabilities (or a criterion handed on), a softmax without `dim`, a log
    that may be of a softmax. Around those it adds the modules they import that return an
    activation (a model defined elsewhere), the files that import what they define and
    name an activation (a helper or criterion handed probabilities), and the package
    `__init__` files that re-export them. When fixing, also every file that may read the
    output of a model whose forward returns an activation, since a fix rewrites those
    readers.
    """
    named = {path for path, source in readable.items() if might_match(source.text)}
    if any(rule.code.startswith("MC1") for rule in rules):
        return _with_importers(named, readable), {}
    screens = screen_all(
        {path: readable[path].text for path in named if worth_parsing(readable[path].text)}
    )
    core = {path for path, screen in screens.items() if screen.matters}
    module_names = _module_names(readable)
    providers = _providers(core, screens, readable, module_names)
    selected = core | providers
    # Users: files that name an activation and import what holds a site fed by a caller
    # (a helper whose parameter reaches a loss) or a criterion handed on.
    selected |= _users(core, screens, readable, named - selected)
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
    return selected, screens


IMPORT_DEPTH = 3


def _providers(
    core: set[Path],
    screens: dict[Path, Screen],
    readable: dict[Path, SourceFile],
    module_names: dict[Path, str],
) -> set[Path]:
    """The modules the kept files import, a few imports deep, that return an activation (a
    model defined elsewhere, built by a factory, re-exported by a package), with the modules
    on the way to them (the factory, the package `__init__`)."""
    by_name = {name: path for path, name in module_names.items()}
    came_from: dict[Path, Path] = {}
    frontier = set(core)
    for _ in range(IMPORT_DEPTH):
        reached: set[Path] = set()
        for importer in frontier:
            for target in _followed_imports(screens[importer], importer, importer in core):
                for name in _candidate_modules(target, module_names[importer], importer):
                    path = by_name.get(name)
                    if path is not None and path not in core and path not in came_from:
                        came_from[path] = importer
                        reached.add(path)
        unscreened = reached - set(screens)
        screens.update(screen_all({path: readable[path].text for path in unscreened}))
        frontier = reached
    providers: set[Path] = set()
    for path in came_from:
        if screens[path].returns_activation or screens[path].syntax_error is not None:
            step: Path | None = path
            while step is not None and step not in core and step not in providers:
                providers.add(step)
                step = came_from.get(step)
    return providers


def _followed_imports(
    screen: Screen, importer: Path, holds_site: bool
) -> list[tuple[str, str, str]]:
    """The imports that may bring a model: from a file with a site, those that fed it (all
    of them when a parameter did: its callers in the file may pass anything imported); from
    a package `__init__`, all (re-exports); from another module on the way, those it
    returns (a factory)."""
    targets = sorted(screen.import_targets)
    if holds_site:
        if screen.site_sources & {PARAMETER, ELSEWHERE}:
            return targets
        wanted = screen.site_sources
    elif importer.name == "__init__.py":
        return targets
    else:
        wanted = screen.returned_names
    return [target for target in targets if target[2] in wanted or target[1] == "*"]


def _candidate_modules(
    target: tuple[str, str, str], importer_module: str, importer: Path
) -> list[str]:
    """The dotted module names an import may load: `a.b` for `import a.b`; for `from X
    import n`, X itself and X.n (n may be a submodule), X resolved against the importer's
    package when relative."""
    module, name, _ = target
    if not name:
        return [module]
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
        return [name]
    return [module, f"{module}.{name}"]


def _users(
    core: set[Path],
    screens: dict[Path, Screen],
    readable: dict[Path, SourceFile],
    candidates: set[Path],
) -> set[Path]:
    """Files that name an activation and import a kept file's module, or a definition of it
    that holds a site fed by a caller or hands a criterion on."""
    fed_from_outside = {
        path for path in core if screens[path].site_sources & {PARAMETER, ESCAPE, ELSEWHERE}
    }
    # A module-level site or criterion: whoever imports the module.
    modules = {
        path.stem
        for path in fed_from_outside
        if path.stem != "__init__" and "" in screens[path].site_definitions
    }
    definitions = set().union(*(screens[path].site_definitions for path in fed_from_outside))
    # A loss function's own name is a loss wherever it is called: those files are screened.
    definitions -= {"", *LOSS_FUNCTIONS, *LOSS_CLASSES}
    alternatives = []
    if modules:
        names = "|".join(sorted(map(re.escape, modules)))
        alternatives.append(rf"(?:\bimport\s+[\w., ]*|\bfrom\s+[\w.]*)\b(?:{names})\b")
    if definitions:
        alternatives.append(r"\b(?:" + "|".join(sorted(map(re.escape, definitions))) + r")\b")
    if not alternatives:
        return set()
    pattern = re.compile("|".join(alternatives))
    return {
        path
        for path in candidates
        if _names_activation(readable[path].text) and pattern.search(readable[path].text)
    }


def _module_names(readable: dict[Path, SourceFile]) -> dict[Path, str]:
    package_dirs = {path.parent for path in readable if path.name == "__init__.py"}
    return {path: module_name_for(path, package_dirs) for path in readable}


_ACTIVATION_WORDS = ("oftmax", "igmoid", "expit")


def _names_activation(text: str) -> bool:
    return any(word in text for word in _ACTIVATION_WORDS)


def screen_all(texts: dict[Path, str]) -> dict[Path, Screen]:
    """Screen many files on every core (`ast` work is CPU-bound); few files in-process."""
    paths = sorted(texts)
    if len(paths) < PARALLEL_SCREEN_FILES or (os.cpu_count() or 1) < 2:
        return {path: screen_source(texts[path]) for path in paths}
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = pool.map(screen_source, [texts[path] for path in paths], chunksize=8)
        return dict(zip(paths, results, strict=True))


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
