"""Unified diffs and atomic writes. A file is replaced whole or not at all."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from pathlib import Path


class WriteFailure(Exception):
    pass


def unified_diff(display_path: str, before: str, after: str) -> str:
    """A `git apply`-able diff of one file."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{display_path}",
        tofile=f"b/{display_path}",
    )
    pieces: list[str] = []
    for line in lines:
        pieces.append(line)
        if not line.endswith(("\n", "\r")):
            pieces.append("\n\\ No newline at end of file\n")
    return "".join(pieces)


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it: an interrupt leaves
    either the old file or the new one, never half of one. Keeps the file's mode."""
    # Write through a symlink to its target rather than replacing the link by a file.
    path = path.resolve()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise WriteFailure(f"cannot stat: {error.strerror or error}") from error
    if not mode & stat.S_IWUSR:
        # os.replace would succeed on a read-only file; the user marked it read-only on purpose.
        raise WriteFailure("file is read-only; not modified")
    directory = path.parent
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".ml2mc", dir=directory
        )
    except OSError as error:
        raise WriteFailure(f"cannot create a file in {directory}: {error.strerror}") from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise WriteFailure(f"cannot write: {error.strerror or error}") from error
        raise
