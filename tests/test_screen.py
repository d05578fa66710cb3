"""The first look before libcst: token tests, then the `ast` screen with its reach analysis.

The screen keeps every file where the engine could find something (precision of the whole
tool does not depend on it, recall does), and drops what it can prove empty."""

import pytest

from migrate.screen import screen_source, worth_parsing

KEPT = {
    "loss-on-a-parameter": (
        "import torch.nn.functional as F\ndef loss(p, y):\n    return F.nll_loss(p, y)\n"
    ),
    "module-level-loss-on-unknown": "import torch.nn.functional as F\nl = F.nll_loss(p, y)\n",
    "criterion-at-module-level": "import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\n",
    "aliased-criterion-handed-on": (
        "from torch.nn import CrossEntropyLoss as CE\ndef build():\n    return CE()\n"
    ),
    "criterion-stored-on-self": (
        "import torch.nn as nn\n"
        "class T:\n"
        "    def __init__(self):\n"
        "        self.criterion = nn.BCEWithLogitsLoss()\n"
    ),
    "criterion-passed-to-a-trainer": (
        "import torch.nn as nn\nfrom .loop import fit\nfit(model, nn.CrossEntropyLoss())\n"
    ),
    "softmax-before-criterion": (
        "import torch.nn as nn\n"
        "def step(z, y):\n"
        "    crit = nn.CrossEntropyLoss()\n"
        "    p = z.softmax(dim=1)\n"
        "    return crit(p, y).item()\n"
    ),
    "model-output-into-loss": (
        "import torch.nn.functional as F\n"
        "from .model import Net\n"
        "def step(x, y):\n"
        "    net = Net()\n"
        "    return F.cross_entropy(net(x), y)\n"
    ),
    "head-from-another-file": (
        "import torch.nn as nn\n"
        "from .heads import Head\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.head = Head()\n"
        "    def forward(self, x, y):\n"
        "        return nn.functional.cross_entropy(self.head(x), y)\n"
    ),
    "softmax-in-a-branch": (
        "import torch.nn.functional as F\n"
        "def step(z, y, probs):\n"
        "    out = F.linear(z, w)\n"
        "    if probs:\n"
        "        out = F.softmax(out, 1)\n"
        "    return F.cross_entropy(out, y)\n"
    ),
    "softmax-assigned-late-in-a-loop": (
        "import torch.nn.functional as F\n"
        "def run(z, y):\n"
        "    out = F.linear(z, w)\n"
        "    for _ in range(3):\n"
        "        loss = F.nll_loss(out, y)\n"
        "        out = F.softmax(out, 1)\n"
    ),
    "softmax-without-dim": "import torch.nn.functional as F\np = F.softmax(x)\n",
    "log-of-softmax": "import torch\nlp = torch.log(torch.softmax(z, 1))\n",
    "log-of-a-parameter": (
        "import torch\ndef f(p):\n    return torch.log(p + 1e-8)\nq = f(torch.softmax(z, 1))\n"
    ),
    "syntax-error": "def (:\n",
}
DROPPED = {
    "attention": (
        "import torch\n"
        "def attend(q, k, v):\n"
        "    a = torch.softmax(q @ k, dim=-1)\n"
        "    return proj(a @ v)\n"
    ),
    "gate": "def forward(self, x):\n    return x * torch.sigmoid(self.fc(x))\n",
    "plain": "def f(x):\n    return x + 1\n",
    "loss-on-a-linear-head": (
        "import torch.nn as nn\n"
        "from torch.nn import CrossEntropyLoss\n"
        "class Classifier(nn.Module):\n"
        "    def __init__(self, config):\n"
        "        self.classifier = nn.Linear(config.hidden, config.labels)\n"
        "        self.num_labels = config.labels\n"
        "    def forward(self, hidden, labels):\n"
        "        logits = self.classifier(nn.functional.softmax(hidden, dim=-1))\n"
        "        loss_fct = CrossEntropyLoss()\n"
        "        return loss_fct(logits.view(-1, self.num_labels), labels.view(-1))\n"
    ),
    "loss-on-a-head-class-of-the-module": (
        "import torch\n"
        "import torch.nn as nn\n"
        "class Head(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.dense = nn.Linear(4, 4)\n"
        "        self.out = nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        return self.out(torch.tanh(self.dense(x)))\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.head = Head()\n"
        "    def forward(self, x, y):\n"
        "        return nn.functional.cross_entropy(self.head(x), y)\n"
    ),
    "softmax-on-the-target": (
        "import torch.nn.functional as F\n"
        "def step(logits, y):\n"
        "    return F.cross_entropy(F.linear(logits, w), y.softmax(dim=1))\n"
    ),
    "loss-only-in-a-docstring": '"""Uses CrossEntropyLoss on logits."""\nx = 1\n',
    "module-function-defined-after-a-branch": (
        "import torch.nn.functional as F\n"
        "if F is not None:\n"
        "    pass\n"
        "def convert(value):\n"
        "    return convert(value)\n"
        "LOSS = 'cross_entropy'\n"
    ),
    "log-of-a-sigmoid": (
        "import torch\n"
        "def focal(z, y):\n"
        "    p = torch.sigmoid(z)\n"
        "    return -(y * (1 - p + 1e-8).log()).mean()\n"
    ),
    "setting-of-a-criterion": (
        "import torch\n"
        "from torch.nn import CrossEntropyLoss\n"
        "def mask(labels, active):\n"
        "    loss_fct = CrossEntropyLoss()\n"
        "    return torch.where(active, labels, torch.tensor(loss_fct.ignore_index))\n"
    ),
    "calling-a-parameter": (
        "import torch.nn.functional as F\ndef apply(fn, x):\n    return fn(F.softmax(x, dim=1))\n"
    ),
    "log-in-a-method-of-an-init-parameter": (
        "import math\n"
        "import torch\n"
        "class Head:\n"
        "    def __init__(self, scale):\n"
        "        self.bias = -math.log(scale)\n"
        "    def forward(self, x):\n"
        "        return torch.softmax(x + self.bias, dim=-1)\n"
    ),
}


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept(name: str) -> None:
    assert worth_parsing(KEPT[name]) or KEPT[name] == "def (:\n"
    assert screen_source(KEPT[name]).matters


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_dropped(name: str) -> None:
    assert not screen_source(DROPPED[name]).matters


