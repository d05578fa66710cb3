"""Shapes that the second blind sets of issue "Follow real code" missed, each on a small
project written out here: scripts that hand a model to a training module without naming a
loss, model classes passed as values, one function called with several models, loops over
models, closures, plain classes called like models, factories that return one of several
models, rows and clamps of probabilities, and packages whose `__init__.py` the run was not
given. Each expects the finding at the activation (or the log) and, where the path is one of
several, no fix."""

import textwrap
from pathlib import Path

import pytest

from migrate import pipeline
from migrate.pipeline import RunOptions

SOFTMAX_NET = (
    "import torch.nn as nn\n"
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(8, 4)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return F.softmax(self.fc(x), dim=1)\n"
)

# The body of a model whose forward returns logits.
PLAIN_LINEAR_BODY = (
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(8, 4)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.fc(x)\n"
)

# A training function that gets its model from its callers.
TRAIN_WITHOUT_MODEL = (
    "import torch.nn as nn\n"
    "\n"
    "\n"
    "def train(loader, model):\n"
    "    criterion = nn.CrossEntropyLoss()\n"
    "    for x, y in loader:\n"
    "        output = model(x)\n"
    "        loss = criterion(output, y)\n"
)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _found(root: Path, *paths: str) -> list[tuple[str, int, str, bool]]:
    """(file, line, code, whether a fix is offered) per finding of a check."""
    targets = [root / path for path in paths] if paths else [root]
    result = pipeline.run(RunOptions(paths=targets))
    return sorted(
        (
            Path(report.display).name,
            finding.violation.span.line,
            finding.violation.code,
            finding.violation.fix is not None,
        )
        for report, finding in result.findings
        if finding.violation.code != "MC207"
    )


def test_a_script_that_names_no_loss_hands_the_model_to_a_training_module(
    tmp_path: Path,
) -> None:
    # `main.py` spells no activation and no loss: it is read because `train` calls its model
    # parameter and gives a loss an input it cannot know by itself.
    root = _write(
        tmp_path,
        {
            # A softmax without `dim` (MC207): the run selects this file itself.
            "model.py": SOFTMAX_NET.replace(", dim=1)", ")"),
            "train.py": TRAIN_WITHOUT_MODEL,
            "main.py": (
                "import model\n"
                "import train\n"
                "\n"
                "if __name__ == '__main__':\n"
                "    net = model.Net()\n"
                "    net = net.cuda()\n"
                "    train.train([], net)\n"
            ),
        },
    )
    assert _found(root) == [("model.py", 11, "MC201", True)]


def test_a_model_class_passed_as_a_value_and_two_callers_with_different_models(
    tmp_path: Path,
) -> None:
    # `train_model` is called with an LSTM on one path and a GRU on another: each is followed,
    # and the `forward` they share is reported once (removing a redundant log_softmax keeps
    # every path's loss as it was, so its fix stays on offer).
    root = _write(
        tmp_path,
        {
            "models.py": (
                "import torch.nn as nn\n"
                "import torch.nn.functional as F\n"
                "\n"
                "\n"
                "class Recurrent(nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.fc = nn.Linear(8, 4)\n"
                "\n"
                "    def forward(self, x):\n"
                "        return F.log_softmax(self.fc(x), dim=1)\n"
                "\n"
                "\n"
                "class LSTM(Recurrent):\n"
                "    pass\n"
                "\n"
                "\n"
                "class GRU(Recurrent):\n"
                "    pass\n"
            ),
            "training.py": (
                "import torch\n"
                "\n"
                "\n"
                "def train_model(model, loss, loader):\n"
                "    for x, y in loader:\n"
                "        loss(model(x), y).backward()\n"
                "\n"
                "\n"
                "def search(model_cls, loader):\n"
                "    loss = torch.nn.CrossEntropyLoss()\n"
                "    model = model_cls()\n"
                "    train_model(model, loss, loader)\n"
                "\n"
                "\n"
                "def search_augmented(model_cls, loader):\n"
                "    loss = torch.nn.CrossEntropyLoss()\n"
                "    model = model_cls()\n"
                "    train_model(model, loss, loader)\n"
            ),
            "main.py": (
                "from models import GRU, LSTM\n"
                "from training import search, search_augmented\n"
                "\n"
                "search(model_cls=GRU, loader=[])\n"
                "search_augmented(model_cls=LSTM, loader=[])\n"
            ),
        },
    )
    assert _found(root) == [("models.py", 11, "MC205", True)]


def test_a_loop_over_models_follows_each_and_stays_silent_on_logits(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "nets.py": SOFTMAX_NET + ("\n\nclass Plain(nn.Module):\n" + PLAIN_LINEAR_BODY),
            "evaluate.py": (
                "import torch.nn.functional as F\n"
                "from nets import Net, Plain\n"
                "\n"
                "\n"
                "def evaluate(model, loader):\n"
                "    for x, y in loader:\n"
                "        F.cross_entropy(model(x), y)\n"
                "\n"
                "\n"
                "for model in [Plain(), Net()]:\n"
                "    evaluate(model, [])\n"
            ),
        },
    )
    assert _found(root) == [("nets.py", 11, "MC201", False)]


def test_a_closure_reads_the_model_parameter_of_the_function_it_is_defined_in(
    tmp_path: Path,
) -> None:
    root = _write(
        tmp_path,
        {
            "model.py": SOFTMAX_NET
            + (
                "\n"
                "\n"
                "def run(config, model, data):\n"
                "    def train(batch, label):\n"
                "        output = model(batch)\n"
                "        return F.cross_entropy(output, label)\n"
                "\n"
                "    for batch, label in data:\n"
                "        train(batch, label)\n"
            ),
            "main.py": ("from model import Net, run\n\nrun(None, Net(), [])\n"),
        },
    )
    assert _found(root) == [("model.py", 11, "MC201", True)]


