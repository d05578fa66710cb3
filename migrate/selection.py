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
from migrate.index import defined_classes
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
    imported = set().union(*(screens[path].imports for path in core)) if core else set()
    # Providers: what the kept files import, when it may return an activation (a model
    # whose forward applies one), two levels deep (a model built from a head elsewhere).
    providers: set[Path] = set()
    imported_anywhere = set(imported)
    for _ in range(2):
        candidates = {
            path
            for path in named
            if path.stem in imported and path not in core and path not in providers
        }
        unscreened = candidates - set(screens)
        screens.update(screen_all({path: readable[path].text for path in unscreened}))
        found = {path for path in candidates if screens[path].returns_activation}
        if not found:
            break
        providers |= found
        imported = set().union(*(screens[path].imports for path in found))
        imported_anywhere |= imported
    selected = core | providers
    # Users: files that import a kept file's module, or a class or function it defines.
    losses = {path for path in core if screens[path].loss_site}
    modules = {path.stem for path in losses if path.stem != "__init__"}
    definitions = set().union(*(screens[path].definitions for path in losses)) if losses else set()
    alternatives = []
    if modules:
        names = "|".join(sorted(map(re.escape, modules)))
        alternatives.append(rf"(?:\bimport\s+[\w., ]*|\bfrom\s+[\w.]*)\b(?:{names})\b")
    if definitions:
        alternatives.append(r"\b(?:" + "|".join(sorted(map(re.escape, definitions))) + r")\b")
    if alternatives:
        pattern = re.compile("|".join(alternatives))
        selected |= {
            path
            for path in named - selected
            if _names_activation(readable[path].text) and pattern.search(readable[path].text)
        }
    if fixing:
        models = {
            path
            for path in selected
            if path in screens and screens[path].forward_returns_activation
        }
        selected |= _with_importers(models, readable)
    # Package `__init__` files re-export classes (`from .classifier import ImageClassifier`),
    # and the packages a kept file imports may build its model in a factory module.
    folders = {path.parent for path in selected}
    inits = {
        path
        for path in readable
        if path.name == "__init__.py"
        and (path.parent in folders or path.parent.name in imported_anywhere)
    }
    selected |= inits
    for init in inits:
        if init.parent.name in imported_anywhere:
            exported = set(re.findall(r"^\s*from\s+\.(\w+)\s+import", readable[init].text, re.M))
            selected |= {
                path for path in readable if path.parent == init.parent and path.stem in exported
            }
    return selected, screens


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
