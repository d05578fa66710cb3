"""A generated PyTorch project of about 950 files and 25,000 lines, for the speed table.

Real trees are libraries; a user's project is many small modules that import each other:
models, heads, losses, datasets, training scripts, metrics. This writes such a project,
deterministically, into `benchmarks/.cache/corpora/synthetic/` (git-ignored): 45 packages of
20 modules, each with a model whose head ends in a sigmoid or not, a training step with
`BCELoss` / `CrossEntropyLoss` (some on probabilities), thresholds and metrics, and imports
across packages.

    python benchmarks/synthetic.py          # (re)write it; prints files and lines
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / ".cache" / "corpora" / "synthetic"
PACKAGES = 45
MODULES = 20

MODEL = '''"""Model {name}."""

import torch
from torch import nn


class Net{index}(nn.Module):
    def __init__(self, features: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(features, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, classes)
        {activation_init}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.body(x)
        scores = self.head(hidden)
        {activation_return}


def build_{index}(features: int = 32) -> Net{index}:
    return Net{index}(features)
'''

TRAIN = '''"""Training for {name}."""

import torch
import torch.nn.functional as F
from torch import nn

from {package}.model_{index} import build_{index}


def train_step(model, batch, optimizer):
    inputs, targets = batch
    outputs = model(inputs)
    loss = {loss}
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def evaluate(model, loader):
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            predictions = (outputs > 0.5).float()
            correct += (predictions == targets).all(dim=1).sum().item()
            total += targets.shape[0]
    return correct / max(total, 1)


def main():
    model = build_{index}()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = (torch.randn(8, 32), torch.randint(0, 2, (8, 10)).float())
    for _ in range(3):
        train_step(model, batch, optimizer)
'''

UTILS = '''"""Helpers for {name}."""

import math
from dataclasses import dataclass


@dataclass
class Settings{index}:
    learning_rate: float = 1e-3
    epochs: int = 10
    batch_size: int = 32


def schedule(step: int, total: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe(settings: Settings{index}) -> str:
    return f"lr={{settings.learning_rate}} epochs={{settings.epochs}}"
'''


def write() -> tuple[int, int]:
    shutil.rmtree(TARGET, ignore_errors=True)
    files = lines = 0
    for package_index in range(PACKAGES):
        package = f"project{package_index:02d}"
        folder = TARGET / package
        folder.mkdir(parents=True)
        texts = {"__init__.py": f'"""Package {package}."""\n'}
        for module_index in range(MODULES):
            index = package_index * MODULES + module_index
            name = f"{package}.{module_index}"
            kind = module_index % 4
            if kind == 0:
                sigmoid = index % 3 == 0
                texts[f"model_{index}.py"] = MODEL.format(
                    name=name,
                    index=index,
                    activation_init="self.act = nn.Sigmoid()" if sigmoid else "self.scale = 1.0",
                    activation_return="return self.act(scores)" if sigmoid else "return scores",
                )
            elif kind == 1:
                model = index - 1
                loss = (
                    "F.binary_cross_entropy(outputs, targets)"
                    if model % 3 == 0
                    else "nn.BCEWithLogitsLoss()(outputs, targets)"
                )
                if model % 7 == 0:
                    loss = "F.cross_entropy(torch.softmax(outputs, dim=1), targets.argmax(dim=1))"
                texts[f"train_{index}.py"] = TRAIN.format(
                    name=name, package=package, index=model, loss=loss
                )
            else:
                texts[f"utils_{index}.py"] = UTILS.format(name=name, index=index)
        for file_name, text in texts.items():
            (folder / file_name).write_text(text, encoding="utf-8")
            files += 1
            lines += text.count("\n")
    return files, lines


if __name__ == "__main__":
    counted = write()
    sys.stdout.write(f"{TARGET}: {counted[0]} files, {counted[1]:,} lines\n")
