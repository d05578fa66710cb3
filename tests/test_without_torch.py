"""ml2mc needs no torch of its own (issue: verify runs the user's code in the project's
interpreter): `check` and `migrate --no-verify` work where torch cannot be imported, a
verification there says how to get torch, and `--python` picks the interpreter that runs it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from benchmarks.migrations import tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures" / "projects" / "example" / "before"


def test_torch_is_not_a_dependency_of_ml2mc_itself() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.replace(" ", "").startswith("torch")]
    assert any(d.startswith("torch") for d in project["optional-dependencies"]["verify"])


def _without_torch(tmp_path: Path) -> dict[str, str]:
    """An environment where `import torch` fails, in ml2mc and in every child it starts."""
    blocker = tmp_path / "no-torch"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is not installed here')\n")
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join([str(blocker), str(ROOT)])
    return environment


def _ml2mc(
    cwd: Path, environment: dict[str, str], *arguments: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_check_and_migrate_without_verification_need_no_torch(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    environment = _without_torch(tmp_path)
    checked = _ml2mc(project, environment, "check", "--select", "MC1", "--output-format", "concise")
    migrated = _ml2mc(project, environment, "migrate", "--no-verify", "--output-format", "json")
    for completed in (checked, migrated):
        assert completed.returncode in (0, 1), completed.stderr
        assert "Traceback" not in completed.stderr
    assert "MC101" in checked.stdout and '"changes"' in migrated.stdout


def test_a_verification_without_torch_says_how_to_get_it(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    completed = _ml2mc(project, _without_torch(tmp_path), "migrate", "--output-format", "json")
    assert "Traceback" not in completed.stderr
    assert "-m pip install torch" in completed.stdout
    assert "--python" in completed.stdout


def test_python_picks_the_interpreter_that_runs_the_verification(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    marker = tmp_path / "launched"
    wrapper = tmp_path / "project-python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    completed = _ml2mc(
        project, dict(os.environ), "migrate", "--python", str(wrapper), "--output-format", "json"
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert '"status": "pass"' in completed.stdout
    assert "migrate.verify.child" in marker.read_text()


def test_strict_writes_nothing_when_no_check_can_run(tmp_path: Path) -> None:
    """Without torch every check is skipped: under --strict that is a failure before the write."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    completed = _ml2mc(project, _without_torch(tmp_path), "migrate", "--write", "--strict")
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "not verified and --strict is on" in completed.stdout
    for path in EXAMPLE.rglob("*.py"):
        assert (project / path.relative_to(EXAMPLE)).read_bytes() == path.read_bytes(), path
