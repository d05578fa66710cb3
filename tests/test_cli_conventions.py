"""The command line's manners: help pages without type labels, shell completion per shell and
for rule codes, conflicting flags as usage errors, and closing hints that are true for the run
they follow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer
from typer.testing import Result

from migrate.cli import app
from migrate.registry import all_rules, code_completions

if TYPE_CHECKING:
    from typer._click import Command

Cli = Callable[..., Result]

# MC201 with an unsafe fix (the softmax's input goes to the loss).
UNSAFE_ONLY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, 1), y)\n"
)
# MC205 with a safe fix (the log_softmax goes).
SAFE_ONLY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.log_softmax(z, dim=1), y)\n"
)
# MC106 alone: reported, nothing to rewrite.
ONE_HOT_ONLY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y, num_classes):\n"
    "    target = F.one_hot(y, num_classes).float()\n"
    "    return F.cross_entropy(z, target)\n"
)
# MC001 alone: a file that names an activation but does not parse.
UNPARSABLE = "import torch\nx = torch.sigmoid(\n"
# A sigmoid model whose output also goes to a function nobody follows: its unit is refused
# for a reason `--unsafe-fixes` does not change.
REFUSED_MODEL = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))


def train(x, y):
    model = Net()
    log_outputs(model(x))
    return nn.BCELoss()(model(x), y)
"""
LIGHTNING = Path(__file__).parent.parent / "fixtures" / "projects" / "lightning_module" / "before"


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _ml2mc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `ml2mc` script, else `python -m migrate` (it names itself `ml2mc` too)."""
    beside = str(Path(sys.executable).parent)
    script = shutil.which("ml2mc", path=beside) or shutil.which("ml2mc")
    command = [script] if script else [sys.executable, "-m", "migrate"]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb", **(env or {})},
    )


# ---------------------------------------------------------------------------------------------
# Help

COMMANDS = ["check", "migrate", "verify", "rules", "explain"]
# `<bool>`, `<list[Path]>`, `<path>`, `<rich|concise|json>`: a type label in angle brackets.
TYPE_LABEL = re.compile(r"<[a-zA-Z][\w\[\]|, .]*>")


def _click_commands() -> list[tuple[str, Command]]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    context = typer.Context(group, info_name="ml2mc")
    commands: list[tuple[str, Command]] = [("ml2mc", group)]
    for name in COMMANDS:
        command = group.get_command(context, name)
        assert command is not None, name
        commands.append((name, command))
    return commands


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]], ids=["ml2mc", *COMMANDS])
def test_help_shows_no_type_labels(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert TYPE_LABEL.findall(result.stdout) == []


def test_help_through_a_terminal_shows_no_type_labels() -> None:
    completed = _ml2mc("check", "--help")
    assert completed.returncode == 0, completed.stderr
    assert "--unsafe-fixes" in completed.stdout
    assert TYPE_LABEL.findall(completed.stdout) == []


@pytest.mark.parametrize("name", ["check", "migrate", "verify"])
def test_config_help_names_the_table(cli: Cli, name: str) -> None:
    # Read as rich markup, `[tool.ml2mc]` was a style tag and vanished ("read  from").
    result = cli(name, "--help")
    # The help wraps inside a box: read it as one line of words.
    words = " ".join(result.stdout.replace("│", " ").split())
    assert "A pyproject.toml to read [tool.ml2mc] from" in words


@pytest.mark.parametrize("name", ["ml2mc", *COMMANDS])
def test_every_parameter_has_one_line_help(name: str) -> None:
    command = dict(_click_commands())[name]
    context = typer.Context(command, info_name=name)
    for param in command.get_params(context):
        text = getattr(param, "help", None)
        assert text, f"{name} {param.name}: no help"
        assert "\n" not in text and "  " not in text, f"{name} {param.name}: {text!r}"


@pytest.mark.parametrize(
    ("command", "default"),
    [
        (["check"], "[default: rich]"),
        (["check"], "[default: verify]"),
        (["migrate"], "[default: verify]"),
        (["verify"], "[default: HEAD]"),
        (["verify"], "[default: 60.0]"),
    ],
)
def test_value_options_show_their_default(cli: Cli, command: list[str], default: str) -> None:
    assert default in cli(*command, "--help").stdout


@pytest.mark.parametrize("name", ["check", "migrate"])
def test_verify_flag_pair_on_check_and_migrate(name: str) -> None:
    command = dict(_click_commands())[name]
    pairs = {
        (tuple(param.opts), tuple(param.secondary_opts)): param.default
        for param in command.params
        if isinstance(param, typer.core.TyperOption)
    }
    assert pairs[(("--verify",), ("--no-verify",))] is True


def test_migrate_verify_flag_still_turns_verification_off(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import migrate.pipeline

    ran: list[bool] = []
    monkeypatch.setattr(migrate.pipeline, "_verify", lambda result, options: ran.append(True))
    _write(project, "model.py", UNSAFE_ONLY)
    cli("migrate", "--no-verify", "model.py")
    assert ran == []
    cli("migrate", "--verify", "model.py")
    assert ran == [True]


# ---------------------------------------------------------------------------------------------
# Completion

# What only that shell's script holds.
SHELL_MARKERS = {
    "bash": ["complete -o default -F _ml2mc_completion ml2mc", "COMP_WORDS"],
    "zsh": ["#compdef ml2mc", "compdef _ml2mc_completion ml2mc"],
    "fish": ["complete --command ml2mc", "complete_fish"],
    "powershell": ["Register-ArgumentCompleter -Native -CommandName ml2mc", "complete_powershell"],
    "pwsh": ["Register-ArgumentCompleter -Native -CommandName ml2mc", "complete_powershell"],
}


@pytest.mark.parametrize("shell", list(SHELL_MARKERS))
def test_show_completion_prints_that_shells_script(shell: str) -> None:
    completed = _ml2mc("--show-completion", shell)
    assert completed.returncode == 0, completed.stderr
    for marker in SHELL_MARKERS[shell]:
        assert marker in completed.stdout, (shell, marker)
    others = {s for s in SHELL_MARKERS if SHELL_MARKERS[s] != SHELL_MARKERS[shell]}
    for other in others:
        assert SHELL_MARKERS[other][0] not in completed.stdout, (shell, other)


def test_show_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    completed = _ml2mc("--show-completion", "tcsh")
    assert completed.returncode == 2
    assert "tcsh" in completed.stderr and "zsh" in completed.stderr
    assert completed.stdout == ""


def test_completion_script_names_ml2mc_under_python_m_migrate() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "--show-completion", "fish"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("complete --command ml2mc ")
    assert "_ML2MC_COMPLETE=complete_fish" in completed.stdout


def _bash_complete(words: str) -> list[str]:
    """What bash offers for the last word of `words`, through the script's own protocol."""
    parts = words.split(" ")
    completed = _ml2mc(
        env={
            "_ML2MC_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        }
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()


def test_rule_codes_complete_after_explain() -> None:
    expected = sorted(rule.code for rule in all_rules() if rule.code.startswith("MC2"))
    assert len(expected) > 1
    assert _bash_complete("ml2mc explain MC2") == expected


def test_tool_diagnostics_complete_after_explain() -> None:
    assert _bash_complete("ml2mc explain MC00") == ["MC001", "MC002"]


def test_select_completes_groups_and_codes() -> None:
    offered = _bash_complete("ml2mc check --select MC1")
    assert offered[0] == "MC1"
    assert "MC101" in offered and "MC108" in offered
    assert all(code.startswith("MC1") for code in offered)


def test_ignore_completes_the_last_item_of_a_list() -> None:
    offered = _bash_complete("ml2mc migrate --ignore MC201,MC10")
    assert "MC201,MC106" in offered
    assert all(item.startswith("MC201,MC10") for item in offered)


def test_zsh_completion_carries_rule_names() -> None:
    completed = _ml2mc(
        env={"_ML2MC_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ml2mc explain MC20"}
    )
    assert completed.returncode == 0, completed.stderr
    assert '"MC201":"softmax-before-cross-entropy"' in completed.stdout


def _in_shell(shell: str, script: str) -> str:
    """Run `script` in a real `shell` with this environment's `ml2mc` first on PATH."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    beside = str(Path(sys.executable).parent)
    if shutil.which("ml2mc", path=beside) is None:
        pytest.skip("the ml2mc console script is not installed beside this interpreter")
    completed = subprocess.run(
        [shell, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{beside}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_bash_completes_rule_codes_with_the_script_it_was_given() -> None:
    script = (
        "source <(ml2mc --show-completion bash); COMP_WORDS=(ml2mc explain MC20); "
        'COMP_CWORD=2; _ml2mc_completion ml2mc; echo "${COMPREPLY[@]}"'
    )
    expected = sorted(rule.code for rule in all_rules() if rule.code.startswith("MC20"))
    assert _in_shell("bash", script).split() == expected


def test_fish_completes_rule_codes_with_the_script_it_was_given() -> None:
    script = 'ml2mc --show-completion fish | source; complete -C "ml2mc check --select MC20"'
    lines = _in_shell("fish", script).splitlines()
    assert "MC201\tsoftmax-before-cross-entropy" in lines
    assert all(line.startswith("MC20") for line in lines), lines


def test_zsh_completes_rule_codes_with_the_script_it_was_given() -> None:
    # The script hands its candidates to zsh's `_arguments`; a stand-in prints them.
    script = (
        "autoload -U compinit; compinit -u -D; source <(ml2mc --show-completion zsh); "
        '_arguments() { print -l -- "$@"; }; words=(ml2mc explain MC20); CURRENT=3; '
        "_ml2mc_completion"
    )
    offered = _in_shell("zsh", script)
    assert '"MC201":"softmax-before-cross-entropy"' in offered
    assert '"MC101"' not in offered


def test_code_completions_offer_groups_only_where_prefixes_are_taken() -> None:
    assert ("MC2", "activation/loss bugs (the default of check)") in code_completions("MC")
    assert [code for code, _ in code_completions("mc20", prefixes=False)][:2] == [
        "MC201",
        "MC202",
    ]
    assert all(code.startswith("MC") and len(code) == 5 for code, _ in code_completions("", False))


# ---------------------------------------------------------------------------------------------
# Conflicting flags


@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["migrate", "--write", "--diff"], ["--write", "--diff"], id="write-diff"),
        pytest.param(["migrate", "--write", "--check"], ["--write", "--check"], id="write-check"),
        pytest.param(["migrate", "--force"], ["--force", "--write"], id="force-without-write"),
        pytest.param(
            ["migrate", "--strict", "--no-verify"],
            ["--strict", "--no-verify"],
            id="strict-no-verify",
        ),
        pytest.param(
            ["migrate", "--strict", "--check"], ["--strict", "--check"], id="strict-check"
        ),
        pytest.param(["check", "--fix", "--diff"], ["--fix", "--diff"], id="fix-diff"),
    ],
)
def test_conflicting_flags_are_usage_errors(
    project: Path, cli: Cli, args: list[str], named: list[str]
) -> None:
    path = _write(project, "model.py", UNSAFE_ONLY)
    result = cli(*args, "--unsafe-fixes", "model.py")
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert message.startswith("ml2mc: error: ")
    for flag in named:
        assert flag in message, (flag, message)
    assert " use " in message or "add " in message or "drop " in message, message
    assert result.stdout == ""
    assert path.read_text() == UNSAFE_ONLY


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["migrate", "--check", "--no-verify"], id="check-no-verify"),
        pytest.param(["migrate", "--diff", "--no-verify"], id="diff-no-verify"),
        pytest.param(["migrate", "--write", "--force", "--no-verify"], id="write-force"),
        pytest.param(["check", "--diff", "--unsafe-fixes"], id="check-diff-unsafe"),
        pytest.param(["check", "--fix", "--no-verify"], id="check-fix-no-verify"),
    ],
)
def test_compatible_flags_are_accepted(project: Path, cli: Cli, args: list[str]) -> None:
    _write(project, "model.py", UNSAFE_ONLY)
    result = cli(*args, "model.py")
    assert result.exit_code in (0, 1), result.output
    assert "cannot be combined" not in result.stderr


# ---------------------------------------------------------------------------------------------
# Closing hints: each shown where it is true and absent where it is not

WRITE_HINT = "Next: `ml2mc migrate --write` to apply"


def test_write_hint_after_a_dry_run_that_would_change_files(project: Path, cli: Cli) -> None:
    _write(project, "model.py", UNSAFE_ONLY)
    result = cli("migrate", "--no-verify", "model.py")
    assert WRITE_HINT in result.stdout


@pytest.mark.parametrize(
    "source", [ONE_HOT_ONLY, UNPARSABLE, REFUSED_MODEL], ids=["MC106", "MC001", "refused"]
)
def test_no_write_hint_when_nothing_can_be_applied(project: Path, cli: Cli, source: str) -> None:
    _write(project, "model.py", source)
    result = cli("migrate", "--no-verify", "model.py")
    assert result.stdout.startswith("1 file(s) scanned; ")
    assert "--write" not in result.stdout
    assert "--unsafe-fixes" not in result.stdout


def test_a_failed_verification_turns_the_write_hint_into_force(
    project: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import migrate.pipeline
    from migrate.verify import VerifyResult

    def failing(result: migrate.pipeline.RunResult, options: object) -> None:
        result.verification.append(
            VerifyResult("model.py:step", "function", "fail", None, None, None, 1, 0.0, "differs")
        )

    monkeypatch.setattr(migrate.pipeline, "_verify", failing)
    _write(project, "model.py", UNSAFE_ONLY)
    result = cli("migrate", "model.py")
    assert WRITE_HINT not in result.stdout
    assert "`ml2mc migrate --write` writes nothing while a verification check fails" in (
        result.stdout
    )
    assert "`--force`" in result.stdout


def test_check_suggests_unsafe_fixes_only_for_unsafe_fixes(project: Path, cli: Cli) -> None:
    _write(project, "unsafe.py", UNSAFE_ONLY)
    _write(project, "safe.py", SAFE_ONLY)
    unsafe = cli("check", "unsafe.py")
    assert "Next: `ml2mc check --fix --unsafe-fixes` to apply fixes" in unsafe.stdout
    safe = cli("check", "safe.py")
    assert "Next: `ml2mc check --fix` to apply fixes" in safe.stdout
    assert "--unsafe-fixes" not in safe.stdout


def test_check_fix_counts_the_hidden_unsafe_fixes(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    _write(project, "b.py", UNSAFE_ONLY)
    result = cli("check", "--fix", "--no-verify", ".")
    assert "Next: 2 hidden fixes can be enabled with `--unsafe-fixes`" in result.stdout


def test_check_fix_with_only_safe_fixes_hides_nothing(project: Path, cli: Cli) -> None:
    _write(project, "safe.py", SAFE_ONLY)
    result = cli("check", "--fix", "--no-verify", "safe.py")
    assert result.exit_code == 0, result.output
    assert "--unsafe-fixes" not in result.output
    assert "hidden fix" not in result.output


def test_check_fix_unsafe_fixes_hides_nothing(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    result = cli("check", "--fix", "--unsafe-fixes", "--no-verify", "a.py")
    assert result.exit_code == 0, result.output
    assert "hidden fix" not in result.output


def test_check_diff_says_what_it_hides_when_it_prints_nothing_else(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    result = cli("check", "--diff", "a.py")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "1 hidden fix can be enabled with `--unsafe-fixes`" in result.stderr


def test_check_diff_with_unsafe_fixes_hides_nothing(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    _write(project, "safe.py", SAFE_ONLY)
    result = cli("check", "--diff", "--unsafe-fixes", ".")
    assert "+++ b/a.py" in result.stdout and "+++ b/safe.py" in result.stdout
    assert "hidden fix" not in result.stderr


def test_check_diff_of_safe_fixes_counts_only_the_unsafe_ones(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    _write(project, "safe.py", SAFE_ONLY)
    result = cli("check", "--diff", ".")
    assert "+++ b/safe.py" in result.stdout and "+++ b/a.py" not in result.stdout
    assert "1 hidden fix can be enabled with `--unsafe-fixes`" in result.stderr


def test_migrate_suggests_unsafe_fixes_when_they_lift_the_refusal(
    tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decisions compared with targets read from a dataset: only `--unsafe-fixes` rewrites them.
    root = tmp_path / "lightning"
    shutil.copytree(LIGHTNING, root)
    monkeypatch.chdir(root)
    without = cli("migrate", "--no-verify")
    assert "hidden fixes can be enabled with `--unsafe-fixes`" in without.stdout
    diff = cli("migrate", "--no-verify", "--diff")
    assert "hidden fixes can be enabled with `--unsafe-fixes`" in diff.stderr
    with_flag = cli("migrate", "--no-verify", "--unsafe-fixes")
    assert "hidden fix" not in with_flag.stdout
    assert WRITE_HINT in with_flag.stdout


def test_migrate_does_not_suggest_unsafe_fixes_for_other_refusals(project: Path, cli: Cli) -> None:
    _write(project, "net.py", REFUSED_MODEL)
    for args in (["migrate", "--no-verify"], ["migrate", "--no-verify", "--write"]):
        result = cli(*args, "net.py")
        assert "--unsafe-fixes" not in result.output, args


# ---------------------------------------------------------------------------------------------
# The module form


def test_python_m_migrate_runs_the_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "Usage: ml2mc [OPTIONS] COMMAND [ARGS]..." in completed.stdout
    for name in COMMANDS:
        assert name in completed.stdout


def test_readme_says_why_the_module_form_is_python_m_migrate() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    usage = readme.split("## Usage", 1)[1].split("\n## ", 1)[0]
    assert "`python -m migrate` is the module form, not `python -m ml2mc`" in usage


def test_concise_check_fix_says_what_it_hides(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    hiding = cli("check", "--fix", "--no-verify", "--output-format", "concise", "a.py")
    assert hiding.stdout.startswith("a.py:5:28: MC201 ")
    assert "1 hidden fix can be enabled with `--unsafe-fixes`" in hiding.stderr
    plain_check = cli("check", "--output-format", "concise", "a.py")
    assert "hidden fix" not in plain_check.stderr


def test_stdin_filename_without_stdin_is_a_usage_error(project: Path, cli: Cli) -> None:
    _write(project, "a.py", UNSAFE_ONLY)
    result = cli("check", "--stdin-filename", "a.py", "a.py")
    assert result.exit_code == 2
    assert "--stdin-filename" in result.stderr and "`-`" in result.stderr
    with_stdin = cli("check", "-", "--stdin-filename", "a.py", stdin=UNSAFE_ONLY)
    assert with_stdin.exit_code == 1, with_stdin.output
