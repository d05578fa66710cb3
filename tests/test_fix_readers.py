"""Fixes that move or remove an activation keep every other reader right: a reader in a file
that names no activation still gets the softmax it needs, and an import that other code still
uses stays. (Both were surviving mutants of `benchmarks/mutants.py`.)"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

CliInvoker = Callable[..., Result]

MODEL = """\
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)
"""
TRAIN = """\
import torch.nn as nn

from model import Net


def step(model: Net, x, y):
    criterion = nn.CrossEntropyLoss()
    return criterion(model(x), y)
"""
# Names no activation and no loss: only the import of the model ties it to the fix.
SERVE = """\
from model import Net


def scores(model: Net, x):
    probs = model(x)
    return probs.max(dim=1)
"""


def test_a_reader_that_names_no_activation_gets_the_softmax(project: Path, cli: CliInvoker) -> None:
    for name, text in {"model.py": MODEL, "train.py": TRAIN, "serve.py": SERVE}.items():
        (project / name).write_text(text)
    cli("check", ".", "--fix", "--unsafe-fixes", "--no-verify")
    assert "return self.fc(x)" in (project / "model.py").read_text()
    serve = (project / "serve.py").read_text()
    assert "probs = torch.softmax(model(x), dim=1)" in serve
    assert "import torch\n" in serve
    compile(serve, "serve.py", "exec")


def test_an_import_that_is_still_used_stays(project: Path, cli: CliInvoker) -> None:
    source = textwrap.dedent(
        """\
        import torch.nn.functional as F
        from torch.nn.functional import softmax


        def step(z, y):
            loss = F.cross_entropy(softmax(z, dim=1), y)
            shown = softmax(z, dim=1)
            return loss, shown
        """
    )
    (project / "a.py").write_text(source)
    cli("check", ".", "--fix", "--unsafe-fixes", "--no-verify")
    fixed = (project / "a.py").read_text()
    assert fixed == source.replace("F.cross_entropy(softmax(z, dim=1), y)", "F.cross_entropy(z, y)")
