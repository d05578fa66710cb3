"""A migration unit is written whole or not at all (DESIGN.md, *Migration units*).

The project is two copies of the example tagger in two packages: two units of three files
each (model, train loop, predict script). The migrated text of every file is taken from a
clean run first; then `migrate --write` is interrupted, or made to fail, at every point of
its writes, and each unit must end either fully migrated or byte-identical to the original.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from migrate import writer
from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, RunResult, run
from migrate.rule import Applicability
from migrate.writer import PlannedWrite, UnitWriteFailure, write_unit

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "example" / "before"
PACKAGES = ("tagger_a", "tagger_b")


def _make_project(root: Path) -> dict[str, bytes]:
    """Two independent packages; returns every file's original bytes by relative path."""
    for package in PACKAGES:
        shutil.copytree(EXAMPLE / "tagger", root / package)
        for path in (root / package).glob("*.py"):
            text = path.read_text().replace("from tagger.", f"from {package}.")
            path.write_text(text)
    return _snapshot(root)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def _migrate(root: Path, monkeypatch: pytest.MonkeyPatch) -> RunResult:
    monkeypatch.chdir(root)
    options = RunOptions(
        paths=[Path(".")],
        default_select=MIGRATE_DEFAULT,
        fix=Applicability.UNSAFE,
        write=True,
    )
    return run(options)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files after an uninterrupted `migrate --write` of the two-unit project."""
    root = tmp_path_factory.mktemp("clean")
    _make_project(root)
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = _migrate(root, monkeypatch)
    assert not result.refused_units
    assert all(report.written for report in result.changed_files)
    return _snapshot(root)


def _unit_files(original: dict[str, bytes], migrated: dict[str, bytes]) -> dict[str, set[str]]:
    changed = {name for name in original if original[name] != migrated[name]}
    units = {
        package: {name for name in changed if name.startswith(package)} for package in PACKAGES
    }
    # The project must really be two units of several files, or the test proves nothing.
    assert all(len(files) >= 2 for files in units.values()), units
    return units


def _unit_states(
    root: Path, original: dict[str, bytes], migrated: dict[str, bytes]
) -> dict[str, str]:
    """Per unit: "old", "new", or "HALF" (the state that must never happen)."""
    now = _snapshot(root)
    leftovers = [name for name in now if name.endswith(".ml2mc")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    states: dict[str, str] = {}
    for package, files in _unit_files(original, migrated).items():
        if all(now[name] == original[name] for name in files):
            states[package] = "old"
        elif all(now[name] == migrated[name] for name in files):
            states[package] = "new"
        else:
            states[package] = "HALF"
    return states


def _counting(function: Callable[..., Any], on_call: Callable[[int], None]) -> Callable[..., Any]:
    """`function`, calling `on_call(n)` first on its n-th call from the main thread (`os` is
    patched for the whole process; a stray thread of another test must not count)."""
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if threading.current_thread() is threading.main_thread():
            calls += 1
            on_call(calls)
        return function(*args, **kwargs)

    return wrapped


def _patch_write_points(patch: pytest.MonkeyPatch, on_call: Callable[[int], None]) -> None:
    """Every temporary file staged and every rename is a point: `on_call` runs just before."""
    patch.setattr(writer, "_stage", _counting(writer._stage, on_call))
    patch.setattr(writer.os, "replace", _counting(os.replace, on_call))


@pytest.fixture(autouse=True)
def default_sigint() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt in these tests, whatever ran before them."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _write_points(root: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many staged writes and renames a full run makes (each is a point to interrupt)."""
    points: list[int] = []
    with monkeypatch.context() as patch:
        _patch_write_points(patch, points.append)
        _migrate(root, patch)
    return len(points)


def _interrupt_at(point: int) -> Callable[..., None]:
    """Sends SIGINT on the `point`-th call (the calls of staged writes and renames together)."""
    calls = 0

    def maybe_interrupt(_: int) -> None:
        nonlocal calls
        calls += 1
        if calls == point:
            signal.raise_signal(signal.SIGINT)

    return maybe_interrupt


