from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries
from migrate.fixing.edits import StringLiteral, describe, string_literal
from migrate.rule import Applicability, Edit, Fix, Invalid, Rule, Valid, Violation

_TORCHMETRICS = "torchmetrics"
_SKLEARN_METRICS = "sklearn.metrics"


class MultilabelMetrics(Rule):
    """
    ## What it does
    Finds multi-label metrics: torchmetrics `task="multilabel"` with `num_labels=`, the
    `Multilabel*` classes (constructed or imported), and scikit-learn `average="samples"`.

    ## Why is this bad?
    After the migration the model predicts one class per example (`argmax`), a `(N,)` tensor
    of class indices; multi-label metrics expect `(N, C)` indicator matrices and score each
    label independently.

    ## Example
    ```python
    f1 = MultilabelF1Score(num_labels=5)
    acc = Accuracy(task="multilabel", num_labels=5)
    ```

    ## Use instead
    ```python
    f1 = MulticlassF1Score(num_classes=5)
    acc = Accuracy(task="multiclass", num_classes=5)
    ```

    ## Fix safety
    Unsafe: the metric's meaning changes with the task. `average="samples"` becomes
    `average="macro"`. The metric's other arguments (a `threshold=`) are reported, not fixed.
    """

    code = "MC108"
    name = "multilabel-metrics"
    summary = "Multi-label metrics (torchmetrics, scikit-learn)"
    message = "`{metric}` is a multi-label metric; a multi-class model is scored per class index"
    fix_title = "Use the multiclass metric"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            from torchmetrics import Accuracy
            acc = Accuracy(task="multiclass", num_classes=5)
            """,
            id="multiclass",
        ),
        Valid('task = dict(task="multilabel")', id="not-a-metric-call"),
        Invalid(
            """
            from torchmetrics.classification import MultilabelF1Score
            f1 = MultilabelF1Score(num_labels=n)
            """,
            fixed="""
            from torchmetrics.classification import MulticlassF1Score
            f1 = MulticlassF1Score(num_classes=n)
            """,
            count=2,
            id="class-and-import",
        ),
        Invalid(
            """
            import torchmetrics
            acc = torchmetrics.Accuracy(task="multilabel", num_labels=5)
            """,
            fixed="""
            import torchmetrics
            acc = torchmetrics.Accuracy(task="multiclass", num_classes=5)
            """,
            id="task-argument",
        ),
        Invalid(
            """
            from torchmetrics.classification import MultilabelAccuracy
            class TopTagAccuracy(MultilabelAccuracy):
                pass
            acc = MultilabelAccuracy(num_labels=5)
            """,
            count=2,
            id="class-also-subclassed-is-not-renamed",
        ),
        Invalid(
            """
            from sklearn.metrics import f1_score
            score = f1_score(y, p, average="samples")
            """,
            fixed="""
            from sklearn.metrics import f1_score
            score = f1_score(y, p, average="macro")
            """,
            id="sklearn-samples",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        source = facts.source
        if "ultilabel" not in source and '"samples"' not in source and "'samples'" not in source:
            return
        for node, edits in _find_metrics(facts):
            message = self.message.format(metric=describe(facts, node, 50))
            fix = Fix(self.fix_title, Applicability.UNSAFE, tuple(edits)) if edits else None
            reason = None if edits else "this metric has no multiclass counterpart to rename to"
            yield self.violation(facts, node, message, fix, reason)


_Found = list[tuple[ast.AST, list[Edit]]]


def _find_metrics(facts: ModuleQueries) -> _Found:
    """Multi-label metrics, in source order (an enclosing node before the nodes it holds)."""
    only_called = _names_only_called(facts.tree)
    found: _Found = []
    for node in ast.walk(facts.tree):
        if isinstance(node, ast.ImportFrom):
            _import_from(facts, node, only_called, found)
        elif isinstance(node, ast.Call):
            qualified = facts.imports.qualify(node.func) or ""
            if qualified.startswith(_TORCHMETRICS):
                _torchmetrics_call(facts, node, qualified, only_called, found)
            elif qualified.startswith(_SKLEARN_METRICS):
                for keyword in node.keywords:
                    if keyword.arg == "average":
                        literal = string_literal(facts, keyword.value)
                        if literal is not None and literal.value == "samples":
                            replacement = _quoted(literal, "macro")
                            found.append((keyword, [facts.replace(keyword.value, replacement)]))

    def order(item: tuple[ast.AST, list[Edit]]) -> tuple[int, int]:
        start, end = facts.offsets(item[0])
        return start, -end

    found.sort(key=order)
    return found


def _import_from(
    facts: ModuleQueries, node: ast.ImportFrom, only_called: set[str], found: _Found
) -> None:
    if not (node.module or "").startswith(_TORCHMETRICS):
        return
    for alias in node.names:
        if alias.name.startswith("Multilabel") and alias.asname is None:
            new = "Multiclass" + alias.name[len("Multilabel") :]
            # Renamed only when every use is a call this rule rewrites too: a subclass or an
            # `isinstance` of the multi-label class would be left naming nothing.
            renamable = alias.name in only_called
            # Without `as`, the alias is exactly the imported name.
            edits = [facts.replace(alias, new)] if renamable else []
            found.append((alias, edits))


def _torchmetrics_call(
    facts: ModuleQueries, node: ast.Call, qualified: str, only_called: set[str], found: _Found
) -> None:
    edits: list[Edit] = []
    class_name = qualified.rsplit(".", 1)[-1]
    is_multilabel_class = class_name.startswith("Multilabel")
    task = next((keyword for keyword in node.keywords if keyword.arg == "task"), None)
    task_literal = string_literal(facts, task.value) if task is not None else None
    multilabel_task = task_literal is not None and task_literal.value == "multilabel"
    if not is_multilabel_class and not multilabel_task:
        return
    if task is not None and task_literal is not None and multilabel_task:
        edits.append(facts.replace(task.value, _quoted(task_literal, "multiclass")))
    if is_multilabel_class:
        func = node.func
        new = "Multiclass" + class_name[len("Multilabel") :]
        if isinstance(func, ast.Attribute) and func.attr == class_name:
            rename: Edit | None = facts.replace_attribute_name(func, new)
        elif isinstance(func, ast.Name) and func.id == class_name:
            rename = facts.replace(func, new)
        else:
            rename = None
        if rename is not None and class_name in only_called:
            edits.append(rename)
        else:
            # An alias, or a class also used other than by calls: renaming this call alone
            # would not match the import.
            found.append((node, []))
            return
    for keyword in node.keywords:
        if keyword.arg is None:
            continue
        if keyword.arg == "num_labels":
            # The keyword's range starts with its name: `num_labels=5`.
            start = facts.offsets(keyword)[0]
            edits.append(Edit(facts.path, start, start + len(keyword.arg), "num_classes"))
        elif keyword.arg == "threshold":
            edits = []  # a threshold has no multiclass meaning: leave it to a person
            break
    found.append((node, edits))


def _quoted(literal: StringLiteral, text: str) -> str:
    """`text` in the literal's quotes; its prefix is dropped, as the rule always did."""
    return f"{literal.quote}{text}{literal.quote}"


def _names_only_called(tree: ast.Module) -> set[str]:
    """Names whose every use outside imports is as the callee of a call (`Name(...)`).

    A use is every spelling of the name as an identifier: a variable, an attribute
    (`x.Name`), a definition, a parameter, a keyword (`f(Name=...)`), `global`, `except ... as`,
    a capture pattern."""
    calls: Counter[str] = Counter()
    uses: Counter[str] = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls[node.func.id] += 1
        uses.update(_identifiers(node))
    return {name for name, count in calls.items() if uses[name] == count}


def _identifiers(node: ast.AST) -> list[str]:
    """The identifiers a node spells itself (not those of its children)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg] if node.arg is not None else []
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return list(node.names)
    if isinstance(node, ast.ExceptHandler):
        return [node.name] if node.name is not None else []
    if isinstance(node, (ast.MatchAs, ast.MatchStar)):
        return [node.name] if node.name is not None else []
    if isinstance(node, ast.MatchMapping):
        return [node.rest] if node.rest is not None else []
    if isinstance(node, ast.MatchClass):
        return list(node.kwd_attrs)
    return []