def test_a_plain_class_called_like_a_model(tmp_path: Path) -> None:
    # An ensemble that is no `nn.Module`: calling it runs `__call__`. The fix planner only
    # rewrites a `forward`, so this one is reported without a fix.
    root = _write(
        tmp_path,
        {
            "ensemble.py": (
                "import torch.nn.functional as F\n"
                "from torch import nn\n"
                "\n"
                "\n"
                "class Average:\n"
                "    def __init__(self, first, second):\n"
                "        self.first = first\n"
                "        self.second = second\n"
                "\n"
                "    def __call__(self, x):\n"
                "        return F.softmax(self.first(x) + self.second(x), dim=1)\n"
                "\n"
                "\n"
                "def evaluate(model, loader):\n"
                "    criterion = nn.CrossEntropyLoss()\n"
                "    for x, y in loader:\n"
                "        criterion(model(x), y)\n"
                "\n"
                "\n"
                "evaluate(Average(nn.Linear(8, 4), nn.Linear(8, 4)), [])\n"
            ),
        },
    )
    assert _found(root) == [("ensemble.py", 11, "MC201", False)]


def test_a_factory_returning_one_of_several_models_then_a_log_plus_eps(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "src/__init__.py": "",
            "src/models/__init__.py": "",
            "src/models/nets.py": SOFTMAX_NET
            + (
                "\n"
                "\n"
                "class Wide(nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.fc = nn.Linear(8, 4)\n"
                "\n"
                "    def forward(self, x):\n"
                "        return F.softmax(self.fc(x), dim=-1)\n"
            ),
            "src/models/model.py": (
                "from .nets import Net, Wide\n"
                "\n"
                "\n"
                "def get_model(net_type='net'):\n"
                "    if net_type == 'net':\n"
                "        return Net()\n"
                "    elif net_type == 'wide':\n"
                "        return Wide()\n"
            ),
            "src/train.py": (
                "import torch\n"
                "from .models.model import get_model\n"
                "\n"
                "\n"
                "class Trainer:\n"
                "    def __init__(self, net_type='net'):\n"
                "        self.net = get_model(net_type=net_type).cuda()\n"
                "        self.criterion = torch.nn.NLLLoss()\n"
                "\n"
                "    def train(self, loader):\n"
                "        for inputs, labels in loader:\n"
                "            self.step(inputs, labels, criterion=self.criterion, net=self.net)\n"
                "\n"
                "    def step(self, inputs, labels, criterion, net):\n"
                "        outputs = net(inputs)\n"
                "        return criterion(torch.log(outputs + 1e-7), labels)\n"
            ),
        },
    )
    assert _found(root) == [("train.py", 16, "MC208", False)]


def test_rows_of_probabilities_and_a_clamp_reach_a_hand_written_log(tmp_path: Path) -> None:
    # A project's own cross-entropy on probabilities: its log is reported (MC208), without a
    # fix, since the log reads a clamp of a slice of the softmax of another file.
    root = _write(
        tmp_path,
        {
            "network.py": SOFTMAX_NET,
            "main.py": (
                "import torch\n"
                "from network import *\n"
                "\n"
                "\n"
                "def CrossEntropyLoss(predict, target):\n"
                "    predict_e = torch.clamp(predict, 1e-7, 1 - 1e-7)\n"
                "    return -torch.mean(torch.sum(target * torch.log(predict_e), 1))\n"
                "\n"
                "\n"
                "if __name__ == '__main__':\n"
                "    net = Net()\n"
                "    for x, y, labelled in []:\n"
                "        output = net(x)\n"
                "        if labelled:\n"
                "            loss = CrossEntropyLoss(output[: len(y)], y)\n"
                "        else:\n"
                "            loss = CrossEntropyLoss(output, y)\n"
            ),
        },
    )
    assert _found(root) == [("main.py", 7, "MC208", False)]


def test_packages_outside_the_given_paths_keep_the_project_names(tmp_path: Path) -> None:
    # The run is given `pkg/client.py` and `pkg/nets`, not `pkg/__init__.py`: the import
    # `from pkg.nets import Net` still names those files.
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/nets/__init__.py": "from .net import Net\n",
            "pkg/nets/net.py": SOFTMAX_NET,
            "pkg/client.py": (
                "import torch.nn as nn\n"
                "from pkg.nets import Net\n"
                "\n"
                "\n"
                "class Client:\n"
                "    def __init__(self):\n"
                "        self.criterion = nn.CrossEntropyLoss()\n"
                "\n"
                "    def evaluate(self, model: Net, loader):\n"
                "        for x, y in loader:\n"
                "            self.criterion(model(x), y)\n"
            ),
        },
    )
    assert _found(root, "pkg/client.py", "pkg/nets") == [("net.py", 11, "MC201", True)]


def test_a_mixin_that_calls_self_reaches_each_subclass_forward(tmp_path: Path) -> None:
    # `fit` lives in a mixin with no `forward`: `self.__call__(x)` runs the subclass's. A
    # subclass returning logits stays silent.
    root = _write(
        tmp_path,
        {
            "api.py": (
                "import torch.nn.functional as F\n"
                "from torch import nn\n"
                "\n"
                "\n"
                "class ClassMixin(nn.Module):\n"
                "    def fit(self, loader):\n"
                "        for x, y in loader:\n"
                "            outputs = self.__call__(x)\n"
                "            F.cross_entropy(outputs, y).backward()\n"
                "        return self\n"
            ),
            "lenet.py": (
                "import torch.nn.functional as F\n"
                "from torch import nn\n"
                "from api import ClassMixin\n"
                "\n"
                "\n"
                "class LeNet(ClassMixin):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.fc = nn.Linear(8, 4)\n"
                "\n"
                "    def forward(self, x):\n"
                "        return F.softmax(self.fc(x), -1)\n"
                "\n"
                "\n"
                "class Linear(ClassMixin):\n" + PLAIN_LINEAR_BODY
            ),
        },
    )
    assert _found(root) == [("lenet.py", 12, "MC201", False)]


