"""The rule API: what a rule declares, what it returns, and the examples that document it.

A rule is a class in its own file under `rules/`. It declares its code, name and texts, carries
`Valid` / `Invalid` examples that double as tests and documentation, and yields `Violation`s
from `check`. It never prints, reads files or imports torch.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

# The data a rule returns; rules import them from here.
from migrate.findings import Applicability, Edit, Fix, ModelRelation, Span, Violation

if TYPE_CHECKING:
    from migrate.analysis.api import ModuleQueries

__all__ = [
    "Applicability",
    "Edit",
    "Fix",
    "Invalid",
    "ModelRelation",
    "Rule",
    "Span",
    "Valid",
    "Violation",
]


@dataclass(frozen=True)
class Valid:
    """Code the rule must stay silent on."""

    code: str
    id: str

    @property
    def source(self) -> str:
        return dedent_example(self.code)


@dataclass(frozen=True)
class Invalid:
    """Code the rule must report; `fixed` is the source after applying the rule's fix."""

    code: str
    id: str
    fixed: str | None = None
    # How many findings of this rule the example must produce.
    count: int = 1

    @property
    def source(self) -> str:
        return dedent_example(self.code)

    @property
    def fixed_source(self) -> str | None:
        return None if self.fixed is None else dedent_example(self.fixed)


def dedent_example(code: str) -> str:
    text = textwrap.dedent(code).strip("\n")
    return text + "\n"


DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    message: ClassVar[str]
    fix_title: ClassVar[str | None] = None
    # The applicability of the fix this rule usually offers; None when it never fixes.
    safety: ClassVar[Applicability | None] = None
    # Rules outside the default selection run only when selected explicitly.
    default_enabled: ClassVar[bool] = True
    examples: ClassVar[list[Valid | Invalid]] = []

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def fixable(cls) -> bool:
        return any(isinstance(e, Invalid) and e.fixed is not None for e in cls.examples)

    @classmethod
    def documentation(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    def violation(
        self,
        facts: ModuleQueries,
        node: object,
        message: str,
        fix: Fix | None = None,
        no_fix_reason: str | None = None,
        related: tuple[tuple[str, Span], ...] = (),
    ) -> Violation:
        return Violation(
            code=self.code,
            name=self.name,
            message=message,
            span=facts.span(node),
            fix=fix,
            no_fix_reason=no_fix_reason,
            related=related,
            path=facts.path,
        )
