"""Find the Python files to scan, and read them without losing encoding, BOM or newlines."""

from __future__ import annotations

import codecs
import fnmatch
import io
import os
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SKIPPED_DIRECTORIES = frozenset(
    {"__pycache__", "site-packages", "build", "dist", "node_modules", "venv", "env", ".git"}
)


class DiscoveryError(Exception):
    """A path the user named does not exist (a usage error: exit 2)."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    text: str
    encoding: str
    bom: bool


@dataclass(frozen=True)
class ReadFailure:
    path: Path
    reason: str


def discover(
    paths: Iterable[Path], exclude: Iterable[str] = (), anchors: Iterable[Path] = ()
) -> list[Path]:
    """Python files under `paths`, sorted, each once.

    `exclude` globs match paths relative to the scanned folder or to an anchor (the
    configuration's folder), never the folders above them."""
    patterns = list(exclude)
    anchor_list = [anchor.resolve() for anchor in anchors]
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise DiscoveryError(f"{path}: no such file or directory")
        if path.is_dir():
            for file in _walk(path, patterns, anchor_list):
                found.setdefault(file, None)
        else:
            found.setdefault(path, None)
    return sorted(found)


def _walk(root: Path, patterns: list[str], anchors: list[Path]) -> Iterator[Path]:
    # followlinks=False: a symlinked directory cannot send the walk round a loop.
    for directory, subdirectories, files in os.walk(root, followlinks=False):
        base = Path(directory)
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if not _skipped_directory(base / name)
            and not _excluded(base / name, root, anchors, patterns)
        )
        for name in sorted(files):
            file = base / name
            if (
                name.endswith(".py")
                and file.is_file()
                and not _excluded(file, root, anchors, patterns)
            ):
                yield file


def _skipped_directory(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name in SKIPPED_DIRECTORIES:
        return True
    # A virtual environment, whatever it is called.
    return (path / "pyvenv.cfg").is_file()


def _excluded(path: Path, root: Path, anchors: list[Path], patterns: list[str]) -> bool:
    if not patterns:
        return False
    relatives = {path.relative_to(root).as_posix()}
    resolved = path.resolve()
    for anchor in anchors:
        try:
            relatives.add(resolved.relative_to(anchor).as_posix())
        except ValueError:
            continue
    return any(_matches(relative, pattern) for relative in relatives for pattern in patterns)


def _matches(relative: str, pattern: str) -> bool:
    """`pattern` matches the relative path, its last part, or one of its folders."""
    folder = pattern.rstrip("/")
    return (
        fnmatch.fnmatch(relative, pattern)
        or fnmatch.fnmatch(relative.rsplit("/", 1)[-1], pattern)
        or fnmatch.fnmatch(relative, f"*/{pattern}")
        or fnmatch.fnmatch(relative, f"{folder}/*")
        or fnmatch.fnmatch(relative, f"*/{folder}/*")
    )


# libcst needs about 500 times a file's size in memory and a minute per few megabytes:
# larger files (generated code, vendored bundles) are reported and skipped.
MAX_FILE_BYTES = 1024 * 1024


def too_large(size: int) -> str:
    """The MC001 message for a file over the limit: both sizes in bytes, since a rounded
    "1.0 MiB > 1 MiB" hides the difference."""
    return (
        f"too large: the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} bytes "
        f"({MAX_FILE_BYTES // 2**20} MiB); skipped"
    )


def packages_on_disk(paths: Iterable[Path]) -> set[Path]:
    """The folders holding the files, and those above them, that are packages on disk (hold
    an `__init__.py`), walking up from each file while they are."""
    packages: set[Path] = set()
    seen: set[Path] = set()
    for path in paths:
        folder = path.parent
        while folder not in seen and folder != folder.parent:
            seen.add(folder)
            if not (folder / "__init__.py").is_file():
                break
            packages.add(folder)
            folder = folder.parent
    return packages


def read_source(path: Path) -> SourceFile | ReadFailure:
    try:
        size = path.stat().st_size
    except OSError as error:
        return ReadFailure(path, f"cannot read: {error.strerror or error}")
    if size > MAX_FILE_BYTES:
        return ReadFailure(path, too_large(size))
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        return ReadFailure(path, "is a directory")
    except OSError as error:
        return ReadFailure(path, f"cannot read: {error.strerror or error}")
    return decode_source(path, raw)


def decode_source(path: Path, raw: bytes) -> SourceFile | ReadFailure:
    bom = raw.startswith(codecs.BOM_UTF8)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as error:
        return ReadFailure(path, f"cannot decode: {error}")
    body = raw[len(codecs.BOM_UTF8) :] if bom else raw
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        text = body.decode(codec)
    except (UnicodeDecodeError, LookupError) as error:
        return ReadFailure(path, f"cannot decode as {codec}: {error}")
    if "\x00" in text:  # Python refuses such a source; found here without parsing it
        return ReadFailure(path, "cannot parse: the source contains a null byte")
    return SourceFile(path, text, codec, bom)


def encode_source(source: SourceFile, text: str) -> bytes:
    data = text.encode(source.encoding)
    return codecs.BOM_UTF8 + data if source.bom else data
