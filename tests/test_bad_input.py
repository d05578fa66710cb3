"""Bad input gets a clear error and loses nothing: encodings, line endings, unreadable,
read-only and odd files, folders and symlinks."""

from __future__ import annotations

import codecs
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

Cli = Callable[..., Result]
RunModule = Callable[..., "subprocess.CompletedProcess[str]"]
Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]

BUGGY = b"import torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(z, 1), y)\n"
FIXED = b"import torch.nn.functional as F\nloss = F.cross_entropy(z, y)\n"
CLEAN = (
    b"import torch\n"
    b"import torch.nn.functional as F\n"
    b"probs = torch.softmax(z, dim=1)\n"
    b"loss = F.cross_entropy(z, y)\n"
)
# A finding without a fix: `p` is also returned, and `z` was rebound before the loss.
UNFIXABLE = (
    b"import torch.nn.functional as F\n"
    b"def step(z, y):\n"
    b"    p = F.softmax(z, dim=1)\n"
    b"    z = z * 2\n"
    b"    loss = F.cross_entropy(p, y)\n"
    b"    return loss, p, z\n"
)
AN_HOUR_AGO = 3600 * 10**9


def _write(root: Path, relative: str, data: bytes = BUGGY) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _age(path: Path) -> int:
    """Move the file's mtime an hour back, so a rewrite cannot hide in the clock's resolution."""
    old = path.stat().st_mtime_ns - AN_HOUR_AGO
    os.utime(path, ns=(old, old))
    return old


def _json_run(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--output-format", "json")
    return result.exit_code, json.loads(result.stdout)


def _findings_by_file(data: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in data["findings"]:
        found.setdefault(finding["file"], []).append(finding["code"])
    return found


def _finding(data: dict[str, Any], file: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [f for f in data["findings"] if f["file"] == file]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------------------------
# Unparsable and undecodable files


def test_syntax_error_is_mc001_and_run_continues(project: Path, cli: Cli) -> None:
    broken = _write(project, "broken.py", b"import torch\ndef train(:\n    torch.softmax(x)\n")
    good = _write(project, "good.py")
    exit_code, data = _json_run(cli, "check", "--fix", "--unsafe-fixes")
    assert exit_code == 1
    finding = _finding(data, "broken.py")
    assert finding["code"] == "MC001"
    assert "parse" in finding["message"]
    assert finding["line"] >= 1
    assert _findings_by_file(data)["good.py"] == ["MC201"]
    assert good.read_bytes() == FIXED
    assert broken.read_bytes() == b"import torch\ndef train(:\n    torch.softmax(x)\n"
    assert data["summary"]["errors"] == 1


def test_syntax_error_in_plain_report(project: Path, cli: Cli) -> None:
    _write(project, "broken.py", b"import torch\nx = torch.softmax(z, 1\n")
    result = cli("check", "broken.py")
    assert result.exit_code == 1
    assert "broken.py" in result.stdout
    assert "MC001" in result.stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"x = '\xff\xfe'  # softmax\n", id="invalid-utf8"),
        pytest.param(b"# caf\xe9 softmax\nx = 1\n", id="latin1-without-cookie"),
        pytest.param(bytes(range(256)) + b"softmax", id="binary"),
        pytest.param(b"# -*- coding: klingon -*-\nx = 'softmax'\n", id="unknown-codec"),
    ],
)
def test_undecodable_file_is_mc001_and_run_continues(project: Path, cli: Cli, data: bytes) -> None:
    bad = _write(project, "bad.py", data)
    good = _write(project, "good.py")
    exit_code, report = _json_run(cli, "check", "--fix", "--unsafe-fixes")
    assert exit_code == 1
    finding = _finding(report, "bad.py")
    assert finding["code"] == "MC001"
    assert "decode" in finding["message"] or "encoding" in finding["message"]
    assert bad.read_bytes() == data
    assert good.read_bytes() == FIXED


def test_null_byte_is_mc001(project: Path, cli: Cli) -> None:
    _write(project, "nul.py", b"import torch\nx = 1\x00\np = torch.softmax(z, 1)\n")
    exit_code, data = _json_run(cli, "check", "nul.py")
    assert exit_code == 1
    assert _finding(data, "nul.py")["code"] == "MC001"


