"""Which files the analysis reads: the ones that can take part in a finding or a fix.

Token tests on the text first (a file that spells no activation, loss or multi-label API
cannot hold a finding), then the project graph (`migrate.analysis.graph`) adds what those
files need: the modules they import (a model class, a factory, a re-export), the files that
import them (callers teach a helper's parameters; a fix rewrites the readers of a model).
Nothing here interprets code: that is the analysis's job, done once.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from migrate.analysis.graph import ProjectGraph
from migrate.analysis.interpreter import FACTORY_MARK
from migrate.analysis.names import might_match
from migrate.discovery import SourceFile
from migrate.rule import Rule

# How many imports back the readers of a model are looked for.
IMPORT_DEPTH = 3
# A tree with at most this much source is analysed whole, in one analysis: a model handed
# through files that name neither an activation nor a loss (`main` -> `Coordinator(model)`
# -> `Client(model)`) is followed to the end, at the price of reading a few more files.
WHOLE_PROJECT_BYTES = 600_000
_ACTIVATION_WORDS = ("oftmax", "igmoid", "expit")
_LOSS_TOKENS = ("ross_entropy", "rossEntropy", "BCE", "nll_loss", "NLLLoss")
_SOFTMAX_CALL = re.compile(r"oftmax\s*\(")
_LOG_WORD = re.compile(r"\blog\b")


def names_activation(text: str) -> bool:
    """The file spells a softmax or a sigmoid somewhere."""
    return any(word in text for word in _ACTIVATION_WORDS)


def names_loss(text: str) -> bool:
    """The file spells a loss somewhere (code, comment or string)."""
    return any(token in text for token in _LOSS_TOKENS)


def worth_parsing(text: str) -> bool:
    """Cheap token tests: whether an activation/loss finding (MC2xx) can sit in this file.
    It can only when the file names a loss, or names a softmax and a log, or calls a softmax
    whose parentheses may hold no `dim`."""
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


def select_files(
    readable: dict[Path, SourceFile], rules: list[Rule], fixing: bool, graph: ProjectGraph
) -> set[Path]:
    """The files to analyse.

    The seeds are the files that name an activation, a loss or a multi-label API; for a
    check (MC2xx only), the files where a finding can sit: they name a loss, or a softmax
    and a log, or call a softmax that may lack `dim` (`worth_parsing`).

    A migration or a fix adds every file that imports a seed, a few levels back: a fix
    rewrites the readers of a model's output wherever they are. A check reads the callers
    it needs later, when the analysis names them (`callers_of`). What the selected files
    import (a model class, a factory, a re-export) is not selected: the analysis loads it
    when a flow reaches it (`migrate.analysis.index`), and never edits it.
    """
    migrating = any(rule.code.startswith("MC1") for rule in rules)
    seeds = {
        path
        for path, source in readable.items()
        if might_match(source.text) and (migrating or fixing or worth_parsing(source.text))
    }
    selected = seeds
    if migrating or fixing:
        selected = {Path(path) for path in graph.importer_closure(seeds, IMPORT_DEPTH)}
    # Package `__init__` files re-export classes (`from .classifier import ImageClassifier`).
    folders = {path.parent for path in selected}
    selected |= {path for path in readable if path.name == "__init__.py" and path.parent in folders}
    return {path for path in selected if path in readable}


def is_small_project(readable: dict[Path, SourceFile]) -> bool:
    """Whether the tree is analysed whole (`WHOLE_PROJECT_BYTES`): the files beyond the
    selection join the analysis too (those that parse), instead of being read when a flow
    reaches them or looked for as callers."""
    return sum(len(source.text) for source in readable.values()) <= WHOLE_PROJECT_BYTES


def callers_of(
    path: Path,
    functions: set[str],
    text_of: Callable[[Path], str | None],
    graph: ProjectGraph,
    speaking: set[Path],
    limit: int,
) -> set[Path]:
    """The files that may call `functions` of the module at `path` (`fit`, `Net.forward`)
    with an activation's output, a criterion or a model: they import the module (directly
    or through a package that re-exports it), spell one of the names, and name an
    activation or a loss themselves (`speaking`: see `speaks`). The search stops once more
    than `limit` are found (the caller reads no more than that)."""
    names = sorted({_called_name(function) for function in functions})
    mentions = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")
    # The callers of a constructor or a setter that stores what it is given (`Trainer(model)`,
    # `model.add_loss_op(loss)`) or of a criterion factory (`get_criterion(cfg)`) need not
    # name an activation or a loss themselves (the interpreter marks those sites).
    stores = any(function.endswith(FACTORY_MARK) for function in functions)
    callers: set[Path] = set()
    for importer in sorted(Path(found) for found in graph.importer_closure({path}, 2) - {path}):
        if not stores and importer not in speaking:
            continue
        text = text_of(importer)
        # A substring test first: the word-bounded search is a hundred times slower.
        if text is not None and any(name in text for name in names) and mentions.search(text):
            callers.add(importer)
            if len(callers) > limit:
                break
    return callers


def speaks(text: str) -> bool:
    """Whether a file names an activation or a loss: only such a file can hand a helper an
    activation's output or a criterion (see `callers_of`)."""
    return names_activation(text) or names_loss(text)


def _called_name(function: str) -> str:
    """What a caller spells: the function (`fit`), the class for a constructor or a model's
    `forward` (`Trainer(...)`, `Net()(x)`), the method otherwise (`model.add_loss_op(...)`)."""
    owner, _, member = function.removesuffix(FACTORY_MARK).partition(".")
    if not member or member in ("__init__", "forward"):
        return owner
    return member


@contextmanager
def collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while trees are built and read.

    `ast` allocates millions of long-lived nodes; the collector would walk them again and
    again to find cycles the trees hardly have. The few there are are collected once, at the
    end: everything allocated inside is still in the youngest generation, so collecting that
    one is enough (and cheap)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect(0)