def test_model_classes_defined_inside_the_main_block_and_inside_main(tmp_path: Path) -> None:
    # Scripts define their model where they train it: under `if __name__ == "__main__":`
    # (an ACGAN whose class head ends in a softmax) or inside `main()`.
    root = _write(
        tmp_path,
        {
            "acgan.py": (
                "import torch.nn as nn\n"
                "\n"
                'if __name__ == "__main__":\n'
                "\n"
                "    class Discriminator(nn.Module):\n"
                "        def __init__(self):\n"
                "            super().__init__()\n"
                "            self.adv = nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())\n"
                "            self.aux = nn.Sequential(nn.Linear(8, 4), nn.Softmax(1))\n"
                "\n"
                "        def forward(self, x):\n"
                "            return self.adv(x), self.aux(x)\n"
                "\n"
                "    net_D = Discriminator()\n"
                "    CE = nn.CrossEntropyLoss()\n"
                "    for x, y in []:\n"
                "        v, c = net_D(x)\n"
                "        loss = CE(c, y)\n"
            ),
            "ecg.py": (
                "import torch.nn as nn\n"
                "import torch.nn.functional as F\n"
                "\n"
                "\n"
                "def main():\n" + textwrap.indent(SOFTMAX_NET.split("\n\n\n")[1], "    ") + "\n"
                "    model = Net()\n"
                "    criterion = nn.CrossEntropyLoss()\n"
                "    for x, y in []:\n"
                "        loss = criterion(model(x), y)\n"
            ),
        },
    )
    assert _found(root) == [("acgan.py", 9, "MC201", False), ("ecg.py", 12, "MC201", True)]


def test_a_class_name_defined_in_two_functions_stays_unknown(tmp_path: Path) -> None:
    # Two `Net`s nested in two functions: which one a call builds depends on where it is
    # called, so neither is taken for the module's `Net`.
    nested_net = (
        "    class Net(nn.Module):\n"
        "        def __init__(self):\n"
        "            super().__init__()\n"
        "            self.fc = nn.Linear(8, 4)\n"
        "\n"
        "        def forward(self, x):\n"
        "            return {output}\n"
        "\n"
    )
    root = _write(
        tmp_path,
        {
            "script.py": (
                "import torch.nn as nn\n"
                "import torch.nn.functional as F\n"
                "\n"
                "\n"
                "def probabilities(x):\n"
                + nested_net.format(output="F.softmax(self.fc(x), dim=1)")
                + "    return Net()(x)\n"
                "\n"
                "\n"
                "def train(loader):\n"
                + nested_net.format(output="self.fc(x)")
                + "    model = Net()\n"
                "    for x, y in loader:\n"
                "        loss = nn.CrossEntropyLoss()(model(x), y)\n"
            ),
        },
    )
    assert _found(root) == []


ABSTRACT_BASE = (
    "import torch.nn as nn\n"
    "import torch.nn.functional as F\n"
    "from abc import abstractmethod\n"
    "\n"
    "\n"
    "class BaseModel(nn.Module):\n"
    "    @abstractmethod\n"
    "    def forward(self, **kwargs):\n"
    "        raise NotImplementedError\n"
    "\n"
    "\n"
    "class RNN(BaseModel):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(8, 4)\n"
    "\n"
    "    def forward(self, input_ids):\n"
    "        logits = self.fc(input_ids)\n"
    "        logits = F.softmax(logits, dim=1)\n"
    "        return logits\n"
    "\n"
    "\n"
    "class CNN(BaseModel):\n" + PLAIN_LINEAR_BODY.replace("(self, x)", "(self, input_ids)")
)


def test_a_parameter_annotated_with_an_abstract_base_reads_each_subclass(
    tmp_path: Path,
) -> None:
    # A Hugging Face `Trainer` subclass computes the loss on `model: BaseModel`; the model
    # is picked by a config string elsewhere. The subclass ending in a softmax is found.
    root = _write(
        tmp_path,
        {
            "models.py": ABSTRACT_BASE.replace("return self.fc(x)", "return self.fc(input_ids)"),
            "trainer.py": (
                "from torch import nn\n"
                "from transformers import Trainer\n"
                "from models import BaseModel\n"
                "\n"
                "\n"
                "class CustomTrainer(Trainer):\n"
                "    def compute_loss(self, model: BaseModel, inputs, return_outputs=False):\n"
                '        logits = model(input_ids=inputs["input_ids"])\n'
                '        return nn.functional.cross_entropy(logits, inputs["labels"])\n'
            ),
        },
    )
    assert _found(root) == [("models.py", 19, "MC201", False)]


def test_a_reader_through_the_base_class_blocks_the_subclass_fix(tmp_path: Path) -> None:
    # `train` proves RNN's softmax reaches the loss; `decide(model: BaseModel)` thresholds
    # whatever a subclass returns. Removing the softmax would feed it logits: no fix.
    root = _write(
        tmp_path,
        {
            "models.py": ABSTRACT_BASE.replace("return self.fc(x)", "return self.fc(input_ids)"),
            "train.py": (
                "import torch.nn as nn\n"
                "from models import RNN, BaseModel\n"
                "\n"
                "\n"
                "def decide(model: BaseModel, x):\n"
                "    return model(x) > 0.5\n"
                "\n"
                "\n"
                "model = RNN()\n"
                "criterion = nn.CrossEntropyLoss()\n"
                "for x, y in []:\n"
                "    loss = criterion(model(x), y)\n"
            ),
        },
    )
    assert _found(root) == [("models.py", 19, "MC201", False)]