def test_syntax_error_reported_where_a_finding_could_hide(project: Path, cli: Cli) -> None:
    # A check parses only the files whose tokens allow a finding (a loss, a log next to a
    # softmax, a softmax call that may lack `dim`); a broken file among those is MC001. A
    # broken file that cannot hold a finding whatever it says is not parsed, so not reported.
    _write(project, "loss.py", b"import torch.nn.functional as F\ndef f(:\n    F.nll_loss(p, y)\n")
    _write(project, "gate.py", b"import torch\ndef f(:\n    torch.sigmoid(g) * x\n")
    exit_code, data = _json_run(cli, "check", "loss.py", "gate.py")
    assert exit_code == 1
    assert _findings_by_file(data) == {"loss.py": ["MC001"]}


def test_deeply_nested_file_does_not_kill_the_run(project: Path, run_module: RunModule) -> None:
    # CPython itself rejects this ("too many nested parentheses"): a clear MC001 is expected.
    deep = b"import torch\nx = " + b"(" * 3000 + b"F.cross_entropy(z, y)" + b")" * 3000 + b"\n"
    _write(project, "deep.py", deep)
    _write(project, "good.py")
    completed = run_module("check", "--output-format", "concise", "deep.py", "good.py")
    assert completed.returncode == 1, f"exit {completed.returncode}: {completed.stderr[-500:]}"
    assert "deep.py:" in completed.stdout
    assert "good.py:2:24: MC201" in completed.stdout


# ---------------------------------------------------------------------------------------------
# Encodings, BOM, line endings and indentation survive a fix


def test_latin1_cookie_file_stays_latin1(project: Path, cli: Cli) -> None:
    before = (
        b"# -*- coding: latin-1 -*-\n"
        b"import torch.nn.functional as F\n"
        b"# Entra\xeenement: caf\xe9\n"
        b"loss = F.cross_entropy(F.softmax(z, 1), y)  # \xe9tiquettes\n"
    )
    path = _write(project, "latin.py", before)
    result = cli("check", "--fix", "--unsafe-fixes", "latin.py")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before.replace(b"F.softmax(z, 1)", b"z")


def test_utf8_bom_is_kept(project: Path, cli: Cli) -> None:
    path = _write(project, "bom.py", codecs.BOM_UTF8 + BUGGY)
    result = cli("check", "--fix", "--unsafe-fixes", "bom.py")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == codecs.BOM_UTF8 + FIXED


def test_utf8_bom_finding_position(project: Path, cli: Cli) -> None:
    _write(project, "bom.py", codecs.BOM_UTF8 + BUGGY)
    _, data = _json_run(cli, "check", "bom.py")
    finding = _finding(data, "bom.py")
    assert (finding["line"], finding["column"]) == (2, 24)


def test_crlf_is_kept_and_only_the_edited_line_changes(project: Path, cli: Cli) -> None:
    lines = [
        b"import torch.nn.functional as F\r\n",
        b"\r\n",
        b"def step(z, y):\r\n",
        b"    loss = F.cross_entropy(F.softmax(z, 1), y)\r\n",
        b"    return loss\r\n",
    ]
    path = _write(project, "crlf.py", b"".join(lines))
    result = cli("check", "--fix", "--unsafe-fixes", "crlf.py")
    assert result.exit_code == 0, result.output
    after = path.read_bytes().split(b"\n")
    expected = b"".join(lines).replace(b"F.softmax(z, 1)", b"z").split(b"\n")
    assert after == expected
    assert path.read_bytes().count(b"\r\n") == len(lines)
    assert b"\n" not in path.read_bytes().replace(b"\r\n", b"")


def test_tab_indentation_is_kept(project: Path, cli: Cli) -> None:
    before = (
        b"import torch.nn.functional as F\n"
        b"def step(z, y):\n"
        b"\tif z is not None:\n"
        b"\t\tp = F.softmax(z, 1)\n"
        b"\t\treturn F.cross_entropy(p, y)\n"
    )
    path = _write(project, "tabs.py", before)
    result = cli("check", "--fix", "--unsafe-fixes", "tabs.py")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == before.replace(b"F.softmax(z, 1)", b"z")


