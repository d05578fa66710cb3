"""`--strict`: a verification that could not run fails the command (it never counts as a pass).
(A surviving mutant of `benchmarks/mutants.py` dropped `--strict` from `migrate` unnoticed.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

CliInvoker = Callable[..., Result]

# The model needs constructor arguments that nothing in the project names: verify skips it.
MODEL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(in_features, num_classes), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)
"""
TRAIN = """\
from torch import nn

from model import Net


def step(model: Net, x, y):
    criterion = nn.BCELoss()
    return criterion(model(x), y)
"""


def _project(root: Path) -> None:
    (root / "model.py").write_text(MODEL)
    (root / "train.py").write_text(TRAIN)


def test_migrate_dry_run_with_a_skipped_model_passes_without_strict(
    project: Path, cli: CliInvoker
) -> None:
    _project(project)
    result = cli("migrate", ".", "--output-format", "json")
    data = json.loads(result.stdout)
    statuses = {item["status"] for item in data["verification"]}
    assert "skip" in statuses and "fail" not in statuses, data["verification"]
    assert result.exit_code == 0


def test_migrate_strict_fails_on_a_skipped_model(project: Path, cli: CliInvoker) -> None:
    _project(project)
    result = cli("migrate", ".", "--strict", "--output-format", "json")
    data = json.loads(result.stdout)
    assert "skip" in {item["status"] for item in data["verification"]}
    assert result.exit_code == 1


def test_strict_in_pyproject_fails_on_a_skipped_model(project: Path, cli: CliInvoker) -> None:
    """`strict = true` in `[tool.ml2mc]` does what `--strict` does (docs/configuration.md)."""
    _project(project)
    (project / "pyproject.toml").write_text("[tool.ml2mc]\nstrict = true\n")
    result = cli("migrate", ".", "--output-format", "json")
    data = json.loads(result.stdout)
    assert "skip" in {item["status"] for item in data["verification"]}
    assert result.exit_code == 1


def test_migrate_write_strict_with_a_skip_writes_nothing(
    project: Path, cli: CliInvoker, snapshot: Callable[[Path], object]
) -> None:
    """A skipped check fails under --strict before anything is written, as a failed one does."""
    _project(project)
    before = snapshot(project)
    result = cli("migrate", ".", "--write", "--strict")
    assert result.exit_code == 1
    assert snapshot(project) == before, "nothing is written"
    assert "check(s) not verified and --strict is on" in result.stdout
    assert "--force" in result.stdout


def test_strict_in_pyproject_blocks_the_write_and_says_where_it_comes_from(
    project: Path, cli: CliInvoker
) -> None:
    _project(project)
    (project / "pyproject.toml").write_text("[tool.ml2mc]\nstrict = true\n")
    result = cli("migrate", ".", "--write")
    assert result.exit_code == 1
    assert (project / "model.py").read_text() == MODEL
    assert "not verified and strict = true in [tool.ml2mc]" in result.stdout


def test_migrate_write_strict_force_writes_anyway(project: Path, cli: CliInvoker) -> None:
    _project(project)
    result = cli("migrate", ".", "--write", "--strict", "--force")
    assert (project / "model.py").read_text() != MODEL, "--force writes"
    assert result.exit_code == 1, "the skip still fails the run"


def test_migrate_dry_run_strict_does_not_suggest_write(project: Path, cli: CliInvoker) -> None:
    _project(project)
    result = cli("migrate", ".", "--strict")
    assert result.exit_code == 1
    hint = next(line for line in result.stdout.splitlines() if line.startswith("Next:"))
    assert "to apply" not in hint, hint
    assert "not verified" in hint and "--force" in hint, hint
