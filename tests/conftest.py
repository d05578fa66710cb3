"""Shared fixtures: the `--update-fixtures` switch, a temporary project, the README's example
project, and CLI runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from migrate.cli import app
from migrate.testing import FIXTURES

CliInvoker = Callable[..., Result]
SubprocessRunner = Callable[..., "subprocess.CompletedProcess[str]"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-fixtures",
        action="store_true",
        default=False,
        help="Rewrite fixtures/<CODE>/<case>.expected.py from the tool's output instead of "
        "comparing (review the result with `git diff`).",
    )


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test's runs cache into one folder of the session (subprocesses inherit it), not
    into the user's `~/.cache/ml2mc`."""
    previous = os.environ.get("ML2MC_CACHE_DIR")
    os.environ["ML2MC_CACHE_DIR"] = str(tmp_path_factory.mktemp("ml2mc-cache"))
    yield
    if previous is None:
        os.environ.pop("ML2MC_CACHE_DIR", None)
    else:
        os.environ["ML2MC_CACHE_DIR"] = previous


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the README's example project (a tag classifier, one migration unit of three
    files), made the current directory."""
    work = tmp_path / "example"
    shutil.copytree(FIXTURES / "projects" / "example" / "before", work)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def update_fixtures(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-fixtures"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder, made the current directory (reported paths are relative to it).

    It holds a pyproject.toml without `[tool.ml2mc]`, as most real projects do; tests that need
    configuration rewrite it.
    """
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    monkeypatch.chdir(root)
    yield root


@pytest.fixture
def cli() -> CliInvoker:
    """Run `ml2mc ARGS` in-process; stdout and stderr are kept apart."""
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        result = runner.invoke(app, list(args), input=stdin, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


@pytest.fixture
def run_module() -> SubprocessRunner:
    """Run `python -m migrate ARGS` in a child process (the current directory is inherited)."""

    def run(
        *args: str, stdin: str | None = None, python_flags: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, *python_flags, "-m", "migrate", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
            check=False,
        )

    return run


Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]


@pytest.fixture
def snapshot() -> Snapshot:
    """Every file under a folder with its bytes and mtime_ns, to prove a run wrote nothing."""

    def take(root: Path) -> dict[str, tuple[bytes, int]]:
        state: dict[str, tuple[bytes, int]] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                relative = path.relative_to(root).as_posix()
                state[relative] = (path.read_bytes(), path.stat().st_mtime_ns)
        return state

    return take