def test_no_newline_at_end_of_file(project: Path, cli: Cli) -> None:
    path = _write(project, "noeol.py", BUGGY.rstrip(b"\n"))
    assert cli("check", "--fix", "--unsafe-fixes", "noeol.py").exit_code == 0
    assert path.read_bytes() == FIXED.rstrip(b"\n")


def test_form_feed_is_kept(project: Path, cli: Cli) -> None:
    before = BUGGY.replace(b"\nloss", b"\n\x0c\nloss")
    path = _write(project, "ff.py", before)
    assert cli("check", "--fix", "--unsafe-fixes", "ff.py").exit_code == 0
    assert path.read_bytes() == FIXED.replace(b"\nloss", b"\n\x0c\nloss")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\n\n   \n", id="blank-lines"),
        pytest.param(b"# softmax and CrossEntropyLoss, in a comment\n", id="comment-only"),
        pytest.param(codecs.BOM_UTF8, id="bom-only"),
    ],
)
def test_empty_files_have_no_finding(project: Path, cli: Cli, data: bytes) -> None:
    path = _write(project, "empty.py", data)
    mtime = _age(path)
    result = cli("check", "--fix", "--unsafe-fixes", "empty.py")
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == mtime


# ---------------------------------------------------------------------------------------------
# Read-only files


@pytest.fixture
def read_only_project(project: Path) -> Path:
    read_only = _write(project, "locked.py")
    _write(project, "writable.py")
    read_only.chmod(0o444)
    return project


def test_read_only_file_is_not_written_and_others_are(read_only_project: Path, cli: Cli) -> None:
    locked = read_only_project / "locked.py"
    result = cli("check", "--fix", "--unsafe-fixes")
    assert result.exit_code != 0
    assert locked.read_bytes() == BUGGY
    assert stat.S_IMODE(locked.stat().st_mode) == 0o444
    assert (read_only_project / "writable.py").read_bytes() == FIXED
    assert "locked.py" in result.output
    assert "read-only" in result.output
    assert "Traceback" not in result.output


def test_read_only_file_error_in_json(read_only_project: Path, cli: Cli) -> None:
    exit_code, data = _json_run(cli, "check", "--fix", "--unsafe-fixes")
    assert exit_code != 0
    assert data["summary"]["errors"] >= 1
    assert "locked.py" in json.dumps(data["summary"])


def test_read_only_file_with_migrate_write(read_only_project: Path, cli: Cli) -> None:
    result = cli("migrate", "--write", "--no-verify")
    assert result.exit_code != 0
    assert (read_only_project / "locked.py").read_bytes() == BUGGY
    assert (read_only_project / "writable.py").read_bytes() == FIXED
    assert "locked.py" in result.output


def test_read_only_file_error_in_concise_output(read_only_project: Path, cli: Cli) -> None:
    result = cli("check", "--fix", "--unsafe-fixes", "--output-format", "concise")
    assert result.exit_code != 0
    assert "locked.py" in result.output
    assert "read-only" in result.output


def test_read_only_finding_is_not_reported_fixed(read_only_project: Path, cli: Cli) -> None:
    result = cli("check", "--fix", "--unsafe-fixes", "--output-format", "concise")
    findings = [line for line in result.stdout.splitlines() if line.startswith("locked.py:")]
    [locked_line] = [line for line in findings if " MC201 " in line]
    assert "[fixed]" not in locked_line


# ---------------------------------------------------------------------------------------------
# Folders, symlinks


def test_folder_named_like_a_python_file_is_walked(project: Path, cli: Cli) -> None:
    _write(project, "x.py/inner.py")
    _write(project, "x.py/deeper/more.py", CLEAN)
    for target in (".", "x.py"):
        exit_code, data = _json_run(cli, "check", target)
        assert exit_code == 1
        assert _findings_by_file(data) == {"x.py/inner.py": ["MC201"]}
        assert data["summary"]["files_scanned"] == 2