def test_a_criterion_defined_inside_main_is_followed_from_its_calls(tmp_path: Path) -> None:
    # `def criterion(logits, labels):` inside `main()` wraps the fused loss; the training
    # loop hands it a sigmoid's output. A second wrapper gets a teacher's softmax as its
    # *target*: never a finding.
    root = _write(
        tmp_path,
        {
            "train.py": (
                "import torch\n"
                "import torch.nn as nn\n"
                "import torch.nn.functional as F\n"
                "\n"
                "\n"
                "def main(loader, teacher):\n"
                "    def criterion(logits, labels):\n"
                "        loss = F.binary_cross_entropy_with_logits(\n"
                "            logits, labels, reduction='none')\n"
                "        return torch.mean(loss)\n"
                "\n"
                "    def distill(logits, soft_targets):\n"
                "        return F.cross_entropy(logits, soft_targets)\n"
                "\n"
                "    fc = nn.Linear(8, 1)\n"
                "    head = nn.Linear(8, 4)\n"
                "    for x, y in loader:\n"
                "        probs = torch.sigmoid(fc(x)).squeeze()\n"
                "        loss = criterion(probs, y)\n"
                "        loss = loss + distill(head(x), F.softmax(teacher(x), dim=1))\n"
            ),
        },
    )
    assert _found(root) == [("train.py", 18, "MC202", False)]


WRAPPED_HEAD = (
    "import torch.nn as nn\n"
    "\n"
    "\n"
    "class Head(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.classifier = nn.Linear(8, 1)\n"
    "        self.sigmoid = nn.Sigmoid()\n"
    "\n"
    "    def forward(self, x):\n"
    "        logits = self.classifier(x)\n"
    "        return self.sigmoid(logits).squeeze()\n"
    "\n"
    "\n"
    "class Combined(nn.Module):\n"
    "    def __init__(self, encoder, head):\n"
    "        super().__init__()\n"
    "        self.encoder = encoder\n"
    "        self.head = head\n"
    "        self.fc = nn.Linear(8, 1)\n"
    "\n"
    "    def forward(self, x):\n"
    "        output = self.encoder(x)\n"
    "        return {returned}\n"
)


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        pytest.param("self.head(output)", [("models.py", 12, "MC202", False)], id="wrapped"),
        pytest.param("self.fc(output)", [], id="wrapper returns its own logits"),
    ],
)
def test_a_script_calls_a_wrapper_model_built_around_another(
    tmp_path: Path, returned: str, expected: list[tuple[str, int, str, bool]]
) -> None:
    # `Combined(encoder, head)` stores the head its script gives it; the script's loop
    # reads what the wrapper returns (a graph network feeding a transformer head).
    root = _write(
        tmp_path,
        {
            "models.py": WRAPPED_HEAD.format(returned=returned),
            "train.py": (
                "import torch.nn as nn\n"
                "from models import Combined, Head\n"
                "\n"
                "model = Combined(nn.Identity(), Head())\n"
                "criterion = nn.BCEWithLogitsLoss()\n"
                "for x, y in []:\n"
                "    loss = criterion(model(x), y.float())\n"
            ),
        },
    )
    assert _found(root) == expected


def test_a_loss_helper_squeezes_the_parameter_it_is_given(tmp_path: Path) -> None:
    # The model's forward hands its sigmoid head to a loss module by keyword; the helper
    # squeezes it before the fused loss. Its callers are read because of that parameter.
    root = _write(
        tmp_path,
        {
            "pipeline/__init__.py": "",
            "pipeline/loss.py": (
                "import torch.nn.functional as F\n"
                "from torch import Tensor\n"
                "\n"
                "\n"
                "def multiloss(output_cls: Tensor, target: dict):\n"
                "    return F.binary_cross_entropy_with_logits(\n"
                '        input=output_cls.squeeze(), target=target["label"].float()\n'
                "    )\n"
            ),
            "models/net.py": (
                "import torch.nn as nn\n"
                "from pipeline import loss\n"
                "\n"
                "\n"
                "class Net(nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.cls_fc = nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())\n"
                "\n"
                "    def forward(self, x, target):\n"
                "        return loss.multiloss(output_cls=self.cls_fc(x), target=target)\n"
            ),
        },
    )
    assert _found(root, "pipeline", "models") == [("net.py", 8, "MC202", True)]


@pytest.mark.parametrize(("cap", "found"), [(1, True), (0, False)])
def test_a_site_called_from_more_modules_than_the_cap_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: int, found: bool
) -> None:
    # `train` is called from one script that names no loss; the second look of a large tree
    # reads it unless the site has more callers than `MAX_SITE_CALLERS` (a library's
    # plumbing). This tree counts as large (a small one is analysed whole).
    monkeypatch.setattr(pipeline, "MAX_SITE_CALLERS", cap)
    monkeypatch.setattr(pipeline, "is_small_project", lambda readable: False)
    root = _write(
        tmp_path,
        {
            "model.py": SOFTMAX_NET.replace(", dim=1)", ")"),
            "train.py": TRAIN_WITHOUT_MODEL,
            "main.py": "import model\nimport train\n\ntrain.train([], model.Net())\n",
        },
    )
    assert (("model.py", 11, "MC201", True) in _found(root)) is found


def _sequential_project(last_layer: str) -> dict[str, str]:
    """An `nn.Sequential` value (not a class) built in `main` and handed to `train` with the
    loss."""
    return {
        "train.py": (
            "import torch.nn as nn\n"
            "\n"
            "\n"
            "def train(model, loss_fn, loader):\n"
            "    for x, y in loader:\n"
            "        preds = model(x)\n"
            "        loss = loss_fn(preds, y)\n"
            "\n"
            "\n"
            "def main(loader):\n"
            "    model = nn.Sequential(\n"
            "        nn.Linear(8, 4),\n"
            f"        {last_layer},\n"
            "    )\n"
            "    train(model, nn.NLLLoss(), loader)\n"
        ),
    }


