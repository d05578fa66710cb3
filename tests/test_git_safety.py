"""`--write` never modifies a file with uncommitted changes unless `--allow-dirty`."""

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
