"""Run verification tasks in a child interpreter and enforce the per-task timeout.

One child handles many tasks, because importing torch costs a second or more and most tasks
take milliseconds. When a task hangs or kills the interpreter, the parent stops that child and
starts a fresh one at the next task, so one bad model costs one result, not the whole run.

Importing torch is most of what a verification costs, so a caller that knows it will verify can
`start_early()`: the child then imports torch while the caller runs the rules, and the first
`run_tasks` hands that child its job instead of starting one.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.verify._protocol import (
    Job,
    Outcome,
    SettingsMessage,
    Status,
    Task,
    blame_status,
)

# Importing torch in a cold container can take far longer than one model's budget, so the
# start-up gets its own allowance instead of eating into the first task's timeout.
STARTUP_SECONDS = 180.0
POLL_SECONDS = 0.005
JOB_NAME = "job.json"
STDERR_TAIL_CHARS = 600

# The directory that contains the `migrate` package; the child must import this very copy.
_CODE_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TaskReport:
    outcome: Outcome
    seconds: float


@dataclass
class _ChildState:
    ready: bool = False
    done_all: bool = False
    current: int | None = None
    # When the child last reported progress; the timeout counts from here, so a child that
    # hangs between tasks (cleaning up after user code) is caught as well.
    since: float = 0.0
    phase: str = "starting"
    blame: str = "setup"
    fatal: str | None = None
    finished: set[int] = field(default_factory=set)

    def idle(self, phase: str, now: float) -> None:
        self.current = None
        self.since = now
        self.phase = phase
        self.blame = "setup"


class _EventReader:
    """Reads the JSON lines the child appends, never a half-written line."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._pending = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with self._path.open("rb") as stream:
                stream.seek(self._offset)
                chunk = stream.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._pending + chunk
        *lines, self._pending = data.split(b"\n")
        events: list[dict[str, Any]] = []
        for line in lines:
            if line.strip():
                events.append(json.loads(line))
        return events


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    events_path: Path
    stderr_path: Path
    started: float  # time.monotonic() at launch


@dataclass
class _Early:
    """A child started before its tasks exist, importing torch while the engine works."""

    scratch: tempfile.TemporaryDirectory[str]
    child: _Child
    environment: dict[str, str]


_early: _Early | None = None
_early_exit_hook: list[bool] = []  # non-empty once cancel_early is registered with atexit


def start_early() -> None:
    """Start the verification child now, so that torch imports while the caller is still busy
    (running the rules, writing files); the next `run_tasks` hands it its job. Without a job the
    child only waits; `cancel_early` (or interpreter exit) stops it, and it exits by itself when
    this process dies."""
    global _early
    if _early is not None and _early.child.process.poll() is None:
        return
    cancel_early()
    scratch = tempfile.TemporaryDirectory(prefix="ml2mc-verify-")
    environment = _child_environment()
    child = _launch(Path(scratch.name) / JOB_NAME, Path(scratch.name), 0, 1, environment)
    _early = _Early(scratch, child, environment)
    if not _early_exit_hook:
        atexit.register(cancel_early)
        _early_exit_hook.append(True)


def cancel_early() -> None:
    """Stop a child that `start_early` started and nobody used; a no-op otherwise."""
    global _early
    early, _early = _early, None
    if early is not None:
        _stop(early.child.process)
        early.scratch.cleanup()


def _claim_early() -> _Early | None:
    global _early
    early, _early = _early, None
    if early is None:
        return None
    if early.child.process.poll() is not None or early.environment != _child_environment():
        # It died, or the environment changed since (PYTHONPATH in tests): start afresh.
        _stop(early.child.process)
        early.scratch.cleanup()
        return None
    return early


