from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from migrate.facts import ModuleFacts
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

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        if _MULTI_LABEL not in facts.source:
            return
        finder = _ProblemTypeFinder()
        facts.module.visit(finder)
        for string in finder.found:
            quote = string.quote
            replacement = f"{string.prefix}{quote}single_label_classification{quote}"
            fix = Fix(self.fix_title, Applicability.UNSAFE, (facts.replace(string, replacement),))
            yield self.violation(facts, string, self.message, fix)


class _ProblemTypeFinder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: list[cst.SimpleString] = []

    def _take(self, value: cst.BaseExpression) -> None:
        if isinstance(value, cst.SimpleString) and value.evaluated_value == _MULTI_LABEL:
            self.found.append(value)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None and node.keyword.value == "problem_type":
            self._take(node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if (
                isinstance(target.target, cst.Attribute)
                and target.target.attr.value == "problem_type"
            ):
                self._take(node.value)
