"""What the rules see of one module: its tree, positions, imports and interpreted flow.

Built once per module per pass and shared by every rule, so no rule parses or interprets again.
The tree is Python's own `ast`; edits are plain text ranges of the source.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Protocol

from migrate.analysis.interpreter import ModuleFlow, ProjectLookup
from migrate.analysis.names import ImportTable
from migrate.findings import Edit, Span


class Project(ProjectLookup, Protocol):
    """What one module's facts may ask of the run's other modules (`migrate.analysis.index`)."""

    @property
    def by_path(self) -> Mapping[str, ModuleFacts]: ...

    def facts_of_path(self, path: str) -> ModuleFacts | None: ...

    def load_importers(self, module_name: str) -> None: ...


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ModuleFacts:
    def __init__(
        self,
        path: str,
        source: str,
        module_name: str = "__main__",
        project: Project | None = None,
        data_dependent_fixes: bool = False,
        tree: ast.Module | None = None,
    ) -> None:
        self.path = path
        self.source = source
        self.module_name = module_name
        self.project = project
        # Fixes that are right only for some data (one-hot targets taken by argmax) are
        # planned only when the user asked for them (`--unsafe-fixes` with `migrate`).
        self.data_dependent_fixes = data_dependent_fixes
        # Parsing may raise SyntaxError (or ValueError on NUL bytes); the engine turns that
        # into MC001. A tree parsed earlier in the run is reused.
        self.tree: ast.Module = tree if tree is not None else ast.parse(source)

    @cached_property
    def imports(self) -> ImportTable:
        return ImportTable.of_module(self.tree)

    @cached_property
    def uninterpreted_flow(self) -> ModuleFlow:
        """The flow before this module's own events are recorded (other modules may ask it
        for a class's forward while it is being built)."""
        return ModuleFlow(self.tree, self.imports, self.path, self.module_name, self.project)

    @cached_property
    def flow(self) -> ModuleFlow:
        return self.uninterpreted_flow.interpret()

    @cached_property
    def parents(self) -> Mapping[ast.AST, ast.AST]:
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        return parents

    def contains(self, ancestor: ast.AST, node: ast.AST) -> bool:
        """Whether `node` lies inside `ancestor` (or is it)."""
        current: ast.AST | None = node
        while current is not None:
            if current is ancestor:
                return True
            current = self.parents.get(current)
        return False

    def statement_of(self, node: ast.AST) -> ast.stmt:
        """The innermost statement that holds `node` (the node itself if it is one)."""
        current: ast.AST | None = node
        while current is not None and not isinstance(current, ast.stmt):
            current = self.parents.get(current)
        if current is None:
            raise ValueError("the node is not inside a statement of this module")
        return current

    def is_only_statement_on_line(self, statement: ast.stmt) -> bool:
        """True when no other statement shares the statement's lines (`a = 1; b = 2`)."""
        parent = self.parents.get(statement)
        for field_name in ("body", "orelse", "finalbody"):
            siblings = getattr(parent, field_name, None)
            if not isinstance(siblings, list) or statement not in siblings:
                continue
            for sibling in siblings:
                if sibling is statement:
                    continue
                last, sibling_last = statement.end_lineno, sibling.end_lineno
                assert last is not None and sibling_last is not None
                if sibling.lineno <= last and statement.lineno <= sibling_last:
                    return False
            start, end = self.offsets(statement)
            line_start = self.line_offset(statement.lineno)
            before = self.source[line_start:start]
            after = self.line_text(statement.end_lineno or statement.lineno)
            line_end = self.line_offset(statement.end_lineno or statement.lineno) + len(after)
            rest = self.source[end:line_end]
            # `if x: y = 1` puts the statement on its header's line.
            return not before.strip() and not rest.strip().lstrip(";").strip()
        return False

    def facts_for(self, path: str) -> ModuleFacts | None:
        """The facts of another module of the same run (for fixes that span files)."""
        if path == self.path:
            return self
        return self.project.facts_of_path(path) if self.project is not None else None

    @cached_property
    def _line_starts(self) -> list[int]:
        return line_starts(self.source)

    @cached_property
    def _ascii(self) -> bool:
        return self.source.isascii()

    def _column(self, line: int, byte_column: int) -> int:
        """`ast` counts columns in UTF-8 bytes; edits count characters."""
        if self._ascii:
            return byte_column
        text = self.line_text(line)
        return len(text.encode("utf-8")[:byte_column].decode("utf-8", errors="replace"))

    def _position(self, node: ast.AST) -> tuple[int, int, int, int]:
        line = getattr(node, "lineno", None)
        end_line = getattr(node, "end_lineno", None)
        if line is None or end_line is None:
            raise ValueError(f"{type(node).__name__} has no position")
        return (
            line,
            self._column(line, node.col_offset),  # type: ignore[attr-defined]
            end_line,
            self._column(end_line, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def span(self, node: object) -> Span:
        assert isinstance(node, ast.AST)
        line, column, end_line, end_column = self._position(node)
        return Span(line, column + 1, end_line, end_column + 1)

    def offsets(self, node: ast.AST) -> tuple[int, int]:
        line, column, end_line, end_column = self._position(node)
        return self._line_starts[line - 1] + column, self._line_starts[end_line - 1] + end_column

    def has_parentheses(self, node: ast.AST) -> bool:
        """Whether the node's own text is wrapped in parentheses (`(p > 0.5)`), not counting
        the parentheses of a call whose only argument it is."""
        return self._parentheses(node) > 0

    def _parentheses(self, node: ast.AST) -> int:
        return len(self._parenthesised_ranges(node))

    def _parenthesised_ranges(self, node: ast.AST) -> list[tuple[int, int]]:
        """The ranges of the node wrapped in each of its own pairs of parentheses, innermost
        first. Comments and line continuations between a parenthesis and the node count as
        space (`(a + b  # why\n)`)."""
        start, end = self.offsets(node)
        parent = self.parents.get(node)
        # The parentheses of `f(x)` are the call's, not `x`'s own.
        skip = 0
        if isinstance(parent, ast.Call) and parent.func is not node:
            skip = 1 if len(parent.args) == 1 and not parent.keywords else 0
        ranges: list[tuple[int, int]] = []
        while True:
            before = self._significant_before(start)
            after = self._significant_after(end)
            if before < 0 or self.source[before] != "(" or self.source[after : after + 1] != ")":
                break
            start, end = before, after + 1
            ranges.append((start, end))
        return ranges[: max(0, len(ranges) - skip)]

    def _significant_before(self, position: int) -> int:
        """The index of the last character before `position` that is not space, a comment
        or a line continuation; -1 when there is none."""
        first_line = True
        while position > 0:
            line_start = self.source.rfind("\n", 0, position) + 1
            segment = self.source[line_start:position]
            # On the node's own line a `#` before it is inside a string, not a comment.
            comment = -1 if first_line else segment.find("#")
            first_line = False
            if comment >= 0:
                segment = segment[:comment]
            kept = segment.rstrip(" \t\r\f\\")
            if kept:
                return line_start + len(kept) - 1
            position = line_start - 1
        return -1

    def _significant_after(self, position: int) -> int:
        """The index of the first character from `position` on that is not space, a
        comment or a line continuation; the length of the source when there is none."""
        size = len(self.source)
        while position < size:
            character = self.source[position]
            if character in " \t\r\n\f":
                position += 1
            elif character == "\\" and self.source[position + 1 : position + 2] in ("\n", "\r"):
                position += 2
            elif character == "#":
                newline = self.source.find("\n", position)
                position = size if newline < 0 else newline
            else:
                return position
        return size

    def offsets_with_parentheses(self, node: ast.AST) -> tuple[int, int]:
        """The node's range including its own parentheses (`(p > 0.5)`)."""
        ranges = self._parenthesised_ranges(node)
        return ranges[-1] if ranges else self.offsets(node)

    def attribute_name_offsets(self, node: ast.Attribute) -> tuple[int, int]:
        """Where the name after the dot is (`sigmoid` in `torch.sigmoid`): the node ends
        with it. Read back from the text, not measured by `node.attr`, which `ast` has
        normalised (`x.ﬁt` gives `fit`)."""
        end = self.offsets(node)[1]
        start = end
        while start > 0 and _in_name(self.source[start - 1]):
            start -= 1
        return start, end

    def replace_attribute_name(self, node: ast.Attribute, replacement: str) -> Edit:
        start, end = self.attribute_name_offsets(node)
        return Edit(self.path, start, end, replacement)

    def code(self, node: ast.AST) -> str:
        start, end = self.offsets(node)
        return self.source[start:end]

    def replace(self, node: ast.AST, replacement: str) -> Edit:
        start, end = self.offsets(node)
        return Edit(self.path, start, end, replacement)

    def insert_at(self, offset: int, text: str) -> Edit:
        return Edit(self.path, offset, offset, text)

    def line_offset(self, line: int) -> int:
        """Where `line` starts (the end of the source for the line after the last)."""
        if line - 1 < len(self._line_starts):
            return self._line_starts[line - 1]
        return len(self.source)

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self._line_starts[line] if line < len(self._line_starts) else len(self.source)
        return self.source[start:end]


def line_starts(source: str) -> list[int]:
    """The offset at which each line of `source` starts (lines end as `ast` ends them)."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(source))]


def _in_name(character: str) -> bool:
    return character == "_" or character.isalnum() or not character.isascii()
