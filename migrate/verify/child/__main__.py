"""Entry point: `python -m migrate.verify.child JOB EVENTS START PARENT_PID`.

Reads the job, runs tasks from index START on, and appends one JSON event per line to EVENTS:
`ready` once torch is imported, then `start`, `phase`... and `done` per task, `finished` at
the end (or `fatal` when torch cannot be imported). The parent enforces timeouts; this side
only has to say where it is. A child started before its job exists (`start_early`) imports
torch, says `ready`, and waits for the JOB file to appear (the parent renames it into place
whole), or exits when its parent dies.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from migrate.verify._protocol import Blame, Job

JOB_POLL_SECONDS = 0.005


def main(argv: list[str]) -> int:
    job_path, events_path, start_text, parent_text = argv
    with open(events_path, "a", encoding="utf-8") as channel:
        emit = _emitter(channel)
        try:
            # Imported here, not at the top, so a missing or broken torch becomes a message.
            import torch

            from migrate.verify.child.calls import check_call
            from migrate.verify.child.common import Verdict, describe_error
            from migrate.verify.child.models import check_model

            # One thread: the batches are a few rows, where intra-op parallelism only adds
            # synchronisation (on a 2-core machine a 8x32 float64 Linear took 8 ms with two
            # OpenMP threads and 5 us with one), and results no longer depend on the core count.
            torch.set_num_threads(1)
        except Exception as error:
            emit(
                {
                    "event": "fatal",
                    "reason": "torch could not be imported by the verification process "
                    f"({sys.executable}): {type(error).__name__}: {error}; install torch "
                    f"into that interpreter (`{sys.executable} -m pip install torch`, or your "
                    "torch build), or point `--python` at an interpreter that has it",
                }
            )
            return 0
        emit({"event": "ready"})
        if not _wait_for(Path(job_path), int(parent_text)):
            return 0
        job: Job = json.loads(Path(job_path).read_text(encoding="utf-8"))
        settings = job["settings"]
        tasks = job["tasks"]
        for index in range(int(start_text), len(tasks)):
            task = tasks[index]
            emit({"event": "start", "index": index})

            def phase(text: str, blame: Blame, index: int = index) -> None:
                emit({"event": "phase", "index": index, "phase": text, "blame": blame})

            started = time.perf_counter()
            try:
                if task["kind"] == "model":
                    verdict = check_model(task, settings, phase)
                else:
                    verdict = check_call(task, settings, phase)
            except (Exception, SystemExit) as error:
                verdict = Verdict(
                    "skip", f"internal error in ml2mc while verifying: {describe_error(error)}"
                )
            seconds = time.perf_counter() - started
            emit(
                {
                    "event": "done",
                    "index": index,
                    "outcome": verdict.to_outcome(),
                    "seconds": seconds,
                }
            )
        emit({"event": "finished"})
    return 0


def _wait_for(job_path: Path, parent: int) -> bool:
    """Wait until the parent has written the job (a child started early, see `start_early`);
    False when the parent died first, so a crashed run leaves no process behind. The parent's
    pid comes from the command line: by the time torch is imported, a dead parent's child has
    already been adopted, and its getppid() would name the adopter."""
    while not job_path.exists():
        if os.getppid() != parent:
            return False
        time.sleep(JOB_POLL_SECONDS)
    return True


def _emitter(channel: IO[str]) -> Callable[[dict[str, object]], None]:
    def emit(event: dict[str, object]) -> None:
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    return emit


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter shutdown: threads or atexit hooks left by the user's code could keep
    # this process alive after its work is done.
    os._exit(code)