def run_tasks(
    tasks: list[Task], settings: SettingsMessage, timeout_seconds: float
) -> list[TaskReport]:
    """Run every task; always returns one report per task, in order."""
    reports: list[TaskReport | None] = [None] * len(tasks)
    if not tasks:
        return []
    early = _claim_early()
    scratch = (
        early.scratch if early is not None else tempfile.TemporaryDirectory(prefix="ml2mc-verify-")
    )
    try:
        scratch_dir = Path(scratch.name)
        job_path = scratch_dir / JOB_NAME
        job: Job = {"settings": settings, "tasks": tasks}
        # default=str: config values from TOML may be dates; a string is the best we can pass.
        # Written whole, then renamed: an early child starts reading as soon as the name exists.
        partial = scratch_dir / (JOB_NAME + ".partial")
        partial.write_text(json.dumps(job, default=str), encoding="utf-8")
        os.replace(partial, job_path)
        start = 0
        launches = 0
        while start < len(tasks):
            launches += 1
            if early is not None and launches == 1:
                child = early.child
            else:
                child = _launch(job_path, scratch_dir, start, launches, _child_environment())
            try:
                start = _supervise(child, start, timeout_seconds, reports)
            finally:
                _stop(child.process)
    finally:
        scratch.cleanup()
    return [report if report is not None else _lost(index) for index, report in enumerate(reports)]


def _lost(index: int) -> TaskReport:
    # Defensive: the loop above fills every slot; this only guards against a logic slip.
    return TaskReport(
        _outcome("skip", f"internal error: no result was recorded for task {index}"), 0.0
    )


def _outcome(status: Status, reason: str) -> Outcome:
    return {
        "status": status,
        "relation": None,
        "max_abs_error": None,
        "max_rel_error": None,
        "batches": 0,
        "reason": reason,
        "notes": [],
        "atol": None,
        "rtol": None,
    }


def project_interpreter() -> str:
    """The interpreter that runs the user's code: `--python`, else the active virtual
    environment's (where the project's torch is; ml2mc may be installed elsewhere, by pipx),
    else the one running ml2mc. The child imports only torch and the standard library: ml2mc's
    own code reaches it through PYTHONPATH."""
    if _interpreter is not None:
        return _interpreter
    environment = os.environ.get("VIRTUAL_ENV")
    if environment:
        for name in ("bin/python", "Scripts/python.exe"):
            candidate = Path(environment) / name
            if candidate.is_file():
                return str(candidate)
    return sys.executable


def set_interpreter(path: str | None) -> None:
    """Use `path` for every verification child from now on (None: the default above)."""
    global _interpreter
    _interpreter = path


_interpreter: str | None = None


def _child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    existing = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = (
        str(_CODE_ROOT) if not existing else str(_CODE_ROOT) + os.pathsep + existing
    )
    # Importing the user's modules must not drop __pycache__ folders into their project.
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def _launch(
    job_path: Path, scratch_dir: Path, start: int, launch: int, environment: dict[str, str]
) -> _Child:
    """Start one child that runs the job's tasks from index `start` on."""
    events_path = scratch_dir / f"events-{launch}.jsonl"
    stdout_path = scratch_dir / f"stdout-{launch}.txt"
    stderr_path = scratch_dir / f"stderr-{launch}.txt"
    command = [
        project_interpreter(),
        "-m",
        "migrate.verify.child",
        str(job_path),
        str(events_path),
        str(start),
        str(os.getpid()),
    ]
    # The child keeps its own copies of these descriptors; ours close when Popen returns.
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            # The scratch directory as cwd keeps a user's own top-level `migrate` package from
            # shadowing ours when `-m` resolves the child module.
            cwd=scratch_dir,
            env=environment,
            # Its own session, so a timeout also stops any processes the user's code spawned.
            start_new_session=hasattr(os, "setsid"),
        )
    return _Child(process, events_path, stderr_path, time.monotonic())