def test_an_interrupt_at_any_point_of_the_writes_leaves_each_unit_whole(
    tmp_path: Path, migrated: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    counting_root = tmp_path / "count"
    original = _make_project(counting_root)
    total = _write_points(counting_root, monkeypatch)
    assert total == 12  # 6 files: 6 temporary files staged and 6 renames
    seen: set[tuple[str, ...]] = set()
    for point in range(1, total + 1):
        root = tmp_path / f"point{point}"
        _make_project(root)
        with monkeypatch.context() as patch:
            _patch_write_points(patch, _interrupt_at(point))
            with pytest.raises(KeyboardInterrupt):
                _migrate(root, patch)
        states = _unit_states(root, original, migrated)
        assert "HALF" not in states.values(), f"interrupt at point {point}: {states}"
        seen.add(tuple(sorted(states.values())))
    # The interrupts landed before, between and after the two units.
    assert seen == {("old", "old"), ("new", "old"), ("new", "new")}


def test_a_failed_rename_puts_the_unit_back_and_the_other_unit_is_written(
    tmp_path: Path, migrated: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _make_project(tmp_path)
    real_replace = os.replace
    calls = 0

    def fail_third_rename(source: Any, target: Any) -> None:
        # Renames 1-3 are the first unit's; the third fails after two have landed.
        nonlocal calls
        if threading.current_thread() is threading.main_thread():
            calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(writer.os, "replace", fail_third_rename)
    result = _migrate(tmp_path, monkeypatch)
    states = _unit_states(tmp_path, original, migrated)
    assert sorted(states.values()) == ["new", "old"], states
    refused_package = next(package for package, state in states.items() if state == "old")
    errors = {
        report.display: report.write_error
        for report in result.changed_files
        if report.write_error is not None
    }
    assert len(errors) == 3 and all(name.startswith(refused_package) for name in errors)
    failed = [error for error in errors.values() if "No space left on device" in error]
    assert len(failed) == 3, errors  # the failed file, and two that name it
    assert sum(1 for error in errors.values() if error.startswith("not written")) == 2
    assert result.errors == 3


def test_a_read_only_file_refuses_its_unit_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = _make_project(tmp_path)
    model = tmp_path / "tagger_a" / "model.py"
    model.chmod(0o444)
    try:
        result = _migrate(tmp_path, monkeypatch)
    finally:
        model.chmod(0o644)
    now = _snapshot(tmp_path)
    assert all(now[name] == original[name] for name in now if name.startswith("tagger_a"))
    assert any(now[name] != original[name] for name in now if name.startswith("tagger_b"))
    [unit] = result.refused_units
    assert all(name.startswith("tagger_a/") for name in unit.files)
    reasons = [blocker.reason for blocker in unit.blockers]
    assert any(reason.startswith("tagger_a/model.py is read-only") for reason in reasons), reasons
    assert result.errors >= 1


def _staged(paths: list[Path]) -> list[PlannedWrite]:
    return [PlannedWrite(path, b"new\n", path.read_bytes()) for path in paths]


@pytest.fixture
def three_files(tmp_path: Path) -> Iterator[list[Path]]:
    paths = [tmp_path / f"f{number}.py" for number in range(3)]
    for path in paths:
        path.write_bytes(b"old\n")
    yield paths
    for path in paths:
        path.chmod(0o644)


def test_write_unit_stages_every_file_before_renaming_any(three_files: list[Path]) -> None:
    three_files[2].chmod(0o444)
    with pytest.raises(UnitWriteFailure) as failure:
        write_unit(_staged(three_files))
    assert failure.value.path == three_files[2]
    assert [path.read_bytes() for path in three_files] == [b"old\n"] * 3
    assert sorted(path.name for path in three_files[0].parent.iterdir()) == [
        "f0.py",
        "f1.py",
        "f2.py",
    ]


def test_write_unit_holds_an_interrupt_until_every_rename_is_done(
    three_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt_first(call: int) -> None:
        if call == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(writer.os, "replace", _counting(os.replace, interrupt_first))
    with pytest.raises(KeyboardInterrupt):
        write_unit(_staged(three_files))
    assert [path.read_bytes() for path in three_files] == [b"new\n"] * 3


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted_during_import(stderr: bytes) -> bool:
    return b"importlib._bootstrap" in stderr or b"_get_module_lock" in stderr


def test_an_interrupted_cli_run_leaves_each_unit_whole(
    tmp_path: Path, migrated: dict[str, bytes]
) -> None:
    """The real thing: `ml2mc migrate --write` in a child process, SIGINT sent after a delay
    that walks across the run (start-up, analysis, writes, exit)."""
    outcomes: set[tuple[str, ...]] = set()
    for number, delay in enumerate((0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.9, 1.2, 1.8, 3.0)):
        root = tmp_path / f"run{number}"
        original = _make_project(root)
        child = subprocess.Popen(
            [sys.executable, "-m", "migrate", "migrate", ".", "--write", "--no-verify"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # A shell that starts pytest as a background job hands its children SIGINT
            # ignored; Python then installs no KeyboardInterrupt handler. Restore the default
            # so the child reacts to ^C as it would in a terminal.
            preexec_fn=_sigint_as_in_a_terminal,
        )
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=120)
        states = _unit_states(root, original, migrated)
        detail = f"SIGINT after {delay} s, exit {child.returncode}: {states}; {stderr[-800:]!r}"
        assert "HALF" not in states.values(), detail
        # ^C during Python's own start-up (importing modules) prints the interpreter's
        # traceback before the CLI exists to catch it; from the CLI on, none is allowed.
        if not _interrupted_during_import(stderr):
            assert b"Traceback" not in stderr, detail
        outcomes.add(tuple(sorted(states.values())))
    # At least one run was stopped before writing and one finished (the delays span the run).
    assert ("old", "old") in outcomes
    assert ("new", "new") in outcomes
