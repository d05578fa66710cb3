"""Input with nothing to scan: a warning on stderr and exit 0, as ruff does; machine output
stays valid. And the MC001 message for a file over the size limit says both sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from migrate.discovery import MAX_FILE_BYTES

Cli = Callable[..., Result]
RunModule = Callable[..., "subprocess.CompletedProcess[str]"]

WARNING = "ml2mc: warning: no Python files found under the given path(s)"


def _no_python(root: Path, shape: str) -> Path:
    """A folder with nothing to scan: empty, holding other files, or holding only Python
    files that the walk skips (a virtual environment, a hidden folder)."""
    folder = root / shape
    folder.mkdir()
    if shape == "other-files":
        (folder / "README.md").write_text("# notes\n")
        (folder / "data.csv").write_text("a,b\n1,2\n")
    elif shape == "skipped-folders":
        (folder / ".hidden").mkdir()
        (folder / ".hidden" / "model.py").write_text("x = 1\n")
        (folder / "venv").mkdir()
        (folder / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
        (folder / "venv" / "lib.py").write_text("x = 1\n")
    return folder


SHAPES = ["empty", "other-files", "skipped-folders"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("command", ["check", "migrate"])
def test_nothing_to_scan_warns_and_exits_0(
    project: Path, cli: Cli, command: str, shape: str
) -> None:
    folder = _no_python(project, shape)
    result = cli(command, str(folder.relative_to(project)), "--no-verify", "--no-cache")
    assert result.exit_code == 0, result.output
    assert WARNING in result.stderr.splitlines()
    assert WARNING not in result.stdout


@pytest.mark.parametrize("command", ["check", "migrate"])
def test_a_folder_with_python_files_gives_no_warning(project: Path, cli: Cli, command: str) -> None:
    (project / "clean.py").write_text("x = 1\n")
    result = cli(command, ".", "--no-verify", "--no-cache")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr


def test_everything_excluded_warns(project: Path, cli: Cli) -> None:
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text("x = 1\n")
    result = cli("check", ".", "--exclude", "legacy", "--no-cache")
    assert result.exit_code == 0
    assert WARNING in result.stderr


@pytest.mark.parametrize("output_format", ["json", "sarif", "github"])
def test_machine_output_stays_valid_and_the_warning_goes_to_stderr(
    project: Path, cli: Cli, output_format: str
) -> None:
    folder = _no_python(project, "empty")
    result = cli("check", str(folder), "--output-format", output_format, "--no-cache")
    assert result.exit_code == 0
    assert WARNING in result.stderr
    if output_format == "github":
        assert [line for line in result.stdout.splitlines() if line.strip()] == []
        return
    data = json.loads(result.stdout)
    if output_format == "json":
        assert data["findings"] == [] and data["summary"]["files_scanned"] == 0
    else:
        assert data["version"] == "2.1.0" and data["runs"][0]["results"] == []


def test_empty_folder_as_a_subprocess(project: Path, run_module: RunModule) -> None:
    folder = _no_python(project, "other-files")
    completed = run_module("check", str(folder), "--output-format", "json")
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["findings"] == []
    assert completed.stderr.splitlines() == [WARNING]


def test_verify_on_a_folder_without_python_files_warns(tmp_path: Path) -> None:
    """`verify` does not ask git about the whole repository when the paths hold no Python
    file: it warns, compares nothing and exits 0."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.py").write_text("x = 1\n")
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one"],
    ):
        subprocess.run(command, cwd=repo, check=True)
    (repo / "model.py").write_text("x = 2\n")  # a change outside the folder asked about
    (repo / "docs").mkdir()
    (repo / "docs" / "index.md").write_text("# docs\n")
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "verify", "docs", "--output-format", "json"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert WARNING in completed.stderr.splitlines()
    data = json.loads(completed.stdout)
    assert data["comparison"] == {"ref": "HEAD", "changed_files": 0}
    assert data["verification"] == []


def test_a_file_over_the_limit_says_its_size_and_the_limit(project: Path, cli: Cli) -> None:
    # Just over the limit: rounded to MiB both sides would read "1.0 MiB > 1 MiB".
    size = MAX_FILE_BYTES + 124
    body = "x = 1\n" * (size // 6)
    (project / "generated.py").write_text(body + "#" * (size - len(body) - 1) + "\n")
    assert (project / "generated.py").stat().st_size == size
    result = cli("check", "--select", "MC2", "--output-format", "json", "--no-cache", ".")
    [finding] = json.loads(result.stdout)["findings"]
    assert finding["code"] == "MC001"
    assert finding["message"] == (
        "cannot analyze: too large: the file is 1,048,700 bytes; the limit is 1,048,576 bytes "
        "(1 MiB); skipped"
    )