def test_loss_on_a_model_of_the_module_is_kept() -> None:
    # The head class's forward returns what a softmax gave: a loss on it may be wrong.
    source = (
        DROPPED["loss-on-a-head-class-of-the-module"]
        .replace("torch.tanh(self.dense(x))", "x")
        .replace("return self.out(x)", "return self.out(x).softmax(dim=1)")
    )
    assert screen_source(source).matters


def test_forward_flag_only_for_forward() -> None:
    helper = "def probabilities(z):\n    return z.softmax(dim=1)\n"
    screen = screen_source(helper)
    assert screen.returns_activation and not screen.forward_returns_activation
    assert not screen.matters  # a provider: kept only when a kept file imports it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("x = F.softmax(z)\n", True, id="no-dim"),
        pytest.param("x = F.softmax(z, dtype=t)\n", True, id="keyword-but-no-dim"),
        pytest.param("x = F.softmax(z, *rest)\n", True, id="starred"),
        pytest.param("x = nn.Softmax()\n", True, id="module-without-dim"),
        pytest.param("x = F.softmax(\n    z,\n    dim=1,\n)\n", False, id="dim-keyword"),
        pytest.param("x = F.softmax(z, 1)\n", False, id="dim-positional"),
        pytest.param("x = F.softmax(z.view(a, b), -1)\n", False, id="nested-commas"),
        pytest.param("x = nn.Softmax(1)\n", False, id="module-with-dim"),
        pytest.param("x = torch.sigmoid(g) * h\n", False, id="sigmoid-only"),
        pytest.param("p = F.softmax(z, 1)\nlp = math.log(p)\n", True, id="softmax-and-log"),
        pytest.param("# uses nll_loss\n", True, id="names-a-loss"),
    ],
)
def test_token_tests(text: str, expected: bool) -> None:
    assert worth_parsing(text) is expected


def test_site_fed_only_by_imports_is_conditional() -> None:
    source = (
        "import torch.nn.functional as F\n"
        "from .backbone import Backbone\n"
        "def step(x, y):\n"
        "    return F.cross_entropy(Backbone()(x), y)\n"
    )
    screen = screen_source(source)
    assert screen.matters and screen.conditional
    assert screen.site_sources == {"Backbone"}
    local = source.replace("Backbone()(x)", "Backbone()(x).softmax(dim=1)")
    assert not screen_source(local).conditional