# A model whose scores are decoded by a static method that applies the sigmoid.
NET_WITH_DECODER = (
    "import torch\n"
    "from torch import nn\n"
    "\n"
    "\n"
    "class Net(nn.Module):\n" + PLAIN_LINEAR_BODY + "\n"
    "    def encode(self, x):\n"
    "        return self.fc(x)\n"
    "\n"
    "    @staticmethod\n"
    "    def decode(z, a, b):\n"
    "        scores = (z[a] * z[b]).sum(dim=-1)\n"
    "        return torch.sigmoid(scores)\n"
)


def _closure_project(loss: str) -> dict[str, str]:
    """`def train():` inside `if __name__ == "__main__":` reads `model`, bound only later in
    the block and never passed."""
    return {
        "net.py": NET_WITH_DECODER,
        "run.py": (
            "import torch.nn.functional as F\n"
            "from net import Net\n"
            "\n"
            "if __name__ == '__main__':\n"
            "\n"
            "    def train(loader):\n"
            "        for x, a, b, y in loader:\n"
            "            z = model.encode(x)\n"
            "            scores = model.decode(z, a, b)\n"
            f"            loss = {loss}(scores, y)\n"
            "\n"
            "    model = Net().to('cpu')\n"
            "    train([])\n"
        ),
    }


def _stored_head_project(criterion: str) -> dict[str, str]:
    """CheXNet's shape: `__init__` stores a torchvision DenseNet and replaces its classifier
    by a Sequential that ends in a sigmoid; `forward` calls the stored backbone."""
    return {
        "model.py": (
            "import torch.nn as nn\n"
            "import torchvision\n"
            "\n"
            "\n"
            "class DenseNet121(nn.Module):\n"
            "    def __init__(self, out_size):\n"
            "        super().__init__()\n"
            "        self.densenet121 = torchvision.models.densenet121(pretrained=True)\n"
            "        num_features = self.densenet121.classifier.in_features\n"
            "        self.densenet121.classifier = nn.Sequential(\n"
            "            nn.Linear(num_features, out_size), nn.Sigmoid())\n"
            "\n"
            "    def forward(self, x):\n"
            "        return self.densenet121(x)\n"
        ),
        "main.py": (
            "import torch.nn as nn\n"
            "from model import DenseNet121\n"
            "\n"
            "\n"
            "def main(loader):\n"
            "    net = DenseNet121(14)\n"
            f"    criterion = {criterion}\n"
            "    for images, labels in loader:\n"
            "        loss = criterion(net(images), labels)\n"
        ),
    }


# (the shape, its project, the argument that makes the bug, where it is found, the argument
# that makes its trap). Each bug is found and not fixed: the Sequential's other readers, the
# closure's model and the head built in `__init__` on a library model are not followed far
# enough for a fix. Each trap stays silent.
SIXTH_SET_SHAPES = [
    ("sequential value", _sequential_project, "nn.Softmax(dim=1)", ("train.py", 13, "MC203"),
     "nn.LogSoftmax(dim=1)"),
    ("closure in the main block", _closure_project, "F.binary_cross_entropy_with_logits",
     ("net.py", 19, "MC202"), "F.binary_cross_entropy"),
    ("head on a stored backbone", _stored_head_project, "nn.CrossEntropyLoss()",
     ("model.py", 11, "MC204"), "nn.BCELoss()"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        case
        for name, project, bug, (file, line, code), trap in SIXTH_SET_SHAPES
        for case in (
            pytest.param(project(bug), [(file, line, code, False)], id=name),
            pytest.param(project(trap), [], id=f"{name}: trap"),
        )
    ],
)
def test_shapes_a_sixth_blind_set_missed(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, int, str, bool]]
) -> None:
    assert _found(_write(tmp_path, files)) == expected


def test_a_sequential_chosen_by_a_flag_reports_each_arm_without_a_fix(tmp_path: Path) -> None:
    # `if is_nonlinear:` builds one Sequential, else another: both end in a softmax that
    # reaches NLLLoss in a helper; each is a path of the run, reported by its line, never
    # fixed (the fix of one arm is a decision about the other).
    root = _write(
        tmp_path,
        {
            "train.py": (
                "import torch.nn as nn\n"
                "\n"
                "\n"
                "def cost(model, loss_fn, x, y):\n"
                "    return loss_fn(model(x), y)\n"
                "\n"
                "\n"
                "def run(x, y, is_nonlinear=False):\n"
                "    if is_nonlinear:\n"
                "        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4),\n"
                "                              nn.Softmax(dim=1))\n"
                "    else:\n"
                "        model = nn.Sequential(nn.Linear(8, 4), nn.Softmax(dim=1))\n"
                "    return cost(model, nn.NLLLoss(), x, y)\n"
            ),
        },
    )
    assert _found(root) == [("train.py", 11, "MC203", False), ("train.py", 13, "MC203", False)]
    result = pipeline.run(RunOptions(paths=[root]))
    messages = sorted(f.violation.message for _, f in result.findings)
    assert "when the run chooses `the Sequential of line 10`" in messages[0]
    assert "when the run chooses `the Sequential of line 13`" in messages[1]


