"""The persistent cache: an unchanged re-run answers from disk instead of analysing again.

A run that writes nothing and verifies nothing (`check`, `check --diff`, `migrate --diff
--no-verify`) is a pure function of the files it reads, the rules, the options and the
configuration. Its key hashes all of those, each file by its path, size and modification
time (what ruff's cache keys on too); the value is what the run found, per file. Flows
cross files, so one changed file changes the key: the whole run is analysed again, never a
stale mix.

The cache lives outside the project, so that a run that writes nothing leaves the tree
untouched: in `$ML2MC_CACHE_DIR`, else `$XDG_CACHE_HOME/ml2mc`, else `~/.cache/ml2mc`, with
a `CACHEDIR.TAG`. It is safe under concurrent runs: each entry is written to a temporary
file and renamed into place, so a reader sees a whole entry or none. A cache that cannot be
read or written is skipped silently: it only ever saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from migrate.findings import FileOutcome
from migrate.version import __version__

# Entries kept per cache folder; the oldest are removed when a run stores a new one.
MAX_ENTRIES = 64
_TAG = "Signature: 8a477f597d28d172789f06886806bc55\n# ml2mc's cache: see migrate/cache.py\n"


@dataclass(frozen=True)
class CachedFile:
    """What a run found in one file. The texts are kept only where a change was planned."""

    path: str
    display: str
    outcome: FileOutcome


def folder() -> Path:
    configured = os.environ.get("ML2MC_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ml2mc"


def run_key(files: Iterable[Path], settings: object) -> str | None:
    """The key of a run over `files` with `settings` (rules, options, configuration: any
    object whose `repr` says all of them); None when a file cannot be looked at."""
    digest = hashlib.sha256()
    digest.update(f"{__version__}\0{sys.version}\0{settings!r}\0{_engine_stamp()}\0".encode())
    for path in files:
        try:
            status = path.stat()
        except OSError:
            return None
        digest.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _engine_stamp() -> str:
    """The engine's own files by size and modification time: an edited or upgraded ml2mc
    (the same version number from a checkout) never answers from another engine's cache."""
    roots = [Path(__file__).resolve().parent]
    rules = roots[0].parent / "rules"
    if rules.is_dir():
        roots.append(rules)
    parts = []
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            with contextlib.suppress(OSError):
                stat = path.stat()
                parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load(folder: Path, key: str) -> list[CachedFile] | None:
    try:
        with (folder / f"{key}.pickle").open("rb") as stream:
            entry = pickle.load(stream)
    except (OSError, pickle.PickleError, EOFError, AttributeError, ImportError, ValueError):
        return None
    return entry if isinstance(entry, list) else None


def store(folder: Path, key: str, files: list[CachedFile]) -> None:
    kept = [_trimmed(item) for item in files]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _mark(folder)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".entry-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                pickle.dump(kept, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, folder / f"{key}.pickle")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        _prune(folder)
    except OSError:
        return


def _trimmed(item: CachedFile) -> CachedFile:
    """A file without findings or changes needs no text in the cache."""
    outcome = item.outcome
    if outcome.changed or outcome.findings or outcome.remaining:
        return item
    empty = FileOutcome(outcome.path, "", "")
    return CachedFile(item.path, item.display, empty)


def _mark(folder: Path) -> None:
    tag = folder / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text(_TAG, encoding="utf-8")


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.pickle"), key=lambda path: path.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            old.unlink()