def test_symlink_loop_does_not_hang(project: Path, run_module: RunModule) -> None:
    _write(project, "pkg/model.py")
    (project / "pkg" / "loop").symlink_to("..", target_is_directory=True)
    (project / "pkg" / "self_loop").symlink_to("self_loop", target_is_directory=True)
    # A child process: if the walk followed the loop, the timeout ends the test, not the suite.
    completed = run_module("check", "--output-format", "concise", ".")
    assert completed.returncode == 1, completed.stderr
    [line] = completed.stdout.splitlines()
    assert line.startswith("pkg/model.py:2:24: MC201")


def test_symlink_loop_named_on_the_command_line(project: Path, cli: Cli) -> None:
    _write(project, "pkg/model.py")
    (project / "pkg" / "loop").symlink_to("..", target_is_directory=True)
    exit_code, data = _json_run(cli, "check", "pkg/loop")
    assert exit_code == 1
    assert len(data["findings"]) == 1


def test_broken_symlink_in_tree_is_skipped(project: Path, cli: Cli) -> None:
    _write(project, "model.py")
    (project / "dangling.py").symlink_to("nowhere.py")
    exit_code, data = _json_run(cli, "check", ".")
    assert exit_code == 1
    assert _findings_by_file(data) == {"model.py": ["MC201"]}


def test_self_symlink_named_on_the_command_line(project: Path, cli: Cli) -> None:
    (project / "loop.py").symlink_to("loop.py")
    _write(project, "good.py")
    exit_code, data = _json_run(cli, "check", "loop.py", "good.py")
    assert exit_code == 1
    assert _finding(data, "loop.py")["code"] == "MC001"
    assert _finding(data, "good.py")["code"] == "MC201"


def test_fix_through_symlink_writes_the_target(project: Path, cli: Cli) -> None:
    target = _write(project, "real/model.py")
    (project / "link.py").symlink_to("real/model.py")
    result = cli("check", "--fix", "--unsafe-fixes", "link.py")
    assert result.exit_code == 0, result.output
    assert (project / "link.py").is_symlink()
    assert target.read_bytes() == FIXED


# ---------------------------------------------------------------------------------------------
# Files with nothing to change are never written; modes survive; reruns are no-ops


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("check", "--fix", "--unsafe-fixes"), id="check-fix"),
        pytest.param(("migrate", "--write", "--no-verify"), id="migrate-write"),
    ],
)
def test_unchanged_files_are_never_written(
    project: Path, cli: Cli, command: tuple[str, ...]
) -> None:
    untouched = {
        "clean.py": CLEAN,
        "no_fix.py": UNFIXABLE,
        "suppressed.py": BUGGY.replace(b"y)\n", b"y)  # noqa: MC201\n"),
        "file_noqa.py": b"# ml2mc: noqa\n" + BUGGY,
        "plain.py": b"print('hello')\n",
        "empty.py": b"",
    }
    times = {}
    for name, data in untouched.items():
        times[name] = _age(_write(project, name, data))
    changed = _write(project, "changed.py")
    result = cli(*command)
    assert result.exit_code in (0, 1), result.output
    assert changed.read_bytes() == FIXED
    for name, data in untouched.items():
        path = project / name
        assert path.read_bytes() == data, name
        assert path.stat().st_mtime_ns == times[name], f"{name} was rewritten"
    leftovers = [p.name for p in project.iterdir() if p.name.endswith(".ml2mc")]
    assert leftovers == []


