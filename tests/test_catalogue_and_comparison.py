"""`ml2mc rules --output-format json|concise`, and the first line of `verify`: what it
compared (the ref, the changed files, the checks by kind), or that nothing relevant changed
(on results built by hand; `tests/test_verify_run.py` runs it on git repositories)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from migrate.config import Config
from migrate.output import report
from migrate.pipeline import Comparison, RunResult
from migrate.registry import all_rules
from migrate.verify import VerifyResult

Cli = Callable[..., Result]

# ---------------------------------------------------------------------------------------------
# rules


def _catalogue(cli: Cli) -> dict[str, dict[str, object]]:
    result = cli("rules", "--output-format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 1
    return {rule["code"]: rule for rule in data["rules"]}


def test_rules_json_lists_every_rule_with_its_fields(cli: Cli) -> None:
    rules = _catalogue(cli)
    assert list(rules) == [rule.code for rule in all_rules()]
    assert rules["MC201"] == {
        "code": "MC201",
        "name": "softmax-before-cross-entropy",
        "summary": next(rule.summary for rule in all_rules() if rule.code == "MC201"),
        "fix": "unsafe",
        "default": {"check": True, "migrate": True},
    }
    assert rules["MC205"]["fix"] == "safe"
    assert {rule["fix"] for rule in rules.values()} <= {"safe", "unsafe", "none"}


@pytest.mark.parametrize(
    ("code", "check", "migrate"),
    [
        pytest.param("MC101", False, True, id="migration rules: migrate only"),
        pytest.param("MC108", False, True, id="last migration rule"),
        pytest.param("MC202", True, True, id="bug rules: both"),
        pytest.param("MC206", False, False, id="opt-in: neither"),
    ],
)
def test_rules_json_default_matches_what_the_commands_run(
    cli: Cli, project: Path, code: str, check: bool, migrate: bool
) -> None:
    assert _catalogue(cli)[code]["default"] == {"check": check, "migrate": migrate}


def test_rules_json_default_is_the_selection_the_commands_use(cli: Cli, project: Path) -> None:
    """The flags agree with a real run: `check` reports MC206's pattern only when selected."""
    (project / "loss.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "def step(z, y):\n    return nn.BCELoss()(torch.sigmoid(z), y)\n"
    )
    assert _catalogue(cli)["MC206"]["default"]["check"] is False
    default_run = json.loads(cli("check", "--output-format", "json", "--no-cache").stdout)
    chosen = cli("check", "--select", "MC206", "--output-format", "json", "--no-cache")
    assert [f["code"] for f in default_run["findings"]] == []
    assert [f["code"] for f in json.loads(chosen.stdout)["findings"]] == ["MC206"]


def test_rules_concise_is_one_line_per_rule(cli: Cli) -> None:
    result = cli("rules", "--output-format", "concise")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [rule.code for rule in all_rules()]
    assert "(opt-in)" in next(line for line in lines if line.startswith("MC206"))


def test_rules_rejects_a_format_it_has_not(cli: Cli) -> None:
    result = cli("rules", "--output-format", "sarif")
    assert result.exit_code == 2


def test_rules_json_as_a_subprocess() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "migrate", "rules", "--output-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)["rules"]) == len(all_rules())


# ---------------------------------------------------------------------------------------------
# verify: the first line, on results built by hand


def _check(kind: str, status: str = "pass") -> VerifyResult:
    return VerifyResult("t", kind, status, None, None, None, 1, 0.0, None)


@pytest.mark.parametrize(
    ("changed", "kinds", "line"),
    [
        pytest.param(
            3,
            ["model", "model", "loss site"],
            "HEAD → working tree: 3 changed files, 2 models, 1 loss site",
            id="plural and singular",
        ),
        pytest.param(
            1,
            ["reader", "function"],
            "HEAD → working tree: 1 changed file, 1 reader, 1 other function",
            id="readers and functions",
        ),
        pytest.param(
            2,
            [],
            "HEAD → working tree: 2 changed files; no model, loss or reader changed since HEAD",
            id="nothing relevant",
        ),
        pytest.param(
            0,
            ["runtime"],
            "HEAD → working tree: 0 changed files, 1 --run command; "
            "no model, loss or reader changed since HEAD",
            id="only a --run command",
        ),
    ],
)
def test_verify_first_line(changed: int, kinds: list[str], line: str) -> None:
    result = RunResult(
        [], Config(), [_check(kind) for kind in kinds], comparison=Comparison("HEAD", changed)
    )
    text = report.plain_report(result, report.ReportStyle("rich", "verify", verifying=True))
    assert text.splitlines()[0].split("; verification: ")[0] == line
