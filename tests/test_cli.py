"""The `ml2mc` command line, mostly in-process (CliRunner), a few runs as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from migrate import __version__

Cli = Callable[..., Result]
RunModule = Callable[..., "subprocess.CompletedProcess[str]"]
Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]

BUGGY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, 1), y)\n"
)
FIXED = BUGGY.replace("F.softmax(z, 1)", "z")
# Where MC201 points in BUGGY: the softmax call on line 5.
LINE, COLUMN = 5, 28
CLEAN = (
    "import torch\n"
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    probs = torch.softmax(z, dim=1)\n"
    "    return F.cross_entropy(z, y), probs\n"
)
# MC201 reports this without a fix: `p` is also returned, and `z` no longer holds the softmax's
# input at the loss.
UNFIXABLE = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    p = F.softmax(z, dim=1)\n"
    "    z = z * 2\n"
    "    loss = F.cross_entropy(p, y)\n"
    "    return loss, p, z\n"
)
# A model whose forward ends in softmax, trained with CrossEntropyLoss.
MODEL = (
    "import torch.nn as nn\n"
    "\n"
    "\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(4, 3)\n"
    "        self.softmax = nn.Softmax(dim=1)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.softmax(self.fc(x))\n"
    "\n"
    "\n"
    "def train(x, y):\n"
    "    model = Net()\n"
    "    log_outputs(model(x))  # an unknown reader: the softmax cannot leave forward\n"
    "    return nn.CrossEntropyLoss()(model(x), y)\n"
)


def _write(root: Path, relative: str, text: str = BUGGY) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _concise(cli: Cli, *args: str) -> tuple[int, list[str]]:
    result = cli("check", "--output-format", "concise", *args)
    return result.exit_code, result.stdout.splitlines()


def _reported_files(cli: Cli, *args: str) -> list[str]:
    result = cli("check", "--output-format", "json", *args)
    return sorted({finding["file"] for finding in json.loads(result.stdout)["findings"]})


def _config(root: Path, table: str) -> None:
    (root / "pyproject.toml").write_text(f'[project]\nname = "demo"\n\n[tool.ml2mc]\n{table}\n')


# ---------------------------------------------------------------------------------------------
# check: report, fix, diff


def test_check_reports_finding_and_exits_1(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "model.py")
    assert result.exit_code == 1
    assert "model.py" in result.stdout
    assert f"{LINE}:{COLUMN}" in result.stdout
    assert "MC201" in result.stdout
    assert "Pass the logits to `CrossEntropyLoss`" in result.stdout
    assert "unsafe" in result.stdout
    assert (project / "model.py").read_text() == BUGGY


def test_check_plain_report_prints_file_line_column(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "model.py")
    assert f"model.py:{LINE}:{COLUMN}" in result.stdout


def test_check_clean_file_exits_0(project: Path, cli: Cli) -> None:
    _write(project, "model.py", CLEAN)
    result = cli("check", "model.py")
    assert result.exit_code == 0, result.output
    assert "MC201" not in result.stdout


def test_check_defaults_to_current_folder(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    exit_code, lines = _concise(cli)
    assert exit_code == 1
    assert lines == [lines[0]]
    assert lines[0].startswith(f"src/model.py:{LINE}:{COLUMN}: MC201 ")


def test_check_fix_unsafe_rewrites_then_clean(project: Path, cli: Cli) -> None:
    path = _write(project, "model.py")
    result = cli("check", "--fix", "--unsafe-fixes", "model.py")
    assert result.exit_code == 0, result.output
    assert path.read_text() == FIXED
    again = cli("check", "model.py")
    assert again.exit_code == 0, again.output


def test_check_fix_alone_keeps_unsafe_fix(project: Path, cli: Cli) -> None:
    path = _write(project, "model.py")
    result = cli("check", "--fix", "model.py")
    assert result.exit_code == 1
    assert path.read_text() == BUGGY
    assert "fix (unsafe)" in result.stdout


def test_check_fix_alone_suggests_unsafe_fixes(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "--fix", "model.py")
    assert "--unsafe-fixes" in result.stdout


def test_check_diff_prints_patch_and_writes_nothing(
    project: Path, cli: Cli, snapshot: Snapshot
) -> None:
    _write(project, "model.py")
    before = snapshot(project)
    result = cli("check", "--diff", "--unsafe-fixes", "model.py")
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/model.py\n+++ b/model.py\n@@ ")
    assert "-    return F.cross_entropy(F.softmax(z, 1), y)\n" in result.stdout
    assert "+    return F.cross_entropy(z, y)\n" in result.stdout
    assert snapshot(project) == before


def test_check_diff_without_unsafe_shows_no_unsafe_fix(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "--diff", "model.py")
    assert result.exit_code == 1
    assert "+++" not in result.stdout


# ---------------------------------------------------------------------------------------------
# Output formats

FINDING_KEYS = {
    "code",
    "name",
    "file",
    "line",
    "column",
    "end_line",
    "end_column",
    "message",
    "fix",
}
SUMMARY_KEYS = {"files_scanned", "files_changed", "errors"}


def _json(result: Result) -> dict[str, Any]:
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    assert set(data) >= {"version", "findings", "changes", "verification", "summary"}
    assert data["version"] == 1
    assert set(data["summary"]) >= SUMMARY_KEYS
    return data


def test_json_finding(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    result = cli("check", "--output-format", "json", "src")
    assert result.exit_code == 1
    data = _json(result)
    [finding] = data["findings"]
    assert set(finding) >= FINDING_KEYS
    assert finding["code"] == "MC201"
    assert finding["name"] == "softmax-before-cross-entropy"
    assert finding["file"] == "src/model.py"
    assert (finding["line"], finding["column"]) == (LINE, COLUMN)
    assert (finding["end_line"], finding["end_column"]) == (LINE, COLUMN + len("F.softmax(z, 1)"))
    assert finding["message"]
    assert set(finding["fix"]) >= {"title", "applicability"}
    assert finding["fix"]["applicability"] == "unsafe"
    assert data["changes"] == []
    assert data["verification"] == []
    assert data["summary"]["files_scanned"] == 1
    assert data["summary"]["files_changed"] == 0
    assert data["summary"]["errors"] == 0


def test_json_changes_in_diff_mode(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    _write(project, "src/clean.py", CLEAN)
    result = cli("check", "--diff", "--unsafe-fixes", "--output-format", "json")
    data = _json(result)
    [change] = data["changes"]
    assert set(change) >= {"file", "diff"}
    assert change["file"] == "src/model.py"
    assert change["diff"].startswith("--- a/src/model.py\n+++ b/src/model.py\n")
    assert data["summary"]["files_scanned"] == 2
    assert data["summary"]["files_changed"] == 1
    assert (project / "src/model.py").read_text() == BUGGY


def test_json_fix_is_null_without_fix(project: Path, cli: Cli) -> None:
    _write(project, "net.py", UNFIXABLE)
    data = _json(cli("check", "--output-format", "json", "net.py"))
    [finding] = data["findings"]
    assert finding["code"] == "MC201"
    assert finding["fix"] is None


def test_json_on_clean_code(project: Path, cli: Cli) -> None:
    _write(project, "clean.py", CLEAN)
    result = cli("check", "--output-format", "json", "clean.py")
    assert result.exit_code == 0
    data = _json(result)
    assert data["findings"] == []
    assert data["summary"]["files_scanned"] == 1


def test_concise_format(project: Path, cli: Cli) -> None:
    _write(project, "pkg/model.py")
    exit_code, lines = _concise(cli, "pkg")
    assert exit_code == 1
    [line] = lines
    assert re.fullmatch(r"pkg/model\.py:5:28: MC201 \S.*", line), line


def test_sarif_format(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "--output-format", "sarif", "model.py")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["version"] == "2.1.0"
    [finding] = data["runs"][0]["results"]
    assert finding["ruleId"] == "MC201"


def test_github_format(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "--output-format", "github", "model.py")
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert "file=model.py" in line
    assert f"line={LINE}" in line
    assert "MC201" in line


# ---------------------------------------------------------------------------------------------
# migrate


def test_migrate_dry_run_writes_nothing(project: Path, cli: Cli, snapshot: Snapshot) -> None:
    _write(project, "src/model.py")
    _write(project, "src/clean.py", CLEAN)
    _write(project, "src/net.py", UNFIXABLE)
    _write(project, "src/model_net.py", MODEL)
    before = snapshot(project)
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    assert "+    return F.cross_entropy(z, y)" in result.stdout
    assert "--write" in result.stdout
    assert snapshot(project) == before


def test_migrate_check_exits_1_when_something_would_change(
    project: Path, cli: Cli, snapshot: Snapshot
) -> None:
    _write(project, "model.py")
    before = snapshot(project)
    assert cli("migrate", "--check", "model.py").exit_code == 1
    assert snapshot(project) == before


def test_migrate_check_exits_0_on_clean_code(project: Path, cli: Cli) -> None:
    _write(project, "clean.py", CLEAN)
    result = cli("migrate", "--check", "clean.py")
    assert result.exit_code == 0, result.output


def test_migrate_write_applies(project: Path, cli: Cli) -> None:
    path = _write(project, "model.py")
    result = cli("migrate", "--write", "--no-verify", "model.py")
    assert result.exit_code == 0, result.output
    assert path.read_text() == FIXED


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


# git is required by the suite (tests/test_git_safety.py too): a missing git fails, never skips.
def test_migrate_diff_applies_with_git(project: Path, cli: Cli) -> None:
    files = {
        "train.py": BUGGY,
        "pkg/deep/model.py": BUGGY.replace("step", "loss_of"),
        "no_newline.py": BUGGY.rstrip("\n"),
        "windows.py": BUGGY.replace("\n", "\r\n"),
        "clean.py": CLEAN,
    }
    for relative, text in files.items():
        _write(project, relative, "").write_bytes(text.encode())
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "before")

    result = cli("migrate", "--no-verify", "--diff")
    assert result.exit_code == 0, result.output
    patch = project.parent / "migration.patch"
    # stdout_bytes: Result.stdout turns CRLF into LF, which would break the patch.
    patch.write_bytes(result.stdout_bytes)
    # The dry run left the tree alone.
    assert _git(project, "status", "--porcelain").stdout == ""

    _git(project, "apply", "--check", str(patch))
    _git(project, "apply", str(patch))
    assert (project / "train.py").read_bytes() == FIXED.encode()
    assert (project / "no_newline.py").read_bytes() == FIXED.rstrip("\n").encode()
    assert (project / "windows.py").read_bytes() == FIXED.replace("\n", "\r\n").encode()
    assert (project / "clean.py").read_bytes() == CLEAN.encode()
    after = cli("migrate", "--check", "--no-verify")
    assert after.exit_code == 0, after.output


# ---------------------------------------------------------------------------------------------
# Rule selection


@pytest.mark.parametrize(
    ("options", "reported"),
    [
        pytest.param(["--select", "MC201"], True, id="select-code"),
        pytest.param(["--select", "MC2"], True, id="select-prefix"),
        pytest.param(["--select", "mc201"], True, id="select-lowercase"),
        pytest.param(["--select", "MC0,MC201"], True, id="select-comma-list"),
        pytest.param(["--select", "ALL"], True, id="select-all"),
        pytest.param(["--select", "MC0"], False, id="select-other-prefix"),
        pytest.param(["--ignore", "MC201"], False, id="ignore-code"),
        pytest.param(["--ignore", "MC2"], False, id="ignore-prefix"),
        pytest.param(["--select", "MC2", "--ignore", "MC201"], False, id="ignore-beats-select"),
        pytest.param(["--ignore", "MC0"], True, id="ignore-other-prefix"),
    ],
)
def test_select_and_ignore(project: Path, cli: Cli, options: list[str], reported: bool) -> None:
    _write(project, "model.py")
    exit_code, lines = _concise(cli, *options, "model.py")
    assert any(" MC201 " in line for line in lines) is reported
    assert exit_code == (1 if reported else 0)


@pytest.mark.parametrize("option", ["--select", "--ignore"])
def test_unknown_code_exits_2(project: Path, cli: Cli, option: str) -> None:
    _write(project, "model.py")
    result = cli("check", option, "MC999", "model.py")
    assert result.exit_code == 2
    assert "MC999" in result.stderr


def test_missing_path_exits_2(project: Path, cli: Cli) -> None:
    result = cli("check", "does/not/exist.py")
    assert result.exit_code == 2
    assert "does/not/exist.py" in result.stderr
    assert "no such file" in result.stderr.lower()


def test_migrate_missing_path_exits_2(project: Path, cli: Cli) -> None:
    result = cli("migrate", "nowhere")
    assert result.exit_code == 2
    assert "nowhere" in result.stderr


# ---------------------------------------------------------------------------------------------
# rules, explain, version


def test_rules_lists_mc201(cli: Cli) -> None:
    result = cli("rules")
    assert result.exit_code == 0
    assert re.search(r"^MC201\s+softmax-before-cross-entropy\b", result.stdout, re.MULTILINE)


@pytest.mark.parametrize("spelling", ["MC201", "mc201", "softmax-before-cross-entropy"])
def test_explain_prints_documentation(cli: Cli, spelling: str) -> None:
    result = cli("explain", spelling)
    assert result.exit_code == 0
    assert "MC201" in result.stdout
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety"):
        assert section in result.stdout


def test_explain_unknown_rule_exits_2(cli: Cli) -> None:
    result = cli("explain", "MC999")
    assert result.exit_code == 2
    assert "MC999" in result.stderr


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ml2mc {__version__}"


def test_version_subprocess(run_module: RunModule) -> None:
    completed = run_module("--version")
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"ml2mc {__version__}"


# ---------------------------------------------------------------------------------------------
# Suppression


def test_line_noqa_with_code_suppresses(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY.replace("1), y)\n", "1), y)  # noqa: MC201\n"))
    exit_code, lines = _concise(cli, "model.py")
    assert (exit_code, lines) == (0, [])


def test_line_noqa_with_other_code_does_not_suppress(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY.replace("1), y)\n", "1), y)  # noqa: MC999\n"))
    exit_code, lines = _concise(cli, "model.py")
    assert exit_code == 1
    assert len(lines) == 1


def test_file_noqa_suppresses_everything(project: Path, cli: Cli) -> None:
    source = BUGGY + "\n\ndef other(z, y):\n    return F.cross_entropy(F.softmax(z, 1), y)\n"
    source = source.replace("\n\n\ndef step", "\n# ml2mc: noqa\n\ndef step")
    path = _write(project, "model.py", source)
    exit_code, lines = _concise(cli, "model.py")
    assert (exit_code, lines) == (0, [])
    assert cli("check", "--fix", "--unsafe-fixes", "model.py").exit_code == 0
    assert "F.softmax" in path.read_text()


# ---------------------------------------------------------------------------------------------
# Configuration


def test_config_select(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    _config(project, 'select = ["MC1"]')
    assert _concise(cli, "model.py") == (0, [])
    exit_code, _ = _concise(cli, "--select", "MC201", "model.py")
    assert exit_code == 1, "the command line overrides the configuration"


def test_config_ignore(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    _config(project, 'ignore = ["MC201"]')
    assert _concise(cli, "model.py") == (0, [])


def test_config_exclude(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    _write(project, "legacy/old.py")
    _write(project, "src/model_old.py")
    _config(project, 'exclude = ["legacy", "*_old.py"]')
    assert _reported_files(cli) == ["src/model.py"]


def test_config_per_file_ignores(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    _write(project, "tests/test_model.py")
    _write(project, "scripts/run.py")
    _config(project, '[tool.ml2mc.per-file-ignores]\n"tests/*" = ["MC201"]\n"run.py" = ["MC2"]')
    assert _reported_files(cli) == ["src/model.py"]


def test_config_found_from_scanned_path_upward(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(project, "src/pkg/model.py")
    _config(project, 'ignore = ["MC201"]')
    (project / "src" / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    monkeypatch.chdir(project.parent)
    assert _concise(cli, "proj/src/pkg/model.py") == (0, [])
    assert _concise(cli, "proj/src") == (0, [])


def test_config_of_another_project_is_not_used(
    project: Path, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(project, 'ignore = ["MC201"]')
    other = tmp_path / "other"
    _write(other, "model.py")
    exit_code, lines = _concise(cli, str(other / "model.py"))
    assert exit_code == 1
    assert len(lines) == 1


def test_config_per_file_ignores_relative_to_project_root(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(project, "src/pkg/model.py")
    _config(project, '[tool.ml2mc.per-file-ignores]\n"src/pkg/*.py" = ["MC201"]')
    assert _concise(cli, "src") == (0, [])
    monkeypatch.chdir(project.parent)
    assert _concise(cli, "proj/src") == (0, [])


def test_explicit_config_option(project: Path, cli: Cli, tmp_path: Path) -> None:
    _write(project, "model.py")
    settings = tmp_path / "settings.toml"
    settings.write_text('[tool.ml2mc]\nignore = ["MC2"]\n')
    assert _concise(cli, "--config", str(settings), "model.py") == (0, [])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param('selct = ["MC201"]', "selct", id="unknown-key"),
        pytest.param('select = "MC201"', "select", id="select-not-a-list"),
        pytest.param("strict = 1", "strict", id="strict-not-bool"),
        pytest.param('per-file-ignores = { "a.py" = "MC201" }', "per-file-ignores", id="pfi"),
        pytest.param('select = ["MC201"\n', "TOML", id="bad-toml"),
    ],
)
def test_invalid_config_exits_2(project: Path, cli: Cli, table: str, message: str) -> None:
    _write(project, "model.py")
    _config(project, table)
    result = cli("check", "model.py")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "pyproject.toml" in result.stderr


@pytest.mark.parametrize("key", ["select", "ignore", "extend-select"])
def test_unknown_code_in_config_exits_2(project: Path, cli: Cli, key: str) -> None:
    _write(project, "model.py")
    _config(project, f'{key} = ["MC999"]')
    result = cli("check", "model.py")
    assert result.exit_code == 2
    assert "MC999" in result.stderr


def test_missing_config_file_exits_2(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    result = cli("check", "--config", "nope.toml", "model.py")
    assert result.exit_code == 2
    assert "nope.toml" in result.stderr


# ---------------------------------------------------------------------------------------------
# Discovery


def test_skipped_folders(project: Path, cli: Cli) -> None:
    _write(project, "src/model.py")
    for folder in (".git", ".venv/lib", "__pycache__", "build", "lib/site-packages/dep", "venv2"):
        _write(project, f"{folder}/hidden.py")
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    # A virtual environment is recognized by its pyvenv.cfg, whatever its name.
    (project / "venv2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert _reported_files(cli) == ["src/model.py"]
    data = json.loads(cli("check", "--output-format", "json").stdout)
    assert data["summary"]["files_scanned"] == 1


def test_non_python_files_are_skipped(project: Path, cli: Cli) -> None:
    _write(project, "notes.txt")
    _write(project, "model.pyi.bak")
    _write(project, "model.py")
    assert _reported_files(cli) == ["model.py"]


@pytest.mark.parametrize(
    "pattern", ["legacy", "legacy/", "legacy/*", "*/legacy/*", "*_old.py", "src/model_old.py"]
)
def test_exclude_option(project: Path, cli: Cli, pattern: str) -> None:
    _write(project, "src/model.py")
    if "old" in pattern:
        _write(project, "src/model_old.py")
    else:
        _write(project, "src/legacy/old.py")
    assert _reported_files(cli, "--exclude", pattern, "src") == ["src/model.py"]


def test_exclude_option_repeated(project: Path, cli: Cli) -> None:
    _write(project, "a.py")
    _write(project, "b.py")
    _write(project, "c.py")
    assert _reported_files(cli, "--exclude", "a.py", "--exclude", "b.py") == ["c.py"]


def test_exclude_does_not_match_folders_above_the_scanned_path(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data" / "proj"
    _write(root, "model.py")
    _write(root, "data/raw.py")
    monkeypatch.chdir(root)
    relative = _reported_files(cli, "--exclude", "data", ".")
    assert relative == ["model.py"]
    absolute = _reported_files(cli, "--exclude", "data", str(root))
    assert absolute == ["model.py"]


# ---------------------------------------------------------------------------------------------
# stdin


def test_stdin(project: Path, cli: Cli) -> None:
    result = cli(
        "check", "-", "--stdin-filename", "x.py", "--output-format", "concise", stdin=BUGGY
    )
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(f"x.py:{LINE}:{COLUMN}: MC201 ")


def test_stdin_clean(project: Path, cli: Cli) -> None:
    result = cli(
        "check", "-", "--stdin-filename", "x.py", "--output-format", "concise", stdin=CLEAN
    )
    assert result.exit_code == 0
    assert result.stdout == ""


def test_stdin_filename_honours_per_file_ignores(project: Path, cli: Cli) -> None:
    _config(project, '[tool.ml2mc.per-file-ignores]\n"tests/*" = ["MC201"]')
    result = cli(
        "check", "-", "--stdin-filename", "tests/x.py", "--output-format", "concise", stdin=BUGGY
    )
    assert (result.exit_code, result.stdout) == (0, "")


def test_stdin_through_console_script(project: Path) -> None:
    # On PATH, or beside this interpreter (a virtual environment that is not activated).
    beside = str(Path(sys.executable).parent)
    script = shutil.which("ml2mc") or shutil.which("ml2mc", path=beside)
    command = f"{script} check" if script else f"{sys.executable} -m migrate check"
    printf_body = BUGGY.replace("\n", "\\n")
    completed = subprocess.run(
        f"printf '{printf_body}' | {command} - --stdin-filename x.py --output-format concise",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.startswith(f"x.py:{LINE}:{COLUMN}: MC201 ")


# ---------------------------------------------------------------------------------------------
# Subprocess: exit codes through `python -m migrate`, and torch is never imported


def test_subprocess_check_json(project: Path, run_module: RunModule) -> None:
    _write(project, "model.py")
    completed = run_module("check", "--output-format", "json", "model.py")
    assert completed.returncode == 1, completed.stderr
    data = json.loads(completed.stdout)
    assert [finding["code"] for finding in data["findings"]] == ["MC201"]


def test_subprocess_plain_output_has_no_escape_codes(project: Path, run_module: RunModule) -> None:
    _write(project, "model.py")
    completed = run_module("check", "--fix", "--unsafe-fixes", "model.py")
    assert completed.returncode == 0, completed.stderr
    assert "\x1b[" not in completed.stdout
    assert (project / "model.py").read_text() == FIXED


def _imported_modules(stderr: str) -> set[str]:
    """Module names from `python -X importtime` lines: `import time: self | cumulative | name`."""
    modules = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return modules


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("check",), id="check"),
        pytest.param(("check", "--fix", "--unsafe-fixes", "--no-verify"), id="check-fix"),
        pytest.param(("migrate", "--no-verify"), id="migrate-no-verify"),
        pytest.param(("migrate", "--no-verify", "--write"), id="migrate-write"),
    ],
)
def test_torch_is_never_imported(
    project: Path, run_module: RunModule, command: tuple[str, ...]
) -> None:
    _write(project, "model.py")
    _write(project, "unfixable.py", UNFIXABLE)
    _write(project, "net.py", MODEL)
    completed = run_module(*command, ".", python_flags=("-X", "importtime"))
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    modules = _imported_modules(completed.stderr)
    assert "migrate.cli" in modules, "the -X importtime output was not captured"
    torch_modules = sorted(m for m in modules if m == "torch" or m.startswith("torch."))
    assert torch_modules == [], torch_modules[:5]


def test_help_does_not_crash(cli: Cli) -> None:
    for command in ((), ("check",), ("migrate",), ("rules",), ("explain",)):
        result = cli(*command, "--help")
        assert result.exit_code == 0, command
        assert "Usage" in result.stdout


def test_check_of_many_paths_reports_each(project: Path, cli: Cli) -> None:
    _write(project, "a/model.py")
    _write(project, "b/model.py")
    _write(project, "c/model.py")
    assert _reported_files(cli, "a", "b/model.py") == ["a/model.py", "b/model.py"]


def test_same_file_named_twice_is_checked_once(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    exit_code, lines = _concise(cli, "model.py", "model.py", ".")
    assert exit_code == 1
    assert len(lines) == 1, lines


def test_environment_is_not_needed(project: Path, run_module: RunModule) -> None:
    """The tool runs with a bare environment (no HOME, no TERM)."""
    _write(project, "model.py")
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "check", "--output-format", "concise", "model.py"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")},
    )
    assert completed.returncode == 1, completed.stderr
    assert completed.stdout.startswith("model.py:")


def test_an_internal_error_ends_with_a_message_not_a_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import migrate.cli as cli_module

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(cli_module, "run", broken)
    monkeypatch.setattr(sys, "argv", ["ml2mc", "check", "."])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "internal error: ValueError: boom" in err
    assert "Traceback" not in err
