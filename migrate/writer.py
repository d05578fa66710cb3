"""Unified diffs and unit-atomic writes: the files of one unit are replaced together or not at
all, and a single file is replaced whole or not at all."""

from __future__ import annotations

import difflib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


class WriteFailure(Exception):
    pass


@dataclass(frozen=True)
class PlannedWrite:
    """One file of a unit: where it goes, its new bytes, and its bytes before (to put back if
    a later rename of the same unit fails)."""

    path: Path
    data: bytes
    original: bytes


class UnitWriteFailure(WriteFailure):
    """A unit could not be written. `path` is the file that failed; `left_half_done` lists
    files that now hold the new text although the unit is not complete (empty unless putting
    the old text back failed too)."""

    def __init__(self, path: Path, reason: str, left_half_done: Sequence[Path] = ()) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.left_half_done = tuple(left_half_done)


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
    """Replace one file whole (a unit of one file)."""
    try:
        write_unit([PlannedWrite(path, data, b"")])
    except UnitWriteFailure as failure:
        raise WriteFailure(failure.reason) from failure


def write_unit(writes: Sequence[PlannedWrite]) -> None:
    """Write every file of a unit to a temporary file in its own folder, then rename them all.

    An error or an interrupt (SIGINT) while the temporary files are written leaves every file
    of the unit as it was. The renames run with SIGINT and SIGTERM held back, so an interrupt
    lands before or after all of them; a rename that fails puts back the files already
    renamed. Modes are kept; a symlink is written through to its target."""
    staged: list[tuple[Path, str, PlannedWrite]] = []
    try:
        for write in writes:
            target, temporary = _stage(write)
            staged.append((target, temporary, write))
        with _signals_held():
            _rename_all(staged)
    finally:
        for _, temporary, _ in staged:
            Path(temporary).unlink(missing_ok=True)


def _stage(write: PlannedWrite) -> tuple[Path, str]:
    # Write through a symlink to its target rather than replacing the link by a file.
    path = write.path.resolve()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise UnitWriteFailure(write.path, f"cannot stat: {error.strerror or error}") from error
    if not mode & stat.S_IWUSR:
        # os.replace would succeed on a read-only file; the user marked it read-only on purpose.
        raise UnitWriteFailure(write.path, "file is read-only; not modified")
    directory = path.parent
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".ml2mc", dir=directory
        )
    except OSError as error:
        raise UnitWriteFailure(
            write.path, f"cannot create a file in {directory}: {error.strerror}"
        ) from error
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(write.data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise UnitWriteFailure(
                write.path, f"cannot write: {error.strerror or error}"
            ) from error
        raise
    return path, temporary


def _rename_all(staged: Sequence[tuple[Path, str, PlannedWrite]]) -> None:
    renamed: list[PlannedWrite] = []
    for target, temporary, write in staged:
        try:
            os.replace(temporary, target)
        except OSError as error:
            half_done = _put_back(renamed)
            raise UnitWriteFailure(
                write.path, f"cannot write: {error.strerror or error}", half_done
            ) from error
        renamed.append(write)


def _put_back(renamed: Sequence[PlannedWrite]) -> list[Path]:
    """Undo the renames of a unit whose next rename failed; returns the files that could not
    be put back."""
    failed: list[Path] = []
    for write in renamed:
        try:
            write_unit([PlannedWrite(write.path, write.original, write.data)])
        except WriteFailure:
            failed.append(write.path)
    return failed


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for a short critical section, then deliver them. Only the
    main thread can install handlers; elsewhere the section runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(number: int, frame: FrameType | None) -> None:
        received.append(number)

    held = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, remember) for number in held}
    try:
        yield
    finally:
        for held_signal, handler in previous.items():
            signal.signal(held_signal, handler)
        for number in dict.fromkeys(received):
            signal.raise_signal(number)
