"""The pre-commit and CI examples run as written.

The pre-commit configurations of docs/pre-commit.md (and the README's) are copied into a
temporary git repository holding a training step with a known bug (a softmax fed to
`CrossEntropyLoss`), and pre-commit runs them: the hook fails on the bug and passes once it is
gone. The CI example's `ml2mc` commands run, as its steps write them, in a git repository
shaped as the workflow expects (a base branch under `origin/`), and its install line installs
ml2mc from a path, as the README does.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Test dependencies (the `test` extra): a missing one fails, never skips. Imported by name:
# they ship no type stubs.
yaml = importlib.import_module("yaml")
importlib.import_module("pre_commit")

BUGGY = """\
import torch
from torch import nn

criterion = nn.CrossEntropyLoss()


def train_step(model, x, y):
    logits = model(x)
    probs = torch.softmax(logits, dim=1)
    return criterion(probs, y)
"""
CLEAN = BUGGY.replace("criterion(probs, y)", "criterion(logits, y)")
# What `pip install` needs of ml2mc (the hooks' own environment is built from it).
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "migrate", "rules")


def _environment(home: Path) -> dict[str, str]:
    """This interpreter's scripts (`ml2mc`, `pre-commit`) first on PATH, as in an activated
    virtual environment; pre-commit's cache and git's identity kept to the test."""
    scripts = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(home),
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "NO_COLOR": "1",
        "TERM": "dumb",
    }


def _run(
    command: list[str], folder: Path, environment: dict[str, str], check: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=check,
    )


def _git(folder: Path, environment: dict[str, str], *args: str) -> str:
    return _run(["git", *args], folder, environment, check=True).stdout.strip()


def _new_repository(folder: Path, environment: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    _git(folder, environment, "init", "-q", "-b", "main")


def _pre_commit_run(folder: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    _git(folder, environment, "add", "-A")
    return _run([sys.executable, "-m", "pre_commit", "run", "--all-files"], folder, environment)


def _pre_commit_configs(path: Path) -> list[str]:
    """The YAML blocks of a document that are pre-commit configurations."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    return [block for block in blocks if block.startswith("repos:")]


