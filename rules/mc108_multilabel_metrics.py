from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import libcst as cst

from migrate.facts import ModuleFacts
from migrate.fixes import describe
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

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        source = facts.source
        if "ultilabel" not in source and '"samples"' not in source and "'samples'" not in source:
            return
        finder = _MetricFinder(facts)
        facts.module.visit(finder)
        for node, edits in finder.found:
            message = self.message.format(metric=describe(facts, node, 50))
            fix = Fix(self.fix_title, Applicability.UNSAFE, tuple(edits)) if edits else None
            reason = None if edits else "this metric has no multiclass counterpart to rename to"
            yield self.violation(facts, node, message, fix, reason)


class _MetricFinder(cst.CSTVisitor):
    def __init__(self, facts: ModuleFacts) -> None:
        self.facts = facts
        self.found: list[tuple[cst.CSTNode, list[Edit]]] = []
        self.only_called = _names_only_called(facts.module)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        name = node.name
        if isinstance(name, cst.Name) and name.value.startswith("Multilabel"):
            parent = self.facts.parents.get(node)
            module = parent.module if isinstance(parent, cst.ImportFrom) else None
            module_name = self.facts.code(module) if module is not None else ""
            if module_name.startswith(_TORCHMETRICS) and node.asname is None:
                new = "Multiclass" + name.value[len("Multilabel") :]
                # Renamed only when every use is a call this rule rewrites too: a subclass or an
                # `isinstance` of the multi-label class would be left naming nothing.
                renamable = name.value in self.only_called
                edits = [self.facts.replace(name, new)] if renamable else []
                self.found.append((node, edits))

    def visit_Call(self, node: cst.Call) -> None:
        qualified = self.facts.imports.qualify(node.func) or ""
        if qualified.startswith(_TORCHMETRICS):
            self._torchmetrics_call(node, qualified)
        elif qualified.startswith(_SKLEARN_METRICS):
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value == "average":
                    if _string(arg.value) == "samples":
                        edit = self.facts.replace(arg.value, _quoted(arg.value, "macro"))
                        self.found.append((arg, [edit]))

    def _torchmetrics_call(self, node: cst.Call, qualified: str) -> None:
        edits: list[Edit] = []
        class_name = qualified.rsplit(".", 1)[-1]
        is_multilabel_class = class_name.startswith("Multilabel")
        task = next((a for a in node.args if a.keyword and a.keyword.value == "task"), None)
        multilabel_task = task is not None and _string(task.value) == "multilabel"
        if not is_multilabel_class and not multilabel_task:
            return
        if multilabel_task and task is not None:
            edits.append(self.facts.replace(task.value, _quoted(task.value, "multiclass")))
        if is_multilabel_class:
            func = node.func
            target = func.attr if isinstance(func, cst.Attribute) else func
            if (
                isinstance(target, cst.Name)
                and target.value == class_name
                and class_name in self.only_called
            ):
                edits.append(
                    self.facts.replace(target, "Multiclass" + class_name[len("Multilabel") :])
                )
            else:
                # An alias, or a class also used other than by calls: renaming this call alone
                # would not match the import.
                self.found.append((node, []))
                return
        for arg in node.args:
            if arg.keyword is None:
                continue
            if arg.keyword.value == "num_labels":
                edits.append(self.facts.replace(arg.keyword, "num_classes"))
            elif arg.keyword.value == "threshold":
                edits = []  # a threshold has no multiclass meaning: leave it to a person
                break
        self.found.append((node, edits))


def _string(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _quoted(node: cst.BaseExpression, text: str) -> str:
    quote = node.quote if isinstance(node, cst.SimpleString) else '"'
    return f"{quote}{text}{quote}"


def _names_only_called(module: cst.Module) -> set[str]:
    """Names whose every use outside imports is as the callee of a call (`Name(...)`)."""
    collector = _NameUses()
    module.visit(collector)
    return {name for name, calls in collector.calls.items() if collector.uses[name] == calls}


class _NameUses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.uses: Counter[str] = Counter()

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name):
            self.calls[node.func.value] += 1

    def visit_Name(self, node: cst.Name) -> None:
        self.uses[node.value] += 1
