"""Split a large check into batches that can run apart (and in parallel): folders of files,
about `max_bytes` of source each. A batch's flows still reach other files: the analysis
loads the modules a flow reaches on demand (`migrate.analysis.index`).

Only for runs that write nothing: a fix rewrites every reader of a model, which needs the
whole project in one index.
"""

from __future__ import annotations

from pathlib import PurePosixPath


def plan_batches(sizes: dict[str, int], max_bytes: int) -> list[frozenset[str]]:
    """`sizes` maps a file to its source length. Folders are grouped, in path order, into
    batches of about `max_bytes` of source, which bounds what one worker holds."""
    folders: dict[str, list[str]] = {}
    for path in sorted(sizes):
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    batches: list[frozenset[str]] = []
    current: list[str] = []
    current_bytes = 0
    for folder_files in folders.values():
        for path in folder_files:
            current.append(path)
            current_bytes += sizes[path]
            if current_bytes >= max_bytes:
                batches.append(frozenset(current))
                current, current_bytes = [], 0
    if current:
        batches.append(frozenset(current))
    return batches