@pytest.mark.parametrize(
    ("net", "expected"),
    [
        pytest.param(SOFTMAX_NET, [("model.py", 11, "MC201", True)], id="softmax model"),
        pytest.param(SOFTMAX_NET.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"), [],
                     id="logits model"),
    ],
)  # fmt: skip
def test_a_deep_copy_of_the_model_is_the_model(
    tmp_path: Path, net: str, expected: list[tuple[str, int, str, bool]]
) -> None:
    # Federated code trains `copy.deepcopy(global_model)` on each client.
    root = _write(
        tmp_path,
        {
            "model.py": net,
            "client.py": (
                "import copy\n"
                "import torch.nn.functional as F\n"
                "from model import Net\n"
                "\n"
                "\n"
                "def local_round(loader):\n"
                "    global_model = Net()\n"
                "    local_model = copy.deepcopy(global_model)\n"
                "    for x, y in loader:\n"
                "        loss = F.cross_entropy(local_model(x), y)\n"
            ),
        },
    )
    assert _found(root) == expected


def _ten_crop_project(loss: str) -> dict[str, str]:
    """A sigmoid head patched onto a library backbone stored in `__init__`; the script
    averages the outputs of ten crops before the loss (CheXNet)."""
    return {
        "model.py": (
            "import torch.nn as nn\n"
            "import torchvision\n"
            "\n"
            "\n"
            "class DenseNet121(nn.Module):\n"
            "    def __init__(self, out_size):\n"
            "        super().__init__()\n"
            "        self.densenet121 = torchvision.models.densenet121(pretrained=True)\n"
            "        features = self.densenet121.classifier.in_features\n"
            "        self.densenet121.classifier = nn.Sequential(nn.Linear(features, out_size),\n"
            "                                                    nn.Sigmoid())\n"
            "\n"
            "    def forward(self, x):\n"
            "        return self.densenet121(x)\n"
        ),
        "main.py": (
            "import torch\n"
            "from model import DenseNet121\n"
            "\n"
            "\n"
            "def main(loader, world_size):\n"
            "    net = DenseNet121(14)\n"
            "    if world_size > 1:\n"
            "        net = torch.nn.parallel.DistributedDataParallel(net)\n"
            f"    criterion = {loss}\n"
            "    for images, labels in loader:\n"
            "        batch_size, n_crops, c, h, w = images.size()\n"
            "        outputs = net(images.view(-1, c, h, w))\n"
            "        outputs_mean = outputs.view(batch_size, n_crops, -1).mean(1)\n"
            "        loss = criterion(outputs_mean, labels)\n"
        ),
    }


def _coordinator_project(net: str) -> dict[str, str]:
    """Federated code: a script hands the model to a coordinator, whose method copies it
    into a client, whose `train` computes the loss. Neither the script nor the coordinator
    names an activation or a loss."""
    return {
        "net.py": net,
        "client.py": (
            "import torch\n"
            "\n"
            "\n"
            "class Client:\n"
            "    def __init__(self, client_id, local_model, loader):\n"
            "        self.local_model = local_model\n"
            "        self.loader = loader\n"
            "\n"
            "    def train(self):\n"
            "        for data, target in self.loader:\n"
            "            output = self.local_model(data)\n"
            "            torch.nn.functional.cross_entropy(output, target).backward()\n"
        ),
        "coordinator.py": (
            "import copy\n"
            "from client import Client\n"
            "\n"
            "\n"
            "class Coordinator:\n"
            "    def __init__(self, global_model, loader):\n"
            "        self.global_model = global_model\n"
            "        self.loader = loader\n"
            "\n"
            "    def build(self):\n"
            "        model = copy.deepcopy(self.global_model)\n"
            "        self.client = Client(client_id=0, local_model=model, loader=self.loader)\n"
            "\n"
            "    def run(self):\n"
            "        self.client.train()\n"
        ),
        "main.py": (
            "from coordinator import Coordinator\n"
            "from net import Net\n"
            "\n"
            "server = Coordinator(Net(), [])\n"
            "server.build()\n"
            "server.run()\n"
        ),
    }


def _method_result_project(net: str) -> dict[str, str]:
    """A method returns what the model stored by the constructor gives; the script puts
    that result into the loss."""
    return {
        "net.py": net,
        "main.py": (
            "import torch\n"
            "from net import Net\n"
            "\n"
            "\n"
            "class Runner:\n"
            "    def __init__(self, model):\n"
            "        self.model = model\n"
            "\n"
            "    def scores(self, x):\n"
            "        return self.model(x)\n"
            "\n"
            "\n"
            "runner = Runner(Net())\n"
            "for x, y in []:\n"
            "    torch.nn.functional.cross_entropy(runner.scores(x), y).backward()\n"
        ),
    }


def _grown_list_project(last: str) -> dict[str, str]:
    """`layers = reduce(...)` (not followed), then `layers += [..., last]`."""
    return {
        "train.py": (
            "import operator\n"
            "from functools import reduce\n"
            "\n"
            "import torch.nn as nn\n"
            "\n"
            "\n"
            "def run(x, y, sizes):\n"
            "    layers = reduce(operator.add, [[nn.Linear(a, b), nn.ReLU()]\n"
            "                                   for a, b in zip(sizes, sizes[1:])])\n"
            f"    layers += [nn.Linear(sizes[-2], sizes[-1]), {last}]\n"
            "    model = nn.Sequential(*layers)\n"
            "    return nn.NLLLoss()(model(x), y)\n"
        ),
    }


def _train_method_project(net: str) -> dict[str, str]:
    """A project class whose own `train(model, loader, criterion)` is not `nn.Module.train()`."""
    return {
        "net.py": net,
        "main.py": (
            "from torch import nn\n"
            "from net import Net\n"
            "\n"
            "\n"
            "class Runner:\n"
            "    def train(self, model, loader, criterion):\n"
            "        for x, y in loader:\n"
            "            criterion(model(x), y).backward()\n"
            "\n"
            "\n"
            "Runner().train(Net(), [], nn.CrossEntropyLoss())\n"
        ),
    }


