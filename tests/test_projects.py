"""`migrate` turns each fixture project's `before` tree into exactly its `after` tree, and the
migrated example behaves as a multi-class classifier should (checked with torch)."""

import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli import app
from migrate.testing import FIXTURES

# (project, extra migrate options). lightning_module compares decisions with targets loaded
# from a dataset, so its exact migration needs `--unsafe-fixes` (see its NOTES.md).
PROJECTS = [
    ("example", []),
    ("image_backbone", []),
    ("text_hf", []),
    ("lightning_module", ["--unsafe-fixes"]),
]


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.mark.parametrize(("name", "options"), PROJECTS, ids=[name for name, _ in PROJECTS])
def test_migrate_write_gives_the_after_tree(
    name: str, options: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = FIXTURES / "projects" / name
    work = tmp_path / "before"
    shutil.copytree(project / "before", work)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["migrate", ".", "--write", "--no-verify", *options])
    assert result.exit_code == 0, result.output
    assert _tree(work) == _tree(project / "after")
    again = CliRunner().invoke(app, ["migrate", ".", "--check", "--no-verify", *options])
    assert again.exit_code == 0, again.output


def test_lightning_without_unsafe_fixes_refuses_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "before"
    shutil.copytree(FIXTURES / "projects" / "lightning_module" / "before", work)
    before = _tree(work)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["migrate", ".", "--write", "--no-verify"])
    assert result.exit_code == 0, result.output
    assert _tree(work) == before
    assert "y.bool()" in result.output and "--unsafe-fixes" in result.output


@pytest.mark.parametrize("name", [name for name, _ in PROJECTS])
def test_dry_run_writes_nothing(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "before"
    shutil.copytree(FIXTURES / "projects" / name / "before", work)
    before = _tree(work)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["migrate", ".", "--no-verify"])
    assert result.exit_code == 0, result.output
    assert _tree(work) == before


@pytest.fixture
def migrated_example() -> Iterator[object]:
    root = str(FIXTURES / "projects" / "example" / "after")
    sys.path.insert(0, root)
    try:
        yield importlib.import_module("tagger.train"), importlib.import_module("tagger.predict")
    finally:
        sys.path.remove(root)
        for module in [m for m in sys.modules if m == "tagger" or m.startswith("tagger.")]:
            del sys.modules[module]


def test_migrated_example_is_a_multiclass_classifier(migrated_example: object) -> None:
    import torch  # a dependency of ml2mc: a missing torch fails, never skips

    functional = torch.nn.functional
    train, predict = migrated_example  # type: ignore[misc]
    torch.manual_seed(0)
    model = predict.load_model()
    x = torch.randn(16, 32)
    with torch.no_grad():
        logits = model(x)
    # The model returns logits: not rows of probabilities.
    assert not torch.allclose(logits.softmax(dim=1), logits, atol=1e-3)
    assert (logits < 0).any() or (logits > 1).any()
    # The training loss is cross-entropy on those logits, with the one-hot targets it builds.
    y = torch.randint(0, 5, (16,))
    targets = functional.one_hot(y, 5).float()
    criterion = torch.nn.CrossEntropyLoss()
    assert torch.allclose(criterion(logits, targets), functional.cross_entropy(logits, y))
    # Inference reads probabilities that sum to 1 and decides by argmax.
    probs, preds = predict.predict(model, x)
    assert torch.allclose(probs.sum(dim=1), torch.ones(16))
    assert torch.equal(preds, logits.argmax(dim=1))
    # A short training run lowers the loss below the double-softmax floor log(1 + (C-1)/e).
    trained = train.train(epochs=3)
    data = train.make_dataset()
    with torch.no_grad():
        loss = functional.cross_entropy(trained(data.tensors[0]), data.tensors[1])
    floor = torch.log(torch.tensor(1 + 4 / torch.e))
    assert loss < floor
