"""The `ast` screen keeps every file that can take part in an MC2xx finding."""

import pytest

from migrate.screen import screen_source

KEPT = {
    "loss": "import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\n",
    "aliased-loss": "from torch.nn import CrossEntropyLoss as CE\nc = CE()\n",
    "functional-loss": "import torch.nn.functional as F\nl = F.nll_loss(p, y)\n",
    "softmax-without-dim": "import torch.nn.functional as F\np = F.softmax(x)\n",
    "log-of-softmax": "import torch\nlp = torch.log(torch.softmax(z, 1))\n",
    "forward-returns-softmax": (
        "class M:\n    def forward(self, x):\n        return x.softmax(dim=1)\n"
    ),
    "forward-returns-head-variable": (
        "class M:\n"
        "    def __init__(self):\n"
        "        self.head = nn.Sequential(nn.Linear(1, 2), nn.Sigmoid())\n"
        "    def forward(self, x):\n"
        "        x = self.head(x)\n"
        "        return x\n"
    ),
    "returns-dict-of-probabilities": (
        "def forward(self, x):\n    return {'p': torch.sigmoid(x), 'f': x}\n"
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
}


@pytest.mark.parametrize("name", sorted(KEPT))
def test_kept(name: str) -> None:
    assert screen_source(KEPT[name]).matters


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_dropped(name: str) -> None:
    assert not screen_source(DROPPED[name]).matters


def test_forward_flag_only_for_forward() -> None:
    helper = "def probabilities(z):\n    return z.softmax(dim=1)\n"
    screen = screen_source(helper)
    assert screen.returns_activation and not screen.forward_returns_activation
