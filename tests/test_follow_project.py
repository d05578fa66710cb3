"""The shapes of issue "Follow real code" end to end, on a fixture project
(`fixtures/projects/follow_script_setter_factory`): a module-level script whose model comes
from a registry decorator (`create_model("mlp")`), and a criterion stored by a setter
(`model.add_loss_op(nn.CrossEntropyLoss())`). `check` finds both, `check --fix
--unsafe-fixes` turns `before/` into exactly `after/`, and a torch probe running the
project's own training code shows that the fixed training gives the loss logits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate.cli import app
from migrate.testing import FIXTURES

PROJECT = FIXTURES / "projects" / "follow_script_setter_factory"

# Runs the tree's own training code (the script at module level, the setter's `main()`) with
# `F.cross_entropy` recording its input, and prints whether any input was probability rows.
PROBE = """
import json, runpy, sys
import torch
import torch.nn.functional as F
sys.path.insert(0, ".")
seen = []
original = F.cross_entropy
def recording(input, target, *args, **kwargs):
    rows = input.detach()
    in_unit_range = bool(((rows >= 0) & (rows <= 1)).all())
    seen.append(in_unit_range and torch.allclose(rows.sum(1), torch.ones(len(rows))))
    return original(input, target, *args, **kwargs)
F.cross_entropy = recording
runpy.run_path("train_script.py")
script = list(seen)
seen.clear()
import train_setter
train_setter.main()
print(json.dumps({"script": script, "setter": list(seen)}))
"""


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _probe(tree: Path) -> dict[str, list[bool]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tree, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[bool]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_check_finds_the_script_and_the_setter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(PROJECT / "before")
    result = CliRunner().invoke(app, ["check", ".", "--output-format", "json", "--no-cache"])
    assert result.exit_code == 1, result.output
    found = {(f["file"], f["line"], f["code"]) for f in json.loads(result.output)["findings"]}
    assert found == {("models.py", 29, "MC201"), ("models.py", 39, "MC201")}


def test_fix_gives_the_after_tree_and_a_second_run_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "project"
    shutil.copytree(PROJECT / "before", work)
    monkeypatch.chdir(work)
    options = ["--fix", "--unsafe-fixes", "--no-verify", "--no-cache"]
    first = CliRunner().invoke(app, ["check", ".", *options])
    assert first.exit_code == 0, first.output
    assert _tree(work) == _tree(PROJECT / "after")
    again = CliRunner().invoke(app, ["check", ".", *options])
    assert again.exit_code == 0, again.output
    assert _tree(work) == _tree(PROJECT / "after")


def test_probe_sees_probabilities_before_and_logits_after(tmp_path: Path) -> None:
    trees = {}
    for name in ("before", "after"):
        trees[name] = tmp_path / name
        shutil.copytree(PROJECT / name, trees[name])
    before = _probe(trees["before"])
    after = _probe(trees["after"])
    # The probe can fail: on the original every loss input is a row of probabilities.
    assert before["script"] and all(before["script"])
    assert before["setter"] and all(before["setter"])
    assert after["script"] and not any(after["script"])
    assert after["setter"] and not any(after["setter"])