def _hook_results(output: str) -> dict[str, str]:
    """`ml2mc check....Failed` lines as {hook name: Passed/Failed/...}."""
    return dict(re.findall(r"^(.+?)\.{3,}(Passed|Failed|Skipped)", output, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module: the hook environment pre-commit builds is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


def _check_bug_then_clean(
    config: str, folder: Path, environment: dict[str, str], hooks: set[str]
) -> None:
    _new_repository(folder, environment)
    (folder / ".pre-commit-config.yaml").write_text(config)
    (folder / "train.py").write_text(BUGGY)
    failed = _pre_commit_run(folder, environment)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert _hook_results(output).get("ml2mc check") == "Failed", output
    assert "train.py:9:13: MC201" in output
    assert "exit code: 2" not in output, "a hook's command line is a usage error"
    (folder / "train.py").write_text(CLEAN)
    passed = _pre_commit_run(folder, environment)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert set(_hook_results(output).items()) == {(hook, "Passed") for hook in hooks}, output


def test_the_local_hook_of_the_docs_runs_as_written(tmp_path: Path, pre_commit_home: Path) -> None:
    local = [
        config
        for config in _pre_commit_configs(ROOT / "docs" / "pre-commit.md")
        if "local" in config
    ]
    assert len(local) == 1
    config = local[0]
    assert yaml.safe_load(config)["repos"][0]["repo"] == "local"
    environment = _environment(pre_commit_home)
    hooks = {"ml2mc check", "ml2mc migrate --check"}
    _check_bug_then_clean(config, tmp_path / "project", environment, hooks)


def test_the_readme_hook_is_the_docs_hook_and_runs(tmp_path: Path, pre_commit_home: Path) -> None:
    (config,) = _pre_commit_configs(ROOT / "README.md")
    readme_hook = yaml.safe_load(config)["repos"][0]["hooks"][0]
    documented = next(
        yaml.safe_load(block)
        for block in _pre_commit_configs(ROOT / "docs" / "pre-commit.md")
        if "local" in block
    )
    assert readme_hook == documented["repos"][0]["hooks"][0]
    environment = _environment(pre_commit_home)
    _check_bug_then_clean(config, tmp_path / "project", environment, {"ml2mc check"})


def _copy_of_ml2mc(folder: Path, environment: dict[str, str]) -> str:
    """A git repository with ml2mc's package files as they are now; its commit."""
    _new_repository(folder, environment)
    for name in PACKAGE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, folder / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, folder / name)
    _git(folder, environment, "add", "-A")
    _git(folder, environment, "commit", "-q", "-m", "ml2mc")
    return _git(folder, environment, "rev-parse", "HEAD")


def test_the_shipped_hooks_install_ml2mc_from_a_clone(
    tmp_path: Path, pre_commit_home: Path
) -> None:
    """The `.pre-commit-hooks.yaml` configuration: pre-commit clones the repository named by
    `repo:` and pip-installs ml2mc into an environment of its own (needs the package index,
    as `pip install` does). Only `repo:` and `rev:` are replaced, by a copy of this tree."""
    (config,) = [
        block
        for block in _pre_commit_configs(ROOT / "docs" / "pre-commit.md")
        if "local" not in block
    ]
    loaded = yaml.safe_load(config)
    assert loaded["repos"][0]["repo"] == "path/to/ml2mc"
    environment = _environment(pre_commit_home)
    clone = tmp_path / "ml2mc"
    commit = _copy_of_ml2mc(clone, environment)
    written = config.replace("path/to/ml2mc", str(clone)).replace(loaded["repos"][0]["rev"], commit)
    assert yaml.safe_load(written)["repos"][0]["hooks"] == loaded["repos"][0]["hooks"]
    # Without ml2mc on PATH: the hook must run the ml2mc that pre-commit installed.
    scripts = str(Path(sys.executable).parent)
    isolated = {
        **environment,
        "PATH": os.pathsep.join(p for p in environment["PATH"].split(os.pathsep) if p != scripts),
    }
    hooks = {"ml2mc check", "ml2mc migrate --check"}
    _check_bug_then_clean(written, tmp_path / "project", isolated, hooks)


# ---------------------------------------------------------------------------------------------
# The CI example


def _workflow_steps() -> list[dict[str, Any]]:
    workflow = yaml.safe_load((ROOT / "docs" / "ci-workflow.yml").read_text(encoding="utf-8"))
    return list(workflow["jobs"]["ml2mc"]["steps"])


def _run_lines() -> Iterator[str]:
    """Each line of each step's `run`, and of the commented-out optional steps."""
    for step in _workflow_steps():
        yield from str(step.get("run", "")).splitlines()
    text = (ROOT / "docs" / "ci-workflow.yml").read_text(encoding="utf-8")
    yield from re.findall(r"^\s*#\s*run: (.*)$", text, flags=re.MULTILINE)


def _as_the_runner_would(line: str, base: str) -> str:
    return line.replace("${{ github.base_ref }}", base)


def _workflow_env() -> dict[str, str]:
    """The variables the workflow sets for every step (`env:` of the job)."""
    workflow = yaml.safe_load((ROOT / "docs" / "ci-workflow.yml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in workflow["jobs"]["ml2mc"].get("env", {}).items()}


def _ml2mc_path() -> str:
    """Where the workflow expects the copy of ml2mc's source tree, inside the checkout."""
    install = next(step for step in _workflow_steps() if "pip install" in step.get("run", ""))
    return {**_workflow_env(), **install.get("env", {})}["ML2MC_PATH"]


def _copy_ml2mc_tree(folder: Path) -> None:
    """ml2mc's whole source tree as a submodule or vendored copy holds it: its fixtures and its
    own verification code are full of the bugs `check` reports."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.split("\0")):
            source = ROOT / name
            if source.is_file():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / name)
        return
    # An export of the tree without its git directory (the mutation runs use one): the
    # folders that hold ml2mc's code and fixtures.
    for part in ("migrate", "rules", "fixtures"):
        shutil.copytree(
            ROOT / part, folder / part, ignore=shutil.ignore_patterns("__pycache__", ".*")
        )


def test_every_ml2mc_command_of_the_workflow_runs(tmp_path: Path) -> None:
    """Each `ml2mc` line runs in a repository whose pull-request branch brings the bug in,
    with its base at `origin/main` and the copy of ml2mc the install step names inside the
    checkout: check exits 1 with annotations on the project's bug only, verify finds the bug
    in the changed file and writes its report, SARIF is valid JSON and names only the project's
    file. None is a usage error (exit 2)."""
    environment = {**_environment(tmp_path / "pre-commit-home"), **_workflow_env()}
    project = tmp_path / "project"
    _new_repository(project, environment)
    _copy_ml2mc_tree(project / _ml2mc_path())
    (project / "train.py").write_text(CLEAN)
    _git(project, environment, "add", "-A")
    _git(project, environment, "commit", "-q", "-m", "base")
    _git(project, environment, "update-ref", "refs/remotes/origin/main", "HEAD")
    # The pull request brings the bug in.
    _git(project, environment, "switch", "-q", "-c", "pull-request")
    (project / "train.py").write_text(BUGGY)
    _git(project, environment, "commit", "-q", "-am", "a softmax before the loss")
    lines = [line.strip() for line in _run_lines() if line.strip().startswith("ml2mc ")]
    assert len(lines) >= 3, lines
    codes: dict[str, int] = {}
    for line in lines:
        script = f"set -o pipefail; {_as_the_runner_would(line, 'main')}"
        completed = _run(["bash", "-c", script], project, environment)
        output = completed.stdout + completed.stderr
        assert completed.returncode != 2, (line, output)
        codes[shlex.split(line)[1] + (" (sarif)" if "sarif" in line else "")] = completed.returncode
        if "--output-format github" in line:
            annotations = [a for a in completed.stdout.splitlines() if a.startswith("::")]
            assert annotations and all(
                a.startswith("::error file=train.py,line=9") for a in annotations
            ), annotations[:5]
        if line.startswith("ml2mc verify"):
            assert "MC201" in output, output
    # check finds the bug; verify finds it in the changed file; the SARIF step ends `|| true`.
    assert codes == {"check": 1, "verify": 1, "check (sarif)": 0}
    assert (project / "ml2mc-report.md").is_file(), "the report step publishes this file"
    sarif = json.loads((project / "ml2mc.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    located = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
        for location in result["locations"]
    }
    assert located == {"train.py"}, sorted(located)[:5]


def test_the_workflow_installs_ml2mc_from_a_path_as_the_readme_does() -> None:
    install = next(step for step in _workflow_steps() if "pip install" in step.get("run", ""))
    lines = [line.strip() for line in install["run"].splitlines()]
    ml2mc_lines = [
        line for line in lines if "pip install" in line and "torch" not in line and "-r" not in line
    ]
    assert ml2mc_lines == ['python -m pip install "./$ML2MC_PATH"']
    folder = _ml2mc_path()
    assert "://" not in folder and "@" not in folder, "a path, not a URL"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # The README installs ml2mc the same way: pip, from a copy of its source tree.
    assert re.search(r"^pip install -e \.\s+# from a checkout of ml2mc", readme, re.MULTILINE)
    workflow_text = (ROOT / "docs" / "ci-workflow.yml").read_text(encoding="utf-8")
    assert "OWNER" not in workflow_text and "github.com/" not in workflow_text
