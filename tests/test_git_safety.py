"""`--write` never modifies a file with uncommitted changes unless `--allow-dirty`."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli import app

BUGGY = "import torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(z, 1), y)\n"
FIXED = "import torch.nn.functional as F\nloss = F.cross_entropy(z, y)\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "clean.py").write_text(BUGGY)
    (tmp_path / "dirty.py").write_text(BUGGY)
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "dirty.py").write_text(BUGGY + "# work in progress\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dirty_file_is_not_written(repo: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--fix", "--unsafe-fixes", "--no-verify"])
    assert (repo / "clean.py").read_text() == FIXED
    assert (repo / "dirty.py").read_text() == BUGGY + "# work in progress\n"
    assert "uncommitted changes" in result.output
    assert result.exit_code == 1


def test_allow_dirty_writes_it(repo: Path) -> None:
    result = CliRunner().invoke(
        app, ["check", "--fix", "--unsafe-fixes", "--no-verify", "--allow-dirty"]
    )
    assert result.exit_code == 0, result.output
    assert (repo / "dirty.py").read_text() == FIXED + "# work in progress\n"


def test_untracked_file_counts_as_uncommitted(repo: Path) -> None:
    (repo / "new.py").write_text(BUGGY)
    CliRunner().invoke(app, ["migrate", "--write", "--no-verify"])
    assert (repo / "new.py").read_text() == BUGGY


def test_outside_git_it_says_so_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.py").write_text(BUGGY)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    result = CliRunner().invoke(app, ["check", "--fix", "--unsafe-fixes", "--no-verify"])
    assert (folder / "a.py").read_text() == FIXED
    assert "not inside a git work tree" in result.output


EXAMPLE = Path(__file__).resolve().parent.parent / "fixtures" / "projects" / "example" / "before"


@pytest.fixture
def example_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled example in a git repository: one unit (model, loss, reader) over three
    files, the reader's file the only one a fix of another file edits."""
    root = tmp_path / "example"
    shutil.copytree(EXAMPLE, root)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    monkeypatch.chdir(root)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): path.read_text() for path in root.rglob("*.py")}


def test_a_unit_refused_for_a_dirty_file_exits_1_and_names_it(example_repo: Path) -> None:
    predict = example_repo / "tagger" / "predict.py"
    predict.write_text(predict.read_text() + "# work in progress\n")
    before = _snapshot(example_repo)
    result = CliRunner().invoke(app, ["migrate", "--write", "--no-verify"])
    assert _snapshot(example_repo) == before
    assert result.exit_code == 1, result.output
    refused = [line for line in result.output.splitlines() if line.startswith("unit refused")]
    assert refused and "tagger/predict.py" in refused[0], result.output
    assert "tagger/predict.py has uncommitted changes" in result.output


def test_a_unit_refused_for_a_dirty_file_says_so_in_json(example_repo: Path) -> None:
    predict = example_repo / "tagger" / "predict.py"
    predict.write_text(predict.read_text() + "# work in progress\n")
    result = CliRunner().invoke(
        app, ["migrate", "--write", "--no-verify", "--output-format", "json"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    (unit,) = report["refused_units"]
    assert "tagger/predict.py" in unit["files"]
    assert any(
        blocker["file"] == "tagger/predict.py" and "uncommitted changes" in blocker["reason"]
        for blocker in unit["blocking"]
    )
    assert report["summary"]["errors"] >= 1


def test_a_unit_refused_for_a_read_only_file_exits_1_and_names_it(example_repo: Path) -> None:
    predict = example_repo / "tagger" / "predict.py"
    predict.chmod(0o444)
    before = _snapshot(example_repo)
    try:
        result = CliRunner().invoke(app, ["migrate", "--write", "--no-verify"])
    finally:
        predict.chmod(0o644)
    assert _snapshot(example_repo) == before
    assert result.exit_code == 1, result.output
    assert "tagger/predict.py is read-only" in result.output


def test_a_clean_tree_migrates_and_exits_0(example_repo: Path) -> None:
    result = CliRunner().invoke(app, ["migrate", "--write", "--no-verify"])
    assert result.exit_code == 0, result.output
    assert "unit refused" not in result.output


def test_a_dirty_file_whose_only_fix_is_unsafe_is_not_reported_as_held_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `check --fix` leaves unsafe fixes out anyway: saying the file's fixes were held back
    # because of its uncommitted changes would send the user to commit for nothing.
    forward_softmax = (
        "import torch.nn as nn\n"
        "\n"
        "\n"
        "class Tagger(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.head = nn.Sequential(nn.Linear(8, 4), nn.Softmax(dim=1))\n"
        "\n"
        "    def forward(self, x):\n"
        "        return self.head(x)\n"
        "\n"
        "\n"
        "for x, y in []:\n"
        "    loss = nn.CrossEntropyLoss()(Tagger()(x), y)\n"
    )
    _git(tmp_path, "init", "-q")
    (tmp_path / "train.py").write_text(forward_softmax)
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "init")
    (tmp_path / "train.py").write_text(forward_softmax + "# work in progress\n")
    monkeypatch.chdir(tmp_path)
    safe_only = CliRunner().invoke(app, ["check", "--fix", "--no-verify"])
    assert "MC201" in safe_only.output
    assert "uncommitted changes" not in safe_only.output
    unsafe = CliRunner().invoke(app, ["check", "--fix", "--unsafe-fixes", "--no-verify"])
    assert "uncommitted changes" in unsafe.output
