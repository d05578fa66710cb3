"""Documentation and integration files stay true: docs/rules.md is regenerated from the rules,
`explain` shows the same pages, and every `ml2mc` command in the README, the CI example and the
pre-commit hooks parses with the real CLI."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import Result

from migrate.cli import app
from migrate.output import docs
from migrate.registry import all_rules
from migrate.rule import Rule

# pyyaml is a test dependency on every Python version: a missing one fails, never skips the
# module (imported by name: it ships no type stubs).
yaml = importlib.import_module("yaml")

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parent.parent
RULES = all_rules()
RULE_IDS = [rule.code for rule in RULES]
BUGGY = "import torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(z, 1), y)\n"


# ---------------------------------------------------------------------------------------------
# docs/rules.md


def test_rules_markdown_is_up_to_date() -> None:
    checked_in = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert checked_in == docs.rules_markdown(), (
        "docs/rules.md is stale: run `python -m migrate.output.docs` and commit the result"
    )


def test_generator_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "rules.md"
    assert docs.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == docs.rules_markdown()


def test_catalogue_links_resolve_to_headings() -> None:
    text = docs.rules_markdown()
    headings = {docs.anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) == len(RULES) + len(docs.TOOL_DIAGNOSTICS)
    assert [link for link in links if link not in headings] == []


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_page_is_in_rules_markdown(rule: type[Rule]) -> None:
    page = docs.rule_page(rule)
    assert docs.demote_headings(page) in docs.rules_markdown()
    assert page.startswith(f"# {rule.code} {rule.name}\n")
    for example in rule.examples:
        assert f"`{example.id}`" in page, f"example {example.id} is documented"


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_explain_prints_the_rule_page(rule: type[Rule], cli: Cli) -> None:
    result = cli("explain", rule.code)
    assert result.exit_code == 0
    assert result.stdout == docs.rule_page(rule)


def test_explain_tool_diagnostic(cli: Cli) -> None:
    result = cli("explain", "MC001")
    assert result.exit_code == 0
    assert result.stdout.startswith("# MC001 unreadable-file")


def test_explain_renders_markdown_with_rich(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal the page is rendered (headings styled, no `#` markers left)."""
    from rich.console import Console

    from migrate.output import report

    monkeypatch.setattr(
        report,
        "stdout_console",
        lambda: Console(force_terminal=True, width=100, color_system=None, highlight=False),
    )
    report.print_explain(RULES[0])
    rendered = capsys.readouterr().out
    assert "What it does" in rendered
    assert "## What it does" not in rendered


def test_demote_headings_skips_code_blocks() -> None:
    text = "# Title\n\n```python\n# a comment\n```\n\n## Section\n~~~\n# kept\n~~~\n"
    assert docs.demote_headings(text) == (
        "## Title\n\n```python\n# a comment\n```\n\n### Section\n~~~\n# kept\n~~~\n"
    )


def test_code_block_fence_outgrows_backticks_in_the_code() -> None:
    block = docs._code_block('x = """```"""\n')
    assert block.startswith("````python\n") and block.endswith("````\n")


# ---------------------------------------------------------------------------------------------
# Every documented `ml2mc ...` command parses


def _command_parses(words: list[str]) -> None:
    """Parse `ml2mc WORDS` with the real CLI without running it (a usage error raises)."""
    group: Any = typer.main.get_command(app)
    index = next((i for i, word in enumerate(words) if not word.startswith("-")), None)
    try:
        if index is None:
            group.make_context("ml2mc", list(words))
            return
        parent = group.make_context("ml2mc", words[: index + 1])
        command = group.get_command(parent, words[index])
        assert command is not None, f"no command {words[index]!r}"
        command.make_context(words[index], words[index + 1 :], parent=parent)
    except Exception as error:  # --version / --help end the parse early, with exit code 0
        if type(error).__name__ == "Exit" and getattr(error, "exit_code", 1) == 0:
            return
        raise


def _ml2mc_invocations(shell: str) -> Iterator[list[str]]:
    """The argument lists of the `ml2mc` commands in a shell snippet."""
    for line in shell.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if "ml2mc " not in line:
            continue
        line = re.sub(r"\$\{\{[^}]*\}\}", "REF", line)
        words = shlex.split(line)
        for index, word in enumerate(words):
            if word == "ml2mc" and (index == 0 or words[index - 1] in ("&&", "||", ";", "|")):
                command: list[str] = []
                for argument in words[index + 1 :]:
                    if argument in ("&&", "||", ";", "|", ">", ">>", "<") or argument[0] in "><":
                        break
                    command.append(argument)
                yield command