def _supervise(
    child: _Child, start: int, timeout_seconds: float, reports: list[TaskReport | None]
) -> int:
    """Follow one child from task `start`; return the index the next child should start at."""
    process = child.process
    reader = _EventReader(child.events_path)
    stderr_path = child.stderr_path
    # An early child has been importing torch since its launch; the allowance counts from there.
    state = _ChildState(since=child.started)
    startup_seconds = max(STARTUP_SECONDS, timeout_seconds)
    total = len(reports)
    while True:
        exit_code = process.poll()
        # Read after polling: everything written before the exit is then already visible.
        for event in reader.read():
            _apply(event, state, reports)
        now = time.monotonic()
        if state.fatal is not None:
            _fill(reports, start, state.fatal)
            return total
        if state.done_all:
            return _first_missing(reports, start)
        if exit_code is not None:
            return _after_exit(exit_code, state, stderr_path, start, reports)
        if not state.ready:
            if now - state.since > startup_seconds:
                _stop(process)
                reason = (
                    f"the verification process did not start within {startup_seconds:g}s "
                    "(importing torch)"
                )
                _fill(reports, start, reason)
                return total
        elif now - state.since > timeout_seconds:
            _stop(process)
            index = state.current if state.current is not None else _first_missing(reports, start)
            if index < total:
                reason = f"timed out after {timeout_seconds:g}s while {state.phase}"
                outcome = _outcome(blame_status(state.blame), reason)
                reports[index] = TaskReport(outcome, now - state.since)
            return index + 1
        time.sleep(POLL_SECONDS)


def _first_missing(reports: list[TaskReport | None], start: int) -> int:
    return next(
        (index for index in range(start, len(reports)) if reports[index] is None), len(reports)
    )


def _apply(event: dict[str, Any], state: _ChildState, reports: list[TaskReport | None]) -> None:
    kind = event.get("event")
    now = time.monotonic()
    if kind == "ready":
        state.ready = True
        state.idle("preparing the first task", now)
    elif kind == "fatal":
        state.fatal = str(event.get("reason"))
    elif kind == "start":
        state.current = int(event["index"])
        state.since = now
        state.phase = "starting"
        state.blame = "setup"
    elif kind == "phase":
        state.phase = str(event["phase"])
        state.blame = str(event["blame"])
    elif kind == "done":
        index = int(event["index"])
        # The child's own clock: the parent only notices events every POLL_SECONDS.
        seconds = float(event.get("seconds", now - state.since))
        reports[index] = TaskReport(event["outcome"], seconds)
        state.finished.add(index)
        state.idle("cleaning up after the previous task", now)
    elif kind == "finished":
        state.done_all = True


def _after_exit(
    exit_code: int,
    state: _ChildState,
    stderr_path: Path,
    start: int,
    reports: list[TaskReport | None],
) -> int:
    total = len(reports)
    if not state.ready:
        reason = "could not start the verification process" + _describe_exit(exit_code, stderr_path)
        _fill(reports, start, reason)
        return total
    if state.current is not None:
        index = state.current
        reason = f"the verification process died while {state.phase}" + _describe_exit(
            exit_code, stderr_path
        )
        seconds = time.monotonic() - state.since
        reports[index] = TaskReport(_outcome(blame_status(state.blame), reason), seconds)
        return index + 1
    # The child exits on its own only after its last task, so a gap means it quit between
    # tasks (user code calling os._exit from an atexit hook, for instance). Restart at the gap
    # if this child got somewhere; otherwise give up on that task so the loop always advances.
    missing = _first_missing(reports, start)
    if missing == total or state.finished:
        return missing
    reason = "the verification process exited early" + _describe_exit(exit_code, stderr_path)
    reports[missing] = TaskReport(_outcome("skip", reason), 0.0)
    return missing + 1


def _describe_exit(exit_code: int, stderr_path: Path) -> str:
    if exit_code < 0:
        try:
            how = f" (killed by {signal.Signals(-exit_code).name})"
        except ValueError:
            how = f" (killed by signal {-exit_code})"
    else:
        how = f" (exit code {exit_code})"
    tail = _tail(stderr_path)
    return how + (f": {tail}" if tail else "")


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-3:])
    return tail[-STDERR_TAIL_CHARS:]


def _fill(reports: list[TaskReport | None], start: int, reason: str) -> None:
    for index in range(start, len(reports)):
        if reports[index] is None:
            reports[index] = TaskReport(_outcome("skip", reason), 0.0)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the child we started (and its process group), by id, and reap it."""
    if process.poll() is not None:
        return
    try:
        if hasattr(os, "killpg"):
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
