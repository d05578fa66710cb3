"""What a run produces, as plain data: findings (`Violation`), their places (`Span`), and
the fixes they offer (`Fix`, made of text `Edit`s). No behaviour, no imports from the
package: every layer can use these without depending on another."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Applicability(str, Enum):
    SAFE = "safe"
    UNSAFE = "unsafe"

    def allows(self, fix: Applicability) -> bool:
        """Whether a run that applies fixes up to this level applies a fix of level `fix`."""
        return self is Applicability.UNSAFE or fix is Applicability.SAFE


@dataclass(frozen=True, order=True)
class Span:
    """A source range: 1-based lines, 1-based columns (as editors show them)."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the characters `start:end` of the file `path` with `replacement`."""

    path: str
    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class ModelRelation:
    """What a fix does to a model's output, for the equivalence check to prove."""

    path: str  # the file defining the class
    class_name: str
    relation: str  # "sigmoid": orig = sigmoid(new); "softmax": orig = softmax(new, dim); "identity"
    dim: int = 1
    output_key: str | int | None = None


@dataclass(frozen=True)
class Fix:
    title: str
    applicability: Applicability
    edits: tuple[Edit, ...]
    model_relations: tuple[ModelRelation, ...] = ()


@dataclass(frozen=True)
class Violation:
    code: str
    name: str
    message: str
    span: Span
    fix: Fix | None = None
    # Why there is no fix, when the rule could not prove one (shown to the user).
    no_fix_reason: str | None = None
    # Where the bad value is consumed, when it differs from where it is produced.
    related: tuple[tuple[str, Span], ...] = ()
    # The file the span is in (a flow may start in another file than the loss that ends it);
    # None for the file being analyzed.
    path: str | None = None


@dataclass(frozen=True)
class Finding:
    violation: Violation
    fixed: bool = False
    # Its fix was planned, then dropped with the rest of its migration unit
    # (`migrate.fixing.units`).
    unit_refused: bool = False


@dataclass
class FileOutcome:
    path: str
    original: str
    fixed: str
    findings: list[Finding] = field(default_factory=list)
    # What is still reported after the fixes were applied (equals the findings when not fixing).
    remaining: list[Violation] = field(default_factory=list)
    model_relations: list[ModelRelation] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed != self.original
