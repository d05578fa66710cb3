"""`ml2mc migrate --interactive`: review the migration unit by unit, write what was accepted.

A migration unit (a model output with every loss and reader its value reaches) is written
whole or not at all, so the question is asked once per unit, after all its hunks (those of the
unified diff the dry run shows: difflib, three lines of context) in every file it changes.
Accepting a unit writes all its files together (`migrate.pipeline.write_unit_reports`);
rejecting it writes none of them. Splitting is pure; `review` asks through a callback (the
prompt lives in `report`, the only module that prints).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migrate.pipeline import FileReport, RunResult

CONTEXT_LINES = 3


@dataclass(frozen=True)
class Hunk:
    header: str  # "@@ -12,7 +12,7 @@"
    body: tuple[str, ...]  # the diff lines: " context", "-old", "+new", each ending in a newline

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
        for tag, old_start, old_end, new_start, new_end in group:
            if tag == "equal":
                body.extend(_diff_line(" ", line) for line in old[old_start:old_end])
                continue
            body.extend(_diff_line("-", line) for line in old[old_start:old_end])
            body.extend(_diff_line("+", line) for line in new[new_start:new_end])
        hunks.append(Hunk(header, tuple(body)))
    return hunks


class Answer(str, Enum):
    ACCEPT = "y"
    SKIP = "n"
    ALL = "a"
    QUIT = "q"


@dataclass
class FileReview:
    report: FileReport
    hunks: list[Hunk]
    text: str = ""  # the file as written (the original when nothing was written)
    written: bool = False
    error: str | None = None


@dataclass
class UnitReview:
    """One migration unit: the files it changes, accepted or rejected together."""

    files: list[FileReview]
    accepted: bool = False

    @property
    def displays(self) -> list[str]:
        return [item.report.display for item in self.files]

    @property
    def hunks(self) -> int:
        return sum(len(item.hunks) for item in self.files)

    @property
    def written(self) -> bool:
        return bool(self.files) and all(item.written for item in self.files)


# Asked for each unit: the unit (its files and their hunks), its number and the number of units.
Ask = Callable[[UnitReview, int, int], Answer]


@dataclass
class Review:
    units: list[UnitReview]
    quit: bool = False

    @property
    def files(self) -> list[FileReview]:
        return [item for unit in self.units for item in unit.files]

    @property
    def total(self) -> int:
        return len(self.units)

    @property
    def accepted(self) -> int:
        return sum(1 for unit in self.units if unit.accepted)

    @property
    def hunks(self) -> int:
        return sum(unit.hunks for unit in self.units)

    @property
    def written(self) -> list[FileReview]:
        return [item for item in self.files if item.written]

    @property
    def errors(self) -> list[FileReview]:
        return [item for item in self.files if item.error]


def review_units(result: RunResult) -> list[UnitReview]:
    """The run's changed files grouped by migration unit (`RunResult.units`), in file order; a
    changed file outside every unit is a unit of its own."""
    changed = {report.display: report for report in result.changed_files}
    groups = [[display for display in unit if display in changed] for unit in result.units]
    placed = {display for group in groups for display in group}
    groups.extend([display] for display in changed if display not in placed)
    order = {display: number for number, display in enumerate(changed)}
    groups = sorted((group for group in groups if group), key=lambda g: min(order[d] for d in g))
    return [
        UnitReview(
            [
                FileReview(
                    changed[display],
                    split_hunks(changed[display].outcome.original, changed[display].outcome.fixed),
                )
                for display in sorted(group, key=order.__getitem__)
            ]
        )
        for group in groups
    ]


def review(result: RunResult, ask: Ask) -> Review:
    """Ask about every migration unit (all its hunks shown, in every file it changes), then
    write the accepted units, each whole: a unit is written whole or not at all, so a model
    that now returns logits is never written without the loss and readers that expect them.

    "all" accepts this unit and every one after it; "quit" rejects this unit and every one
    after it (units accepted before are still written). The run's reports are updated to
    what was written, so a saved report shows the applied diff."""
    outcome = Review(review_units(result))
    total = outcome.total
    accept_rest = False
    for number, unit in enumerate(outcome.units, start=1):
        answer = Answer.ACCEPT if accept_rest else ask(unit, number, total)
        if answer is Answer.QUIT:
            outcome.quit = True
            break
        if answer is Answer.ALL:
            accept_rest = True
        unit.accepted = answer in (Answer.ACCEPT, Answer.ALL)
    for unit in outcome.units:
        _write(unit)
    return outcome


def _write(unit: UnitReview) -> None:
    from migrate.pipeline import write_unit_reports

    reports = [item.report for item in unit.files]
    if unit.accepted:
        for item in unit.files:
            if item.report.source is None:
                item.error = "no file to write (source read from stdin)"
        if not any(item.error for item in unit.files):
            write_unit_reports(reports)
    for item in unit.files:
        report = item.report
        item.written = report.written
        item.error = item.error or report.write_error
        report.write_error = item.error
        if not item.written:
            report.outcome.fixed = report.outcome.original
            _unfix(report)
        item.text = report.outcome.fixed


def _unfix(report: FileReport) -> None:
    """Nothing was written to this file: its findings are not fixed after all."""
    report.outcome.findings = [replace(f, fixed=False) for f in report.outcome.findings]


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
