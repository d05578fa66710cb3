from __future__ import annotations

from collections.abc import Iterator

from migrate.analysis.api import ModuleQueries, names
from migrate.fixing.edits import mixture_fix
from migrate.fixing.loss_path import loss_path_violations, mixture_violations
from migrate.fixing.readers import ReaderPolicy
from migrate.rule import Applicability, Invalid, Rule, Valid, Violation


class SoftmaxBeforeCrossEntropy(Rule):
    """
    ## What it does
    Finds a softmax whose output reaches the input of `nn.CrossEntropyLoss` or
    `F.cross_entropy`, in any spelling (`F.softmax`, `torch.softmax`, `.softmax()`,
    `nn.Softmax`), inline or through variables, criteria and model outputs.

    The flow is followed the way real code spreads it (the MC2xx rules share this; see
    `docs/following.md`): module-level scripts and their `if __name__ == "__main__":` block;
    models and criteria handed down through functions, keyword arguments, `functools.partial`
    and methods; criteria stored by a setter, assigned from outside, held in a config object
    or chosen from a registry (each option is reported, named); constructions inside
    expressions; models built by factories and registry decorators, and heads patched onto
    library models; tuple, dict and dataclass outputs; both arms of `if self.training:`.
    A finding whose loss is elsewhere names the route (`train.py:105 → train:79 →
    train_single_epoch:66`).

    ## Why is this bad?
    `CrossEntropyLoss` applies `log_softmax` to its input. Given probabilities, it applies
    softmax a second time: the loss can never go below `log(1 + (C-1)/e)` (1.46 for 10
    classes), the largest probability it ever sees is `e / (e + C - 1)`, and the gradient of
    confident mistakes flattens, so hard and rare examples are abandoned. Nothing crashes;
    balanced accuracy barely moves while macro-F1 under class imbalance collapses.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = F.cross_entropy(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    probs = F.softmax(logits, dim=1)  # only where probabilities are read
    ```

    ## Fix safety
    Unsafe: the loss value and the training dynamics change (that is the point). When the
    softmax is only on the loss path it is removed; when its output is also read elsewhere, the
    loss is given the softmax's input instead. When the softmax sits in another function (a
    model's `forward`), the finding is reported without a fix. A softmax whose output was mixed
    (`softmax(s) @ onehot`) is never removed: the loss becomes `nll_loss(log(p.clamp_min(eps)))`.

    ## Known limits
    A parameter is followed only when every call site in the analysed files passes the same
    kind of value; a value stored in a container the analysis does not model (a list, a
    set, an attribute of an object from a library) is not followed. Findings on one arm of
    `if self.training:` and on one option of a run-time choice come without a fix.
    """

    code = "MC201"
    name = "softmax-before-cross-entropy"
    summary = "A softmax output reaches the input of CrossEntropyLoss"
    message = "`{activation}` feeds probabilities to `{loss}`, which applies log_softmax itself"
    fix_title = "Pass the logits to `{loss}`"
    safety = Applicability.UNSAFE
    examples = [
        Valid("loss = F.cross_entropy(logits, y)", id="logits"),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                def forward(self, x):
                    return self.fc(x).softmax(dim=1)
            def evaluate(model: Net, x, criterion):
                return criterion(model(x), y)
            loss = nn.CrossEntropyLoss()(Net()(x), y)
            """,
            id="forward-softmax-with-unfollowed-reader",
        ),
        Valid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(student, F.softmax(teacher / T, dim=1))
            """,
            id="softmax-on-target",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            probs = logits.softmax(dim=1)
            loss = F.cross_entropy(logits, y)
            confidence = probs.max(dim=1).values
            """,
            id="confidence-beside-the-loss",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            attn = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
            logits = head(attn @ v)
            loss = F.cross_entropy(logits, y)
            """,
            id="attention-then-linear",
        ),
        Valid(
            """
            import torch.nn.functional as F
            class CrossEntropyLoss:
                def __call__(self, probs, y): ...
            criterion = CrossEntropyLoss()
            loss = criterion(F.softmax(z, dim=1), y)
            """,
            id="project-own-cross-entropy",
        ),
        Invalid(
            """
            import torch.nn.functional as F
            loss = F.cross_entropy(F.softmax(z, 1), y)
            """,
            fixed="""
            import torch.nn.functional as F
            loss = F.cross_entropy(z, y)
            """,
            id="inline-functional",
        ),
        Invalid(
            """
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            probs = torch.softmax(model(x), dim=1)
            loss = criterion(probs, y)
            """,
            fixed="""
            import torch
            from torch import nn
            criterion = nn.CrossEntropyLoss()
            probs = model(x)
            loss = criterion(probs, y)
            """,
            id="through-local-and-criterion",
        ),
        Invalid(
            """
            import torch.nn as nn
            def step(model, x, y):
                logits = model(x)
                probs = logits.softmax(dim=1)
                loss = nn.CrossEntropyLoss()(probs, y)
                return loss, probs.argmax(dim=1)
            """,
            fixed="""
            import torch.nn as nn
            def step(model, x, y):
                logits = model(x)
                probs = logits.softmax(dim=1)
                loss = nn.CrossEntropyLoss()(logits, y)
                return loss, probs.argmax(dim=1)
            """,
            id="probabilities-also-read",
        ),
        Invalid(
            """
            from torch.nn import CrossEntropyLoss as CE, Softmax
            loss = CE()(Softmax(dim=1)(z), y)
            """,
            fixed="""
            from torch.nn import CrossEntropyLoss as CE, Softmax
            loss = CE()(z, y)
            """,
            id="aliased-imports-and-module",
        ),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)
                def forward(self, x):
                    return self.softmax(self.fc(x))
            model = Net()
            loss = nn.CrossEntropyLoss()(model(x), y)
            confidence = model(x).max(dim=1).values
            """,
            fixed="""
            import torch.nn as nn
            import torch
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(4, 3)
                    self.softmax = nn.Softmax(dim=1)
                def forward(self, x):
                    return self.fc(x)
            model = Net()
            loss = nn.CrossEntropyLoss()(model(x), y)
            confidence = torch.softmax(model(x), dim=1).max(dim=1).values
            """,
            id="softmax-in-forward",
        ),
        # The shapes real code spreads a flow over (docs/following.md).
        Invalid(
            """
            import torch
            import torch.nn as nn


            class FeedForwardNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.dense = nn.Linear(784, 10)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    return self.softmax(self.dense(x))


            def train_single_epoch(model, loader, loss_fn, optimiser):
                for x, y in loader:
                    loss = loss_fn(model(x), y)
                    loss.backward()


            def train(model, loader, loss_fn, optimiser, epochs):
                for _ in range(epochs):
                    train_single_epoch(model, loader, loss_fn, optimiser)


            if __name__ == "__main__":
                net = FeedForwardNet()
                loss_fn = nn.CrossEntropyLoss()
                train(net, loader, loss_fn, torch.optim.Adam(net.parameters()), 10)
            """,
            fixed="""
            import torch
            import torch.nn as nn


            class FeedForwardNet(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.dense = nn.Linear(784, 10)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    return self.dense(x)


            def train_single_epoch(model, loader, loss_fn, optimiser):
                for x, y in loader:
                    loss = loss_fn(model(x), y)
                    loss.backward()


            def train(model, loader, loss_fn, optimiser, epochs):
                for _ in range(epochs):
                    train_single_epoch(model, loader, loss_fn, optimiser)


            if __name__ == "__main__":
                net = FeedForwardNet()
                loss_fn = nn.CrossEntropyLoss()
                train(net, loader, loss_fn, torch.optim.Adam(net.parameters()), 10)
            """,
            id="script-main-block-through-two-functions",
        ),
        Invalid(
            """
            import functools
            import torch.nn as nn
            import torch.nn.functional as F


            class Classifier(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.head = nn.Linear(16, 4)

                def score(self, x):
                    return F.softmax(self.head(x), dim=-1)


            class Engine:
                def fit(self, *, model, loss_fn, loader):
                    for batch in loader:
                        self.step(model, batch, loss_fn=loss_fn)

                def step(self, model, batch, *, loss_fn):
                    x, y = batch
                    return loss_fn(model.score(x), y)


            smoothed = functools.partial(F.cross_entropy, label_smoothing=0.1)
            Engine().fit(model=Classifier(), loss_fn=smoothed, loader=data)
            """,
            id="keyword-only-parameters-partial-and-a-method",
        ),
        Invalid(
            """
            import torch.nn as nn


            class TextCNN(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(300, 4)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    return self.softmax(self.fc(x))

                def add_loss_op(self, loss_op):
                    self.loss_op = loss_op

                def run_epoch(self, batches):
                    for x, y in batches:
                        loss = self.loss_op(self(x), y)
                        loss.backward()


            model = TextCNN()
            model.add_loss_op(nn.CrossEntropyLoss())
            model.run_epoch(batches)
            """,
            fixed="""
            import torch.nn as nn


            class TextCNN(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(300, 4)
                    self.softmax = nn.Softmax(dim=1)

                def forward(self, x):
                    return self.fc(x)

                def add_loss_op(self, loss_op):
                    self.loss_op = loss_op

                def run_epoch(self, batches):
                    for x, y in batches:
                        loss = self.loss_op(self(x), y)
                        loss.backward()


            model = TextCNN()
            model.add_loss_op(nn.CrossEntropyLoss())
            model.run_epoch(batches)
            """,
            id="criterion-stored-by-a-setter",
        ),
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)


            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.criterion = None

                def step(self, x, y):
                    return self.criterion(self.model(x), y)


            trainer = Trainer(Net())
            trainer.criterion = nn.CrossEntropyLoss()
            trainer.step(x, y)
            """,
            id="criterion-assigned-from-outside",
        ),
        Invalid(
            """
            from dataclasses import dataclass
            from typing import Optional

            import torch.nn as nn


            @dataclass
            class Config:
                lr: float = 1e-3
                loss: Optional[nn.Module] = None


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return self.fc(x).softmax(dim=1)


            def train(cfg: Config, model, x, y):
                return cfg.loss(model(x), y)


            cfg = Config()
            cfg.loss = nn.CrossEntropyLoss()
            train(cfg, Net(), x, y)
            """,
            fixed="""
            from dataclasses import dataclass
            from typing import Optional

            import torch.nn as nn


            @dataclass
            class Config:
                lr: float = 1e-3
                loss: Optional[nn.Module] = None


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return self.fc(x)


            def train(cfg: Config, model, x, y):
                return cfg.loss(model(x), y)


            cfg = Config()
            cfg.loss = nn.CrossEntropyLoss()
            train(cfg, Net(), x, y)
            """,
            id="criterion-in-a-config-dataclass",
        ),
        Invalid(
            """
            import functools
            import torch.nn as nn
            import torch.nn.functional as F

            LOSSES = {
                "ce": nn.CrossEntropyLoss,
                "smooth": functools.partial(nn.CrossEntropyLoss, label_smoothing=0.1),
                "nll": nn.NLLLoss,
            }


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)


            criterion = LOSSES[args.loss]()
            loss = criterion(Net()(x), y)
            """,
            id="loss-class-chosen-from-a-registry",
        ),
        Invalid(
            """
            import torch.nn as nn

            _MODELS = {}


            def register_model(name):
                def decorator(cls):
                    _MODELS[name] = cls
                    return cls
                return decorator


            def create_model(name, **kwargs):
                entry = _MODELS[name]
                return entry(**kwargs)


            @register_model("mlp")
            class MLP(nn.Module):
                def __init__(self, classes=10):
                    super().__init__()
                    self.fc = nn.Linear(32, classes)

                def forward(self, x):
                    return self.fc(x).softmax(-1)


            model = create_model("mlp", classes=4)
            loss = nn.CrossEntropyLoss()(model(x), y)
            """,
            fixed="""
            import torch.nn as nn

            _MODELS = {}


            def register_model(name):
                def decorator(cls):
                    _MODELS[name] = cls
                    return cls
                return decorator


            def create_model(name, **kwargs):
                entry = _MODELS[name]
                return entry(**kwargs)


            @register_model("mlp")
            class MLP(nn.Module):
                def __init__(self, classes=10):
                    super().__init__()
                    self.fc = nn.Linear(32, classes)

                def forward(self, x):
                    return self.fc(x)


            model = create_model("mlp", classes=4)
            loss = nn.CrossEntropyLoss()(model(x), y)
            """,
            id="model-from-a-registry-decorator",
        ),
        Invalid(
            """
            import torch.nn as nn
            import torchvision

            model = torchvision.models.resnet18(weights=None)
            model.fc = nn.Sequential(nn.Linear(512, 10), nn.Softmax(dim=1))
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """,
            id="head-patched-onto-a-library-model",
        ),
        Invalid(
            """
            from dataclasses import dataclass

            import torch
            import torch.nn as nn
            import torch.nn.functional as F


            @dataclass
            class Output:
                logits: torch.Tensor
                probs: torch.Tensor


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    logits = self.fc(x)
                    return Output(logits=logits, probs=F.softmax(logits, dim=1))


            class Trainer:
                def __init__(self, model):
                    self.model = model
                    self.criterion = nn.CrossEntropyLoss()

                def compute_loss(self, output: Output, y):
                    return self.criterion(output.probs, y)

                def step(self, x, y):
                    return self.compute_loss(self.model(x), y)


            Trainer(Net()).step(x, y)
            """,
            id="dataclass-output-read-in-a-method",
        ),
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    z = self.fc(x)
                    if self.training:
                        return z
                    return F.softmax(z, dim=1)


            def validate(model, loader, criterion):
                model.eval()
                return sum(criterion(model(x), y).item() for x, y in loader)


            validate(Net(), loader, nn.CrossEntropyLoss())
            """,
            id="softmax-only-in-eval-mode-read-by-validation",
        ),
        Invalid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    z = self.fc(x)
                    return F.softmax(z, dim=1), z


            criterion = nn.CrossEntropyLoss()
            probs, logits = Net()(x)
            loss = criterion(probs, y)
            """,
            id="tuple-output-unpacked",
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class Student(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return self.fc(x)


            def distill_step(student, x, soft_targets, criterion):
                return criterion(student(x), soft_targets)


            if __name__ == "__main__":
                teacher_probs = F.softmax(teacher(x) / 4.0, dim=1)
                distill_step(Student(), x, teacher_probs, nn.CrossEntropyLoss())
            """,
            id="softmax-on-soft-targets-handed-down",
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class DiceLoss(nn.Module):
                def forward(self, probs, target):
                    return 1 - (probs * target).sum() / (probs + target).sum()


            class Segmenter(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 4, 1)

                def forward(self, x):
                    return F.softmax(self.conv(x), dim=1)

                def set_loss(self, loss):
                    self.loss = loss

                def step(self, x, y):
                    return self.loss(self(x), y)


            model = Segmenter()
            model.set_loss(DiceLoss())
            model.step(x, y)
            """,
            id="own-loss-expecting-probabilities-through-a-setter",
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    z = self.fc(x)
                    if not self.training:
                        return F.softmax(z, dim=1)
                    return z


            def train_epoch(model, loader, criterion):
                model.train()
                for x, y in loader:
                    criterion(model(x), y).backward()


            def predict(model, x):
                model.eval()
                return model(x).argmax(dim=1)


            train_epoch(Net(), loader, nn.CrossEntropyLoss())
            """,
            id="eval-only-softmax-with-a-training-loss-only",
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            LOSSES = {"nll": nn.NLLLoss, "weighted_nll": nn.NLLLoss}


            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 3)

                def forward(self, x):
                    return F.log_softmax(self.fc(x), dim=1)


            criterion = LOSSES[args.loss]()
            loss = criterion(Net()(x), y)
            """,
            id="log-softmax-with-nll-chosen-from-a-registry",
        ),
        Invalid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self, depth):
                    super().__init__()
                    layers = [nn.Linear(8, 16)]
                    for _ in range(depth):
                        layers.append(nn.Linear(16, 16))
                    layers += [nn.Linear(16, 4)]
                    layers.append(nn.Softmax(dim=1))
                    self.net = nn.Sequential(*layers)
                def forward(self, x):
                    return self.net(x)
            loss = nn.CrossEntropyLoss()(Net(2)(x), y)
            """,
            id="sequential-of-a-list-grown-by-append",
        ),
        Invalid(
            """
            from collections import OrderedDict
            import torch.nn as nn
            import torch.nn.functional as F
            class MLP(nn.Module):
                def __init__(self, layers):
                    super().__init__()
                    stack = OrderedDict()
                    stack["input"] = nn.Linear(8, 16)
                    for i in range(layers):
                        stack[f"{i}_lin"] = nn.Linear(16, 16)
                    stack["output"] = nn.Softmax(-1)
                    self.mlp = nn.Sequential(stack)
                def forward(self, x):
                    return self.mlp(x)
            loss = F.cross_entropy(MLP(2)(x), y)
            """,
            id="sequential-of-an-ordered-dict-filled-item-by-item",
        ),
        Valid(
            """
            import torch.nn as nn
            class Net(nn.Module):
                def __init__(self, probabilities=False):
                    super().__init__()
                    layers = [nn.Linear(8, 4)]
                    if probabilities:
                        layers.append(nn.Softmax(dim=1))
                    self.net = nn.Sequential(*layers)
                def forward(self, x):
                    return self.net(x)
            loss = nn.CrossEntropyLoss()(Net()(x), y)
            """,
            id="softmax-appended-only-on-a-flag",
        ),
        Valid(
            """
            import torch.nn as nn
            def add_classifier(layers):
                layers.append(nn.Linear(4, 4))
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    layers = [nn.Linear(8, 4), nn.Softmax(dim=1)]
                    add_classifier(layers)
                    self.net = nn.Sequential(*layers)
                def forward(self, x):
                    return self.net(x)
            loss = nn.CrossEntropyLoss()(Net()(x), y)
            """,
            id="list-handed-to-a-function-that-appends-a-layer-after-the-softmax",
        ),
        Valid(
            """
            import torch.nn as nn
            layers = backbone_layers(config)
            layers += [nn.Softmax(dim=1), nn.Linear(4, 4)]
            model = nn.Sequential(*layers)
            loss = nn.CrossEntropyLoss()(model(x), y)
            """,
            id="list-of-unknown-start-grown-with-a-softmax-then-a-linear",
        ),
        Valid(
            """
            import torch.nn as nn
            layers = backbone_layers(config)
            layers += [nn.Linear(8, 4), nn.Softmax(dim=1)]
            layer = layers[1]
            loss = nn.CrossEntropyLoss()(layer(x), y)
            """,
            id="list-of-unknown-start-indexed-from-its-start",
        ),
        Invalid(
            """
            import torch
            import torch.nn.functional as F
            def scores(model, clips):
                outputs = []
                for clip in clips:
                    outputs.append(F.softmax(model(clip), dim=1))
                return torch.cat(outputs)
            loss = F.cross_entropy(scores(model, clips), y)
            """,
            id="softmax-rows-appended-in-a-loop-then-concatenated",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            def scores(model, clips):
                outputs = []
                for clip in clips:
                    outputs.append(F.softmax(model(clip), dim=1))
                    outputs.append(model(clip))
                return torch.cat(outputs)
            loss = F.cross_entropy(scores(model, clips), y)
            """,
            id="softmax-rows-and-logits-appended-then-concatenated",
        ),
        Invalid(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            class Probabilities(nn.Module):
                def forward(self, x):
                    return F.softmax(x, dim=1)
            class Scores(nn.Module):
                def forward(self, x):
                    return x
            model = Probabilities() if use_probabilities else Scores()
            model = torch.compile(model)
            loss = F.cross_entropy(model(x), y)
            """,
            id="compiled-model-chosen-by-a-flag",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            def scores(model, batches, extra):
                outputs = collect(model, batches)
                outputs += [F.softmax(model(extra), dim=1)]
                return torch.cat(outputs)
            loss = F.cross_entropy(scores(model, batches, extra), y)
            """,
            id="list-of-unknown-start-with-softmax-rows-added-then-concatenated",
        ),
        Valid(
            """
            import torch
            import torch.nn.functional as F
            def scores(model, clips, first):
                outputs = []
                for clip in clips:
                    outputs.append(F.softmax(model(clip), dim=1))
                outputs.insert(0, model(first))
                return torch.cat(outputs)
            loss = F.cross_entropy(scores(model, clips, first), y)
            """,
            id="logits-inserted-before-softmax-rows-then-concatenated",
        ),
        Valid(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class ProbLoss(nn.Module):
                def forward(self, p, y):
                    return -(p.clamp_min(1e-12).log() * y).sum(1).mean()
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 4)
                def forward(self, x):
                    return F.softmax(self.fc(x), dim=1)
            class BaseTrainer:
                def __init__(self, model):
                    self.model = model
                    self.criterion = nn.CrossEntropyLoss()
                def step(self, x, y):
                    return self.criterion(self.model(x), y)
            class ProbTrainer(BaseTrainer):
                def __init__(self, model):
                    super().__init__(model)
                    self.criterion = ProbLoss()
            ProbTrainer(Net()).step(x, y)
            """,
            id="subclass-replaces-the-criterion-its-base-method-reads",
        ),
        Valid(
            """
            import torch.nn as nn
            class Base(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 4)
                    self.act = nn.Softmax(dim=1)
                def forward(self, x):
                    return self.act(self.fc(x))
            class Scores(Base):
                def __init__(self):
                    super().__init__()
                    self.act = nn.Identity()
                def forward(self, x):
                    return super().forward(x)
            loss = nn.CrossEntropyLoss()(Scores()(x), y)
            """,
            id="subclass-replaces-the-activation-its-base-forward-applies",
        ),
        Invalid(
            """
            import torch.nn as nn
            layers = backbone_layers(config)
            layers += [nn.Linear(8, 4), nn.Softmax(dim=1)]
            model = nn.Sequential(*layers)
            loss = nn.CrossEntropyLoss()(model(x), y)
            """,
            id="list-of-unknown-start-grown-to-end-in-a-softmax",
        ),
    ]

    def check(self, facts: ModuleQueries) -> Iterator[Violation]:
        yield from loss_path_violations(self, facts, names.SOFTMAX, _LOSSES, _POLICY)
        yield from mixture_violations(self, facts, names.SOFTMAX, _LOSSES, mixture_fix)


_LOSSES = frozenset({names.CROSS_ENTROPY})
_POLICY = ReaderPolicy(names.SOFTMAX, _LOSSES)
