from __future__ import annotations

import ast
from collections.abc import Iterator

from migrate.analysis.api import Activation, ModuleQueries, Probs, names
from migrate.fixing.edits import describe
from migrate.fixing.readers import model_sigmoid_fix
from migrate.rule import Applicability, Fix, Invalid, Rule, Valid, Violation


class SigmoidOutputLayer(Rule):
    """
    ## What it does
    Finds a model whose `forward` output passes through a sigmoid: the last `nn.Sigmoid` of a
    head `nn.Sequential`, `self.act = nn.Sigmoid()` applied to the returned value, or
    `torch.sigmoid` / `F.sigmoid` / `.sigmoid()` / `sigmoid` on the returned value.

    ## Why is this bad?
    A multi-class model must return logits: `CrossEntropyLoss` applies `log_softmax` itself,
    and independent sigmoids do not make class probabilities that sum to 1. Swapping the
    sigmoid for a softmax instead makes the loss apply softmax twice.

    ## Example
    ```python
    self.head = nn.Sequential(nn.Linear(64, num_classes), nn.Sigmoid())
    ...
    probs = model(x)
    preds = (probs > 0.5).int()
    ```

    ## Use instead
    ```python
    self.head = nn.Sequential(nn.Linear(64, num_classes))
    ...
    probs = torch.softmax(model(x), dim=1)
    preds = probs.argmax(dim=1)
    ```

    ## Fix safety
    Unsafe: the model's output changes from probabilities to logits. Every call of the model in
    the scanned files is rewritten with it: a call that feeds a loss keeps the logits (the loss
    becomes `CrossEntropyLoss` through MC102/MC103), a threshold becomes `argmax(dim=1)`, and
    any other reader gets `torch.softmax(..., dim=1)`. If one reader cannot be accounted for
    (the output is returned, unpacked, or passed to a project function), nothing is fixed and
    the finding says which reader. The `Sequential` keeps its other elements, so old
    checkpoints still load; the equivalence check proves `orig = sigmoid(new)`.

    ## Known limits
    Models built outside a class (`model.fc = nn.Sequential(..., nn.Sigmoid())` on a pretrained
    backbone) and tuple/dict outputs are not migrated yet.
    """

    code = "MC101"
    name = "sigmoid-output-layer"
    summary = "The model's output passes through a sigmoid"
    message = (
        "`{model}` returns sigmoid probabilities (`{activation}`); "
        "a multi-class model returns logits"
    )
    fix_title = "Return logits from `{model}`; apply softmax where probabilities are read"
    safety = Applicability.UNSAFE
    examples = [
        Valid(
            """
            import torch
            from torch import nn
            class SEBlock(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.fc = nn.Linear(c, c)
                def forward(self, x):
                    return x * torch.sigmoid(self.fc(x.mean((2, 3))))[:, :, None, None]
            """,
            id="squeeze-excitation-gate",
        ),
        Valid(
            """
            import torch
            from torch import nn
            class Swish(nn.Module):
                def forward(self, x):
                    return torch.sigmoid(x)
            """,
            id="activation-module-itself",
        ),
        Valid(
            """
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(8, 3))
                def forward(self, x):
                    return self.head(x)
            """,
            id="returns-logits",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(8, 3), nn.Sigmoid())
                def forward(self, x):
                    return self.head(x)
            model = Net()
            probs = model(x)
            preds = (probs > 0.5).int()
            print(probs)
            """,
            fixed="""
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(8, 3))
                def forward(self, x):
                    return self.head(x)
            model = Net()
            probs = torch.softmax(model(x), dim=1)
            preds = probs.argmax(dim=1)
            print(probs)
            """,
            id="sequential-head-and-threshold",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)
                def forward(self, x):
                    return torch.sigmoid(self.fc(x))
            def step(model: Net, x, y):
                out = model(x)
                return nn.BCELoss()(out, y), out.round()
            """,
            fixed="""
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)
                def forward(self, x):
                    return self.fc(x)
            def step(model: Net, x, y):
                out = model(x)
                return nn.BCELoss()(out, y), out.argmax(dim=1)
            """,
            id="functional-sigmoid-annotated-reader",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)
                def forward(self, x):
                    return self.fc(x).sigmoid()
            def predict(model: Net, x):
                return model(x)
            loss = nn.BCELoss()(predict(Net(), x), y)
            """,
            id="output-returned-to-a-caller-that-is-not-followed",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Discriminator(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net = nn.Sequential(
                        nn.Linear(64, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid()
                    )
                def forward(self, x):
                    return self.net(x)
            """,
            id="binary-head-is-refused",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            from accelerate import Accelerator
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Sequential(nn.Linear(8, 3), nn.Sigmoid())
                def forward(self, x):
                    return self.head(x)
            model = Accelerator().prepare(Net())
            preds = model(x) > 0.5
            """,
            id="model-handed-to-code-that-is-not-followed",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)
                def forward(self, x):
                    return torch.sigmoid(self.fc(x))
            def step(model: Net, x, y, criterion):
                out = model(x)
                return criterion(out, y), out.round()
            """,
            id="output-passed-to-unknown-criterion",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        flow = facts.flow
        seen: set[int] = set()
        for patched in flow.patched_models:
            activation = patched.activation
            if activation.op != names.SIGMOID or id(activation.node) in seen:
                continue
            seen.add(id(activation.node))
            model = describe(facts, activation.sequential or activation.node, 30)
            message = self.message.format(model=model, activation=describe(facts, activation.node))
            fix, reason = model_sigmoid_fix(
                facts, patched.key, activation, self.fix_title.format(model="the model")
            )
            yield self.violation(facts, activation.node, message, fix, reason)
        for class_name in flow.classes:
            class_key = flow.key(class_name)
            kind = flow.forward_kind(class_key)
            if not isinstance(kind, Probs) or kind.activation.op != names.SIGMOID:
                continue
            activation = kind.activation
            if activation.path != facts.path or not kind.exact:
                continue
            if _applied_to_an_argument(flow.classes[class_name].methods.get("forward"), activation):
                continue  # an activation module itself (`class Sigmoid: return sigmoid(x)`)
            message = self.message.format(
                model=class_name, activation=describe(facts, activation.node)
            )
            fix, reason = self._fix(facts, class_name, activation)
            yield self.violation(facts, activation.node, message, fix, reason)

    def _fix(
        self, facts: ModuleQueries, class_name: str, activation: Activation
    ) -> tuple[Fix | None, str | None]:
        return model_sigmoid_fix(facts, class_name, activation, self.fix_title)


def _applied_to_an_argument(
    forward: ast.FunctionDef | ast.AsyncFunctionDef | None, activation: Activation
) -> bool:
    """`forward(self, x): return torch.sigmoid(x)`: the class *is* an activation, not a model
    whose output layer is followed by one."""
    if forward is None or not isinstance(activation.input, ast.Name):
        return False
    # The plain parameters only: not positional-only, `*args` or keyword-only ones.
    parameters = [param.arg for param in forward.args.args]
    return activation.input.id in parameters[1:]
