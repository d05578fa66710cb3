"""`ml2mc verify --run CMD`: the user's own command, run on both trees with torch instrumented.

The original tree is an export of the git ref (`git archive`), the migrated tree a copy of the
working tree (tracked and untracked files that git does not ignore). Each run happens in its
own copy, with the copy as working directory, so old and new modules never mix and the
command never writes into the project. The sanitizer (`_shim/sitecustomize.py`) records every
loss call's input and every argmax; an anomaly in the migrated run fails the check. This is
the strongest check `verify` has: it watches the project's real training code run.

Never imports torch: the command's own processes do.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migrate.verify._against import GitError, _git

SHIM = Path(__file__).resolve().parent / "_shim"
LOG_NAME = "ml2mc-sanitizer.jsonl"
LOSS_CALLS = frozenset(
    {"cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
)
# Outside git, what a copy of the project leaves out.
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "venv", "env", "build", "dist"})
MAX_COPIED_BYTES = 20 * 1024 * 1024
# An anomaly that chance can produce: counted only when every loss call of its site has it.
WEAK_ANOMALY = "values all in [0, 1]"
# How many first loss values each side shows.
FIRST_LOSSES = 3


@dataclass
class CommandRun:
    """One run of the command in one tree."""

    tree: str  # "original" | "migrated"
    exit_code: int | None  # None when it timed out
    seconds: float
    records: list[dict[str, Any]] = field(default_factory=list)
    output_tail: str = ""

    @property
    def loss_calls(self) -> list[dict[str, Any]]:
        return [record for record in self.records if record.get("call") in LOSS_CALLS]

    @property
    def anomalies(self) -> Counter[tuple[str, str]]:
        found = Counter(
            (str(record["anomaly"]), str(record.get("where", "?")))
            for record in self.records
            if record.get("anomaly")
        )
        calls = Counter(str(record.get("where", "?")) for record in self.loss_calls)
        # Logits of a small model at initialisation can all lie in [0, 1] by chance (2 of 45
        # calls on verify3/10); a sigmoid before the loss does it on every call of its site.
        return Counter(
            {
                (anomaly, where): count
                for (anomaly, where), count in found.items()
                if not anomaly.startswith(WEAK_ANOMALY) or count == calls[where]
            }
        )


def prepare_trees(repo_root: Path, ref: str, work: Path) -> tuple[Path, Path]:
    """`work/original` (REF exported) and `work/migrated` (the working tree as it is).
    Raises `GitError` when git cannot give them."""
    original = work / "original"
    migrated = work / "migrated"
    original.mkdir(parents=True)
    migrated.mkdir(parents=True)
    archive = _git(["archive", "--format=tar", ref], repo_root)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(original, filter="data")
    copy_working_tree(repo_root, migrated)
    return original, migrated


def copy_working_tree(root: Path, *targets: Path) -> None:
    """Copy the project's files as they are on disk into each of `targets` (listed once): in
    a git repository the tracked and untracked files git does not ignore; elsewhere every file
    below `root` except hidden folders, virtual environments and caches."""
    try:
        listing = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
        names = sorted({item for item in listing.decode().split("\0") if item})
    except GitError:
        names = sorted(_project_files(root))
    for name in names:
        source = root / name
        if not source.is_file():  # a deleted but still tracked file is not in the working tree
            continue
        for target in targets:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


def _project_files(root: Path) -> list[str]:
    found: list[str] = []
    for folder, directories, files in os.walk(root):
        here = Path(folder)
        directories[:] = [
            name
            for name in directories
            if not name.startswith(".")
            and name not in SKIPPED_FOLDERS
            and not (here / name / "pyvenv.cfg").exists()
        ]
        for name in files:
            path = here / name
            if not path.is_symlink() and path.stat().st_size <= MAX_COPIED_BYTES:
                found.append(path.relative_to(root).as_posix())
    return found


def run_in_tree(
    command: str, tree_name: str, tree: Path, repo_root: Path, cwd: Path, timeout: float
) -> CommandRun:
    """Run `command` through the shell in `tree`, at the place of `cwd` in the repository."""
    try:
        relative = cwd.resolve().relative_to(repo_root)
    except ValueError:
        relative = Path(".")
    log = tree.parent / f"{tree_name}-{LOG_NAME}"
    log.unlink(missing_ok=True)
    environment = dict(os.environ)
    environment["ML2MC_SANITIZER_LOG"] = str(log)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(SHIM), *_moved_paths(environment.get("PYTHONPATH", ""), repo_root, tree)]
    )
    started = time.monotonic()
    try:
        completed = subprocess.run(
            command,
            shell=True,
            cwd=tree / relative,
            env=environment,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        exit_code: int | None = completed.returncode
        output = completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as expired:
        exit_code = None
        output = _text(expired.stdout) + _text(expired.stderr)
    seconds = time.monotonic() - started
    records = _read_log(log, tree)
    tail = "\n".join(output.strip().splitlines()[-5:])
    return CommandRun(tree_name, exit_code, seconds, records, tail)


def judge(original: CommandRun, migrated: CommandRun) -> dict[str, Any]:
    """The verdict as the fields of a `VerifyResult`: status, reason, notes."""
    notes = (describe(original), describe(migrated))
    status, reason = "pass", None
    if migrated.exit_code is None:
        status, reason = (
            "fail",
            f"the command timed out on the migrated tree ({migrated.seconds:.0f} s)",
        )
    elif migrated.anomalies:
        status, reason = "fail", "in the migrated run: " + _anomaly_text(migrated)
    elif migrated.exit_code != 0 and original.exit_code == 0:
        status, reason = (
            "fail",
            (
                f"the command fails after the migration (exit {migrated.exit_code}): "
                f"{migrated.output_tail.splitlines()[-1] if migrated.output_tail else ''}"
            ),
        )
    elif migrated.exit_code != 0:
        status, reason = (
            "skip",
            (
                f"the command fails on the original tree too (exit {original.exit_code}); "
                "give a command that runs"
            ),
        )
    elif not migrated.loss_calls:
        status, reason = "skip", "the command made no loss call: nothing was observed"
    return {"status": status, "reason": reason, "notes": notes, "batches": len(migrated.loss_calls)}


def describe(run: CommandRun) -> str:
    """`original: exit 0 in 7.1 s; 20 loss calls (cross_entropy x20 on probabilities); first
    losses 1.615, 1.614, 1.612; anomalies: ...`"""
    exit_text = "timed out" if run.exit_code is None else f"exit {run.exit_code}"
    kinds = Counter(f"{record['call']} on {record.get('input', '?')}" for record in run.loss_calls)
    calls = ", ".join(f"{kind} x{count}" for kind, count in kinds.most_common())
    values = [record["value"] for record in run.loss_calls if "value" in record]
    first = ", ".join(f"{value:.4g}" for value in values[:FIRST_LOSSES])
    text = f"{run.tree}: {exit_text} in {run.seconds:.1f} s; {len(run.loss_calls)} loss call(s)"
    if calls:
        text += f" ({calls})"
    if first:
        text += f"; first losses {first}"
    text += "; anomalies: " + (_anomaly_text(run) if run.anomalies else "none")
    return text


def _anomaly_text(run: CommandRun) -> str:
    return "; ".join(
        f"{anomaly} at {where} (x{count})" for (anomaly, where), count in run.anomalies.items()
    )


def _moved_paths(pythonpath: str, repo_root: Path, tree: Path) -> list[str]:
    """The user's PYTHONPATH with entries inside the repository moved into the copy: the
    command must import the tree under test, never the project itself."""
    moved: list[str] = []
    for entry in (item for item in pythonpath.split(os.pathsep) if item):
        try:
            moved.append(str(tree / Path(entry).resolve().relative_to(repo_root)))
        except ValueError:
            moved.append(entry)
    return moved


def _read_log(log: Path, tree: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    records: list[dict[str, Any]] = []
    prefix = str(tree) + os.sep
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a killed process
        where = str(record.get("where", "?"))
        record["where"] = where.removeprefix(prefix)
        records.append(record)
    return records


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
