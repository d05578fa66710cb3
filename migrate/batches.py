"""Split a large check into batches that can run apart (and in parallel), each holding one
folder's files plus the modules they import, so that flows across files are still followed.

Only for runs that write nothing: a fix rewrites every reader of a model, which needs the
whole project in one index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

# As deep as the selection follows imports (migrate.analysis.selection.IMPORT_DEPTH).
IMPORT_DEPTH = 3


@dataclass(frozen=True)
class Batch:
    members: frozenset[str]  # files whose findings this batch reports
    context: frozenset[str]  # members and the modules they import


def plan_batches(
    sizes: dict[str, int], imports: dict[str, set[str]], max_bytes: int
) -> list[Batch]:
    """`sizes` maps a file to its source length, `imports` to the files of the run it
    imports (from the project graph). Folders are grouped into batches of about `max_bytes`
    of source, which bounds what one worker holds; each batch carries the modules its
    members import, `IMPORT_DEPTH` levels deep."""
    folders: dict[str, list[str]] = {}
    for path in sorted(sizes):
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    batches: list[Batch] = []
    current: list[str] = []
    current_bytes = 0
    for folder_files in folders.values():
        for path in folder_files:
            current.append(path)
            current_bytes += sizes[path]
            if current_bytes >= max_bytes:
                batches.append(_batch(current, imports))
                current, current_bytes = [], 0
    if current:
        batches.append(_batch(current, imports))
    return batches


def _batch(members: list[str], imports: dict[str, set[str]]) -> Batch:
    context = set(members)
    frontier = set(members)
    for _ in range(IMPORT_DEPTH):
        frontier = set().union(*(imports.get(path, set()) for path in frontier)) - context
        context |= frontier
    return Batch(frozenset(members), frozenset(context))
