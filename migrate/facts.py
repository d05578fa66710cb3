"""What the rules see of one module: its tree, positions, imports and interpreted flow.

Built once per module per pass and shared by every rule, so no rule parses or interprets again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, ParentNodeProvider, PositionProvider

from migrate.flow import ModuleFlow
from migrate.names import ImportTable
from migrate.rule import Edit, Span

if TYPE_CHECKING:
    from migrate.index import ProjectIndex

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class ModuleFacts:
    def __init__(
        self,
        path: str,
        source: str,
        module_name: str = "__main__",
        project: ProjectIndex | None = None,
        data_dependent_fixes: bool = False,
        parse_source: str | None = None,
    ) -> None:
        self.path = path
        self.source = source
        self.module_name = module_name
        self.project = project
        # Fixes that are right only for some data (one-hot targets taken by argmax) are
        # planned only when the user asked for them (`--unsafe-fixes` with `migrate`).
        self.data_dependent_fixes = data_dependent_fixes
        # Parsing may raise libcst.ParserSyntaxError; the engine turns that into MC001.
        # `parse_source`, when given, has the same lines as `source` with some blanked out:
        # positions found in it are positions in `source`.
        parsed = cst.parse_module(source if parse_source is None else parse_source)
        self._wrapper = MetadataWrapper(parsed, unsafe_skip_copy=True)
        self.module: cst.Module = self._wrapper.module

    @cached_property
    def positions(self) -> dict[cst.CSTNode, CodeRange]:
        return dict(self._wrapper.resolve(PositionProvider))

    @cached_property
    def imports(self) -> ImportTable:
        return ImportTable.of_module(self.module)

    @cached_property
    def uninterpreted_flow(self) -> ModuleFlow:
        """The flow before this module's own events are recorded (other modules may ask it
        for a class's forward while it is being built)."""
        return ModuleFlow(self.module, self.imports, self.path, self.module_name, self.project)

    @cached_property
    def flow(self) -> ModuleFlow:
        return self.uninterpreted_flow.interpret()

    @cached_property
    def parents(self) -> Mapping[cst.CSTNode, cst.CSTNode]:
        return self._wrapper.resolve(ParentNodeProvider)

    def contains(self, ancestor: cst.CSTNode, node: cst.CSTNode) -> bool:
        """Whether `node` lies inside `ancestor` (or is it)."""
        current: cst.CSTNode | None = node
        while current is not None:
            if current is ancestor:
                return True
            current = self.parents.get(current)
        return False

    def facts_for(self, path: str) -> ModuleFacts | None:
        """The facts of another module of the same run (for fixes that span files)."""
        if path == self.path:
            return self
        return self.project.facts_of_path(path) if self.project is not None else None

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        starts.extend(match.end() for match in _LINE_BREAK.finditer(self.source))
        return starts

    def span(self, node: object) -> Span:
        assert isinstance(node, cst.CSTNode)
        code_range = self.positions[node]
        return Span(
            code_range.start.line,
            code_range.start.column + 1,
            code_range.end.line,
            code_range.end.column + 1,
        )

    def offsets(self, node: cst.CSTNode) -> tuple[int, int]:
        code_range = self.positions[node]
        start = self._line_starts[code_range.start.line - 1] + code_range.start.column
        end = self._line_starts[code_range.end.line - 1] + code_range.end.column
        return start, end

    def offsets_with_parentheses(self, node: cst.CSTNode) -> tuple[int, int]:
        """The node's range including its own parentheses (`(p > 0.5)`)."""
        start, end = self.offsets(node)
        for _ in getattr(node, "lpar", ()):
            start = self.source.rindex("(", 0, start)
        for _ in getattr(node, "rpar", ()):
            end = self.source.index(")", end) + 1
        return start, end

    def code(self, node: cst.CSTNode) -> str:
        start, end = self.offsets(node)
        return self.source[start:end]

    def replace(self, node: cst.CSTNode, replacement: str) -> Edit:
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
