"""`ml2mc migrate --interactive`: review the migration hunk by hunk, write what was accepted.

The hunks are those of the unified diff the dry run shows (difflib, three lines of context).
Splitting and applying are pure; `review` asks through a callback (the prompt lives in
`report`, the only module that prints) and writes each file once, atomically.

Skipping one hunk of a fix that spans files (a model that now returns logits, and its readers
that now apply softmax) leaves the code inconsistent: `ml2mc verify --against HEAD` afterwards
checks what was written.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

from migrate.discovery import encode_source
from migrate.writer import WriteFailure, atomic_write

if TYPE_CHECKING:
    from migrate.pipeline import FileReport, RunResult

CONTEXT_LINES = 3


@dataclass(frozen=True)
class Change:
    """Replace the original lines `start:end` (0-based) with `lines`."""

    start: int
    end: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Hunk:
    header: str  # "@@ -12,7 +12,7 @@"
    body: tuple[str, ...]  # the diff lines: " context", "-old", "+new", each ending in a newline
    changes: tuple[Change, ...]

    @property
    def text(self) -> str:
        return self.header + "\n" + "".join(self.body)

    @property
    def added(self) -> int:
        return sum(1 for line in self.body if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.body if line.startswith("-"))


def _diff_line(prefix: str, line: str) -> str:
    if line.endswith(("\n", "\r")):
        return prefix + line
    return prefix + line + "\n\\ No newline at end of file\n"


def _range(start: int, stop: int) -> str:
    """A unified diff range (as difflib writes it): 1-based start, then the length."""
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    if length == 0:
        return f"{start},0"
    return f"{start + 1},{length}"


def split_hunks(before: str, after: str, context: int = CONTEXT_LINES) -> list[Hunk]:
    """The hunks of the unified diff from `before` to `after`, in file order."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    hunks: list[Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        header = f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        body: list[str] = []
        changes: list[Change] = []
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                body.extend(_diff_line(" ", line) for line in old[old_start:old_end])
                continue
            body.extend(_diff_line("-", line) for line in old[old_start:old_end])
            body.extend(_diff_line("+", line) for line in new[new_start:new_end])
            changes.append(Change(old_start, old_end, tuple(new[new_start:new_end])))
        hunks.append(Hunk(header, tuple(body), tuple(changes)))
    return hunks


def apply_hunks(before: str, hunks: Iterable[Hunk]) -> str:
    """`before` with the changes of `hunks` (a subset of `split_hunks(before, ...)`) applied."""
    old = before.splitlines(keepends=True)
    changes = sorted((change for hunk in hunks for change in hunk.changes), key=lambda c: c.start)
    pieces: list[str] = []
    position = 0
    for change in changes:
        pieces.extend(old[position : change.start])
        pieces.extend(change.lines)
        position = change.end
    pieces.extend(old[position:])
    return "".join(pieces)


class Answer(str, Enum):
    ACCEPT = "y"
    SKIP = "n"
    ALL = "a"
    QUIT = "q"


# Asked for each hunk: the file's report, the hunk, its number and the number of hunks in all.
Ask = Callable[["FileReport", Hunk, int, int], Answer]


@dataclass
class FileReview:
    report: FileReport
    hunks: list[Hunk]
    accepted: list[Hunk] = field(default_factory=list)
    text: str = ""  # the file as written (the original when nothing was accepted)
    written: bool = False
    error: str | None = None


@dataclass
class Review:
    files: list[FileReview]
    quit: bool = False

    @property
    def total(self) -> int:
        return sum(len(item.hunks) for item in self.files)

    @property
    def accepted(self) -> int:
        return sum(len(item.accepted) for item in self.files)

    @property
    def written(self) -> list[FileReview]:
        return [item for item in self.files if item.written]

    @property
    def errors(self) -> list[FileReview]:
        return [item for item in self.files if item.error]


def review(result: RunResult, ask: Ask) -> Review:
    """Ask about every hunk of every changed file, then write the accepted ones.

    "all" accepts this hunk and every one after it; "quit" skips this hunk and every one after
    it (hunks accepted before are still written, as with `git add -p`). The run's reports are
    updated to what was written, so a saved report shows the applied diff."""
    files = [
        FileReview(report, split_hunks(report.outcome.original, report.outcome.fixed))
        for report in result.changed_files
    ]
    outcome = Review(files)
    total = outcome.total
    number = 0
    accept_rest = False
    for item in files:
        if outcome.quit:
            break
        for hunk in item.hunks:
            number += 1
            answer = Answer.ACCEPT if accept_rest else ask(item.report, hunk, number, total)
            if answer is Answer.QUIT:
                outcome.quit = True
                break
            if answer is Answer.ALL:
                accept_rest = True
            if answer in (Answer.ACCEPT, Answer.ALL):
                item.accepted.append(hunk)
    for item in files:
        _write(item)
    return outcome


def _write(item: FileReview) -> None:
    report = item.report
    original = report.outcome.original
    item.text = apply_hunks(original, item.accepted)
    report.outcome.fixed = item.text
    if item.text == original:
        _unfix(report)
        return
    if report.source is None:
        item.error = "no file to write (source read from stdin)"
    elif not _compiles(item.text):
        item.error = "the accepted hunks do not form valid Python; file not written"
    else:
        try:
            atomic_write(report.path, encode_source(report.source, item.text))
        except WriteFailure as error:
            item.error = str(error)
        except UnicodeEncodeError as error:
            item.error = f"cannot be encoded as {report.source.encoding}: {error}"
        else:
            item.written = True
            report.written = True
    if item.error:
        report.write_error = item.error
        report.outcome.fixed = original
        _unfix(report)


def _unfix(report: FileReport) -> None:
    """Nothing was written to this file: its findings are not fixed after all."""
    report.outcome.findings = [replace(f, fixed=False) for f in report.outcome.findings]


def _compiles(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def parse_answer(text: str) -> Answer | None:
    """A typed answer, or None when it is not one (the prompt asks again)."""
    word = text.strip().lower()
    for answer, spellings in _SPELLINGS.items():
        if word in spellings:
            return answer
    return None


_SPELLINGS: dict[Answer, Sequence[str]] = {
    Answer.ACCEPT: ("y", "yes", "accept"),
    Answer.SKIP: ("n", "no", "s", "skip"),
    Answer.ALL: ("a", "all"),
    Answer.QUIT: ("q", "quit"),
}
