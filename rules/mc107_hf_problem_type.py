from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries
from migrate.fixing.edits import StringLiteral, string_literal
from migrate.rule import Applicability, Fix, Invalid, Rule, Valid, Violation

_MULTI_LABEL = "multi_label_classification"


class HfProblemType(Rule):
    """
    ## What it does
    Finds `problem_type="multi_label_classification"` given to a Hugging Face model or
    config (as a keyword, or assigned to `.problem_type`).

    ## Why is this bad?
    With that problem type, a Hugging Face classification head computes `BCEWithLogitsLoss`
    whenever labels are passed: the multi-label loss survives the migration inside the model.

    ## Example
    ```python
    AutoModelForSequenceClassification.from_pretrained(
        name, num_labels=5, problem_type="multi_label_classification")
    ```

    ## Use instead
    ```python
    AutoModelForSequenceClassification.from_pretrained(
        name, num_labels=5, problem_type="single_label_classification")
    ```

    ## Fix safety
    Unsafe: the loss the model computes when given labels changes to cross-entropy, which
    expects class-index labels.
    """

    code = "MC107"
    name = "hf-problem-type"
    summary = "Hugging Face problem_type is multi-label"
    message = "`problem_type` is multi-label: the model's own loss stays BCEWithLogitsLoss"
    fix_title = 'Use problem_type="single_label_classification"'
    safety = Applicability.UNSAFE
    examples = [
        Valid('model = build(name, problem_type="single_label_classification")', id="single"),
        Valid('label = "multi_label_classification"', id="unrelated-string"),
        Invalid(
            """
            model = AutoModelForSequenceClassification.from_pretrained(
                name, problem_type="multi_label_classification"
            )
            """,
            fixed="""
            model = AutoModelForSequenceClassification.from_pretrained(
                name, problem_type="single_label_classification"
            )
            """,
            id="keyword",
        ),
        Invalid(
            "config.problem_type = 'multi_label_classification'\n",
            fixed="config.problem_type = 'single_label_classification'\n",
            id="attribute",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        if _MULTI_LABEL not in facts.source:
            return
        for literal in _problem_type_strings(facts):
            replacement = literal.respelled("single_label_classification")
            edit = facts.replace(literal.node, replacement)
            fix = Fix(self.fix_title, Applicability.UNSAFE, (edit,))
            yield self.violation(facts, literal.node, self.message, fix)


def _problem_type_strings(facts: ModuleQueries) -> list[StringLiteral]:
    """`problem_type="multi_label_classification"` (a keyword of a call or a class) and
    `x.problem_type = "multi_label_classification"`, in source order. A string assigned to
    several `.problem_type` targets at once is listed once per target."""
    found: list[tuple[ast.expr, int]] = []
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.keyword) and node.arg == "problem_type":
            found.append((node.value, 1))
        elif isinstance(node, ast.Assign):
            targets = [
                target
                for target in node.targets
                if isinstance(target, ast.Attribute) and target.attr == "problem_type"
            ]
            if targets:
                found.append((node.value, len(targets)))
    strings: list[StringLiteral] = []
    for value, times in sorted(found, key=lambda item: facts.offsets(item[0])):
        literal = string_literal(facts, value)
        if literal is not None and literal.value == _MULTI_LABEL:
            strings.extend([literal] * times)
    return strings