LOGITS_NET = SOFTMAX_NET.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)")

# (the shape, its project, the argument that makes the bug, where it is found and whether a
# fix is offered, the argument that makes its trap). A mean of sigmoid outputs has no logits
# to give back: found, never fixed; the trap there is the correct pair (BCELoss). A model
# reached only through stored attributes is found, not fixed: its readers are not proven.
EIGHTH_SESSION_SHAPES = [
    ("mean over ten crops", _ten_crop_project, "torch.nn.CrossEntropyLoss()",
     ("model.py", 11, "MC204", False), "torch.nn.BCELoss()"),
    ("model through a coordinator into a client", _coordinator_project, SOFTMAX_NET,
     ("net.py", 11, "MC201", False), LOGITS_NET),
    ("a method's result", _method_result_project, SOFTMAX_NET,
     ("net.py", 11, "MC201", False), LOGITS_NET),
    ("a project class's own train()", _train_method_project, SOFTMAX_NET,
     ("net.py", 11, "MC201", False), LOGITS_NET),
    ("a list of unknown start grown to end in a softmax", _grown_list_project,
     "nn.Softmax(dim=1)", ("train.py", 10, "MC203", False), "nn.LogSoftmax(dim=1)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        case
        for name, project, bug, (file, line, code, fixed), trap in EIGHTH_SESSION_SHAPES
        for case in (
            pytest.param(project(bug), [(file, line, code, fixed)], id=name),
            pytest.param(project(trap), [], id=f"{name}: trap"),
        )
    ],
)
def test_shapes_the_sixth_set_still_missed(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, int, str, bool]]
) -> None:
    assert _found(_write(tmp_path, files)) == expected


def _template_project(forward: str) -> dict[str, str]:
    """The layout of the widely copied `pytorch-template`: the model class and the loss
    function are named in a config file and taken with `getattr` from the modules handed to
    a config helper; a trainer subclass stores them through `super().__init__` and its base
    class's `train()` runs the subclass's epoch."""
    return {
        "model/__init__.py": "",
        "model/loss.py": (
            "import torch.nn as nn\n"
            "import torch.nn.functional as F\n"
            "\n"
            "\n"
            "def ce_loss(output, target):\n"
            "    criterion = nn.CrossEntropyLoss()\n"
            "    return criterion(output, target)\n"
            "\n"
            "\n"
            "def nll_loss(output, target):\n"
            "    return F.nll_loss(output, target)\n"
        ),
        "model/model.py": (
            "import torch.nn as nn\n"
            "\n"
            "\n"
            "class MnistModel(nn.Module):\n"
            "    def __init__(self, num_classes=10):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, num_classes)\n"
            "        self.softmax = nn.Softmax(dim=1)\n"
            "\n"
            "    def forward(self, x):\n"
            f"        return {forward}\n"
        ),
        "base/__init__.py": "from .base_trainer import BaseTrainer\n",
        "base/base_trainer.py": (
            "class BaseTrainer:\n"
            "    def __init__(self, model, criterion, optimizer, config):\n"
            "        self.model = model\n"
            "        self.criterion = criterion\n"
            "        self.optimizer = optimizer\n"
            "\n"
            "    def _train_epoch(self, epoch):\n"
            "        raise NotImplementedError\n"
            "\n"
            "    def train(self):\n"
            "        for epoch in range(3):\n"
            "            self._train_epoch(epoch)\n"
        ),
        "trainer/__init__.py": "from .trainer import Trainer\n",
        "trainer/trainer.py": (
            "from base import BaseTrainer\n"
            "\n"
            "\n"
            "class Trainer(BaseTrainer):\n"
            "    def __init__(self, model, criterion, optimizer, config, data_loader):\n"
            "        super().__init__(model, criterion, optimizer, config)\n"
            "        self.data_loader = data_loader\n"
            "\n"
            "    def _train_epoch(self, epoch):\n"
            "        self.model.train()\n"
            "        for data, target in self.data_loader:\n"
            "            output = self.model(data)\n"
            "            loss = self.criterion(output, target)\n"
            "            loss.backward()\n"
        ),
        "parse_config.py": (
            "import json\n"
            "\n"
            "\n"
            "class ConfigParser:\n"
            "    def __init__(self, config):\n"
            "        self._config = config\n"
            "\n"
            "    @classmethod\n"
            "    def from_args(cls, args):\n"
            "        with open(args.config) as handle:\n"
            "            return cls(json.load(handle))\n"
            "\n"
            "    def init_obj(self, name, module, *args, **kwargs):\n"
            "        module_name = self[name]['type']\n"
            "        module_args = dict(self[name]['args'])\n"
            "        module_args.update(kwargs)\n"
            "        return getattr(module, module_name)(*args, **module_args)\n"
            "\n"
            "    def __getitem__(self, name):\n"
            "        return self._config[name]\n"
        ),
        "train.py": (
            "import argparse\n"
            "\n"
            "import torch\n"
            "\n"
            "import model.loss as module_loss\n"
            "import model.model as module_arch\n"
            "from parse_config import ConfigParser\n"
            "from trainer import Trainer\n"
            "\n"
            "\n"
            "def main(config):\n"
            "    model = config.init_obj('arch', module_arch)\n"
            "    criterion = getattr(module_loss, config['loss'])\n"
            "    optimizer = config.init_obj('optimizer', torch.optim, model.parameters())\n"
            "    trainer = Trainer(model, criterion, optimizer, config=config, data_loader=[])\n"
            "    trainer.train()\n"
            "\n"
            "\n"
            "if __name__ == '__main__':\n"
            "    parser = argparse.ArgumentParser()\n"
            "    parser.add_argument('-c', '--config', default=None, type=str)\n"
            "    main(ConfigParser.from_args(parser.parse_args()))\n"
        ),
    }