def test_file_mode_is_kept(project: Path, cli: Cli) -> None:
    script = _write(project, "train.py", b"#!/usr/bin/env python\n" + BUGGY)
    script.chmod(0o755)
    private = _write(project, "private.py")
    private.chmod(0o600)
    result = cli("check", "--fix", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert script.read_bytes() == b"#!/usr/bin/env python\n" + FIXED
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_second_migrate_write_changes_nothing(project: Path, cli: Cli, snapshot: Snapshot) -> None:
    _write(project, "a.py")
    _write(project, "pkg/b.py", BUGGY.replace(b"\n", b"\r\n"))
    _write(project, "pkg/c.py", UNFIXABLE)
    first = cli("migrate", "--write", "--no-verify")
    assert first.exit_code == 0, first.output
    for path in project.rglob("*.py"):
        _age(path)
    before = snapshot(project)
    second = cli("migrate", "--write", "--no-verify")
    assert second.exit_code == 0, second.output
    assert snapshot(project) == before
    check_again = cli("migrate", "--check", "--no-verify")
    assert check_again.exit_code == 0, check_again.output


def test_bad_files_do_not_hide_others(project: Path, cli: Cli) -> None:
    for index in range(5):
        _write(project, f"pkg/good_{index:02}.py")
        _write(project, f"pkg/bad_{index:02}.py", b"import torch\ndef f(:\n    torch.softmax(z)\n")
    exit_code, data = _json_run(cli, "check", "--fix", "--unsafe-fixes")
    assert exit_code == 1
    codes = _findings_by_file(data)
    assert sum(1 for name, found in codes.items() if found == ["MC201"]) == 5
    assert sum(1 for name, found in codes.items() if found == ["MC001"]) == 5
    assert all(p.read_bytes() == FIXED for p in project.glob("pkg/good_*.py"))


def test_every_file_of_a_big_project_is_fixed(project: Path, cli: Cli) -> None:
    for index in range(15):
        _write(project, f"pkg/train_{index:02}.py")
    result = cli("check", "--fix", "--unsafe-fixes", "--output-format", "concise")
    unfixed = [p.name for p in sorted(project.glob("pkg/*.py")) if p.read_bytes() != FIXED]
    assert unfixed == []
    assert result.exit_code == 0, result.output


MODEL_FILE = b"""import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        return self.softmax(self.fc(x))
"""
TRAIN_FILE = b"""import torch.nn as nn

from pkg.model import Net


def train(x, y):
    model = Net()
    loss = nn.CrossEntropyLoss()(model(x), y)
    confidence = model(x).max(dim=1).values
    return loss, confidence
"""


def _two_file_project(project: Path) -> tuple[Path, Path]:
    _write(project, "pkg/__init__.py", b"")
    return _write(project, "pkg/model.py", MODEL_FILE), _write(project, "pkg/train.py", TRAIN_FILE)


def test_multi_file_fix_edits_both_files(project: Path, cli: Cli) -> None:
    model, train = _two_file_project(project)
    result = cli("check", "--fix", "--unsafe-fixes", "--no-verify")
    assert result.exit_code == 0, result.output
    assert b"return self.fc(x)\n" in model.read_bytes()
    assert b"torch.softmax(model(x), dim=1).max(dim=1)" in train.read_bytes()


def test_multi_file_fix_is_all_or_nothing(project: Path, cli: Cli) -> None:
    model, train = _two_file_project(project)
    model.chmod(0o444)
    result = cli("check", "--fix", "--unsafe-fixes", "--no-verify")
    assert result.exit_code != 0
    assert model.read_bytes() == MODEL_FILE
    assert train.read_bytes() == TRAIN_FILE


def test_huge_file_is_reported_and_skipped(project: Path, cli: Cli) -> None:
    lines = "".join(f"x_{i} = {i} + 1\n" for i in range(130_000))
    (project / "generated.py").write_text("import torch.nn.functional as F\n" + lines)
    _write(project, "model.py")
    exit_code, data = _json_run(cli, "check", ".")
    assert exit_code == 1
    by_file = {finding["file"]: finding for finding in data["findings"]}
    assert by_file["generated.py"]["code"] == "MC001"
    assert "too large" in by_file["generated.py"]["message"]
    assert by_file["model.py"]["code"] == "MC201"


def test_interrupt_during_a_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrate import writer

    target = tmp_path / "model.py"
    target.write_bytes(b"old contents\n")

    def interrupted(source: object, destination: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.atomic_write(target, b"new contents\n")
    assert target.read_bytes() == b"old contents\n"
    assert [path.name for path in tmp_path.iterdir()] == ["model.py"]