def _readme_commands() -> list[list[str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", readme, flags=re.DOTALL)
    return [cmd for block in blocks for cmd in _ml2mc_invocations(block.replace("$ ", ""))]


def _workflow() -> dict[Any, Any]:
    return dict(yaml.safe_load((ROOT / "docs" / "ci-workflow.yml").read_text()))


def _workflow_commands() -> list[list[str]]:
    steps = _workflow()["jobs"]["ml2mc"]["steps"]
    return [cmd for step in steps for cmd in _ml2mc_invocations(step.get("run", ""))]


def _hooks() -> list[dict[str, Any]]:
    return list(yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()))


def test_readme_commands_parse() -> None:
    commands = _readme_commands()
    assert len(commands) >= 10
    for words in commands:
        _command_parses(words)


def test_unknown_option_is_caught_by_the_parse_check() -> None:
    with pytest.raises(Exception, match="No such option"):
        _command_parses(["check", "--no-such-option"])


def test_ci_workflow_checks_then_verifies_against_the_base_branch() -> None:
    workflow = _workflow()
    # YAML 1.1 reads the `on` key as True.
    triggers = workflow["on"] if "on" in workflow else workflow[True]
    assert "pull_request" in triggers
    commands = _workflow_commands()
    assert [words[0] for words in commands] == ["check", "verify"]
    assert "--against" in commands[1]
    for words in commands:
        _command_parses(words)
    checkout = _workflow()["jobs"]["ml2mc"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0, "verify --against needs the base branch"


def test_pre_commit_hooks_are_documented_and_parse() -> None:
    hooks = _hooks()
    assert [hook["id"] for hook in hooks] == ["ml2mc-check", "ml2mc-migrate-check"]
    documentation = (ROOT / "docs" / "pre-commit.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["id"] in documentation and hook["id"] in readme
        words = shlex.split(hook["entry"])
        assert words[0] == "ml2mc"
        _command_parses(words[1:])
    assert "--check" in shlex.split(hooks[1]["entry"])


@pytest.mark.parametrize("hook_index", [0, 1], ids=["check", "migrate-check"])
def test_pre_commit_hook_fails_on_a_finding_and_passes_when_clean(
    hook_index: int, project: Path, cli: Cli
) -> None:
    hook = _hooks()[hook_index]
    words = shlex.split(hook["entry"])[1:]
    (project / "train.py").write_text(BUGGY)
    assert cli(*words).exit_code == 1
    (project / "train.py").write_text(BUGGY.replace("F.softmax(z, 1)", "z"))
    result = cli(*words)
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------------------------------------
# README, version, completion


def test_readme_keeps_two_commands_first_and_has_the_new_sections() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", readme, flags=re.MULTILINE)
    assert sections.index("Two commands") < sections.index("Quick start")
    for title in ("Quick start", "Workflows", "Output formats", "pre-commit", "FAQ: safety"):
        assert title in sections, title


def test_version_option(cli: Cli) -> None:
    from migrate import __version__

    result = cli("--version")
    assert (result.exit_code, result.stdout) == (0, f"ml2mc {__version__}\n")


def _console_script() -> list[str]:
    """The installed `ml2mc` script: on PATH, or beside this interpreter (a virtual environment
    that is not activated). Without one (the package is not installed), say so and run its
    entry point `migrate.cli:main` the way the script does, under the name `ml2mc`."""
    beside = str(Path(sys.executable).parent)
    script = shutil.which("ml2mc") or shutil.which("ml2mc", path=beside)
    if script is not None:
        return [script]
    warnings.warn(
        "the ml2mc console script is not installed (pip install -e .): running "
        "migrate.cli:main as the script would instead",
        stacklevel=2,
    )
    entry = "import sys; sys.argv[0] = 'ml2mc'; from migrate.cli import main; main()"
    return [sys.executable, "-c", entry]


def test_shell_completion_script() -> None:
    # Typer ignores the shell named after --show-completion and asks shellingham which shell
    # is the parent process, so without this switch the test depends on how it was started
    # (under nohup or a job runner there is no shell: "Shell  not supported").
    environment = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    completed = subprocess.run(
        [*_console_script(), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr
    assert "complete" in completed.stdout and "ml2mc" in completed.stdout


def test_no_text_offers_ml2mc_from_pypi() -> None:
    """ml2mc is not on PyPI: `pip install 'ml2mc[verify]'` (or any `ml2mc[...]` requirement)
    fails, so neither the documentation nor a message of the tool may suggest it."""
    texts = [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.*"),
        *(ROOT / "migrate").rglob("*.py"),
        *(ROOT / "rules").rglob("*.py"),
    ]
    offending = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in texts
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"\bml2mc\[", line)
    ]
    assert not offending, offending