@pytest.mark.parametrize(
    ("forward", "expected"),
    [
        pytest.param(
            "self.softmax(self.fc(x))",
            [("model.py", 11, "MC201", False), ("model.py", 11, "MC203", False)],
            id="softmax model: each loss function of the config's choice",
        ),
        pytest.param("self.fc(x)", [], id="logits model"),
    ],
)
def test_a_model_and_a_loss_named_in_a_config_file(
    tmp_path: Path, forward: str, expected: list[tuple[str, int, str, bool]]
) -> None:
    # The config file is not read: every loss function of `model/loss.py` is a possible
    # choice, so neither finding comes with a fix (the other choice would then be wrong).
    assert _found(_write(tmp_path, _template_project(forward))) == expected


def _globals_registry_project(activation: str) -> dict[str, str]:
    """Models found by name among the module's own classes (`globals()`), compiled, trained
    with the project's own loss module whose BCE part is a `BCEWithLogitsLoss`."""
    return {
        "models.py": (
            "import inspect\n"
            "\n"
            "import torch\n"
            "from torch import nn\n"
            "\n"
            "\n"
            "def get_model(model_type, *args, **kwargs):\n"
            "    model_classes = {\n"
            "        name: cls\n"
            "        for name, cls in globals().items()\n"
            "        if inspect.isclass(cls) and issubclass(cls, nn.Module)\n"
            "    }\n"
            "    if model_type in model_classes:\n"
            "        return model_classes[model_type](*args, **kwargs)\n"
            "    raise ValueError(model_type)\n"
            "\n"
            "\n"
            "class LSTMModel(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 1)\n"
            "\n"
            "    def forward(self, x):\n"
            f"        return {activation}\n"
            "\n"
            "\n"
            "class ConvModel(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.fc = nn.Linear(8, 1)\n"
            "\n"
            "    def forward(self, x):\n"
            "        return self.fc(x)\n"
        ),
        "training.py": (
            "import torch\n"
            "from torch import nn\n"
            "\n"
            "from models import get_model\n"
            "\n"
            "\n"
            "class CombinedLoss(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.bce_loss = nn.BCEWithLogitsLoss()\n"
            "\n"
            "    def forward(self, preds, targets):\n"
            "        return self.bce_loss(preds, targets)\n"
            "\n"
            "\n"
            "def train(model, loader, criterion):\n"
            "    for x, y in loader:\n"
            "        criterion(model(x), y).backward()\n"
            "\n"
            "\n"
            "def train_model(model_type='LSTMModel'):\n"
            "    model = torch.compile(get_model(model_type))\n"
            "    train(model, [], CombinedLoss())\n"
        ),
    }


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        pytest.param("torch.sigmoid(self.fc(x))", [("models.py", 24, "MC202", False)],
                     id="sigmoid model among the module's classes"),
        pytest.param("self.fc(x)", [], id="logits models"),
    ],
)  # fmt: skip
def test_models_found_by_name_among_a_modules_classes(
    tmp_path: Path, activation: str, expected: list[tuple[str, int, str, bool]]
) -> None:
    # Each class of `models.py` is a choice of the run: the sigmoid one is found, named, not
    # fixed; the BCE inside the project's own loss module is the loss it reaches.
    assert _found(_write(tmp_path, _globals_registry_project(activation))) == expected


def test_blocks_a_model_is_built_from_are_no_choice_of_the_config(tmp_path: Path) -> None:
    # `getattr(module_arch, name)` may be any model of `model/model.py`, not the attention
    # block the model is built from: its softmax over positions stays silent.
    files = _template_project("self.fc(self.attention(x))")
    files["model/model.py"] = (
        "import torch.nn as nn\n"
        "import torch.nn.functional as F\n"
        "\n"
        "\n"
        "class Attention(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.score = nn.Linear(8, 8)\n"
        "\n"
        "    def forward(self, h):\n"
        "        return F.softmax(self.score(h), dim=1) * h\n"
        "\n"
        "\n"
        "class MnistModel(nn.Module):\n"
        "    def __init__(self, num_classes=10):\n"
        "        super().__init__()\n"
        "        self.attention = Attention()\n"
        "        self.fc = nn.Linear(8, num_classes)\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.attention(x))\n"
    )
    assert _found(_write(tmp_path, files)) == []


@pytest.mark.parametrize(
    ("subclass_act", "expected"),
    [
        pytest.param("", [("model.py", 12, "MC201", True)],
                     id="the base's softmax, through super()"),
        pytest.param("        self.act = nn.Identity()\n", [],
                     id="a subclass replaces the softmax"),
    ],
)  # fmt: skip
def test_super_forward_reads_the_base_forward(
    tmp_path: Path, subclass_act: str, expected: list[tuple[str, int, str, bool]]
) -> None:
    root = _write(
        tmp_path,
        {
            "model.py": (
                "import torch.nn as nn\n"
                "\n"
                "\n"
                "class Base(nn.Module):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                "        self.fc = nn.Linear(8, 4)\n"
                "        self.act = nn.Softmax(dim=1)\n"
                "\n"
                "    def forward(self, x):\n"
                "        h = self.fc(x)\n"
                "        return self.act(h)\n"
                "\n"
                "\n"
                "class Net(Base):\n"
                "    def __init__(self):\n"
                "        super().__init__()\n"
                f"{subclass_act}"
                "\n"
                "    def forward(self, x):\n"
                "        return super().forward(x.flatten(1))\n"
            ),
            "train.py": (
                "import torch.nn as nn\n"
                "from model import Net\n"
                "\n"
                "for x, y in []:\n"
                "    nn.CrossEntropyLoss()(Net()(x), y).backward()\n"
            ),
        },
    )
    assert _found(root) == expected
