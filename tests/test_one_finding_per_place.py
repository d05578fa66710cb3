"""One finding per place: no rule reports a line that another rule's applied fix rewrote in
the same run (the finding would describe code that is no longer there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.engine import ModuleInput, analyze, check_project
from migrate.findings import FileOutcome
from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, run
from migrate.registry import all_rules, select_rules
from migrate.rule import Applicability, Invalid, Rule
from tests.conftest import CliInvoker

# The model's output passes through a sigmoid module: MC101 returns the logits, and MC104
# used to report the same call ("use softmax by hand") on the line MC101 had just rewritten.
SIGMOID_MODULE_HEAD = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        logits = self.fc(x)
        return self.sigmoid(logits)


def predict(model, x):
    logits = model.fc(x)
    return torch.sigmoid(logits)
"""


def _offsets(text: str, line: int, column: int) -> int:
    """The offset of a 1-based line and column (the spans' convention)."""
    lines = text.splitlines(keepends=True)
    return sum(len(previous) for previous in lines[: line - 1]) + column - 1


def _rewritten(outcome: FileOutcome) -> list[tuple[int, int, str]]:
    """The ranges of the original that an applied fix edited, with the code of its rule."""
    return [
        (edit.start, edit.end, finding.violation.code)
        for finding in outcome.findings
        if finding.fixed and finding.violation.fix is not None
        for edit in finding.violation.fix.edits
        if edit.path == outcome.path
    ]


def _touches(start: int, end: int, first: int, last: int) -> bool:
    if first == last:  # an insertion inside the place (or at its edges) changes it
        return start <= first <= end
    return first < end and start < last


def _contradictions(outcomes: list[FileOutcome], rules: list[Rule]) -> list[str]:
    """The findings still reported (not fixed) on a place that another rule's applied fix
    rewrote, unless the fixed code, analysed afresh, still has that very finding."""
    fixed_tree = check_project(
        {o.path: ModuleInput(o.fixed, Path(o.path).stem) for o in outcomes}, rules
    )
    found: list[str] = []
    for outcome in outcomes:
        still_there = {
            (f.violation.code, f.violation.message) for f in fixed_tree[outcome.path].findings
        }
        for finding in outcome.findings:
            violation = finding.violation
            if finding.fixed or (violation.code, violation.message) in still_there:
                continue
            span = violation.span
            start = _offsets(outcome.original, span.line, span.column)
            end = _offsets(outcome.original, span.end_line, span.end_column)
            others = {
                code
                for first, last, code in _rewritten(outcome)
                if code != violation.code and _touches(start, end, first, last)
            }
            if others:
                found.append(
                    f"{outcome.path}:{span.line}: {violation.code} ({violation.message}) on a "
                    f"place rewritten by {sorted(others)}"
                )
    return found


def _applied_fixes(outcomes: list[FileOutcome]) -> int:
    return sum(1 for outcome in outcomes for finding in outcome.findings if finding.fixed)


def test_sigmoid_module_head_is_one_finding_after_the_fix(project: Path) -> None:
    (project / "model.py").write_text(SIGMOID_MODULE_HEAD)
    options = RunOptions(paths=[project], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE)
    (report,) = run(options).files
    outcome = report.outcome
    by_line = {(f.violation.code, f.violation.span.line): f for f in outcome.findings}
    assert by_line[("MC101", 13)].fixed
    assert ("MC104", 13) not in by_line, [f.violation.message for f in outcome.findings]
    # A genuine MC104 on a line no fix rewrote is still reported, and fixed.
    assert by_line[("MC104", 18)].fixed
    assert "        return logits\n" in outcome.fixed
    assert "torch.softmax(logits, dim=1)" in outcome.fixed
    assert _contradictions([outcome], select_rules(None, default=MIGRATE_DEFAULT)) == []


def test_check_select_mc1_fix_says_nothing_stale(project: Path, cli: CliInvoker) -> None:
    (project / "model.py").write_text(SIGMOID_MODULE_HEAD)
    result = cli("check", "--select", "MC1", "--fix", "--unsafe-fixes", "--no-verify", ".")
    assert "use softmax by hand" not in result.stdout
    assert "refused" not in result.stdout
    assert "return logits" in (project / "model.py").read_text()


def _example_project(root: Path) -> None:
    """Every example of every rule, each in a folder of its own (so each is its own migration
    unit: one refused example does not keep the others from being fixed)."""
    for rule in all_rules():
        for number, example in enumerate(rule.examples):
            kind = "invalid" if isinstance(example, Invalid) else "valid"
            folder = root / f"{rule.code.lower()}_{kind}_{number}"
            folder.mkdir()
            (folder / f"{rule.code.lower()}_{kind}_{number}.py").write_text(example.source)


def test_every_rule_example_together_through_the_pipeline(project: Path) -> None:
    _example_project(project)
    options = RunOptions(
        paths=[project],
        select=["ALL"],
        fix=Applicability.UNSAFE,
        data_dependent_fixes=True,
    )
    outcomes = [report.outcome for report in run(options).files]
    # The run did apply fixes (otherwise there would be nothing to contradict).
    assert _applied_fixes(outcomes) >= 20
    contradictions = _contradictions(outcomes, select_rules(["ALL"]))
    assert not contradictions, "\n".join(contradictions)


def _modules(layout: str) -> dict[str, ModuleInput]:
    """The examples as a project: a file per example, a file per rule (its examples one after
    the other, so they meet in one module), or one module holding them all."""
    if layout == "file-per-example":
        return {
            f"{rule.code}_{number}.py": ModuleInput(example.source, f"{rule.code}_{number}")
            for rule in all_rules()
            for number, example in enumerate(rule.examples)
        }
    if layout == "file-per-rule":
        return {
            f"{rule.code}.py": ModuleInput(
                "\n".join(example.source for example in rule.examples), rule.code
            )
            for rule in all_rules()
        }
    everything = "\n".join(example.source for rule in all_rules() for example in rule.examples)
    return {"examples.py": ModuleInput(everything, "examples")}


@pytest.mark.parametrize("layout", ["file-per-example", "file-per-rule", "one-module"])
@pytest.mark.parametrize("applicability", [Applicability.SAFE, Applicability.UNSAFE])
def test_every_rule_example_together_in_the_engine(
    applicability: Applicability, layout: str
) -> None:
    """The same, without the migration gate (which may reset a unit and hide a pair)."""
    rules = select_rules(["ALL"])
    outcomes = check_project(_modules(layout), rules, applicability, data_dependent_fixes=True)
    assert _applied_fixes(list(outcomes.values())) >= 3
    contradictions = _contradictions(list(outcomes.values()), rules)
    assert not contradictions, "\n".join(contradictions)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            "from torch import nn\nact = nn.Sigmoid()\nprobs = act(outputs.logits)\n",
            "the sigmoid is an `nn.Sigmoid` module; use `torch.softmax(..., dim=1)` by hand",
        ),
        (
            "from torch import sigmoid\nprobs = sigmoid(outputs.logits)\n",
            "the sigmoid is called by a bare name; use softmax by hand",
        ),
    ],
    ids=["module", "bare-name"],
)
def test_mc104_says_why_it_has_no_fix(source: str, reason: str) -> None:
    """MC104's reason names what the sigmoid is (it called `self.sigmoid(...)` a bare name)."""
    (violation,) = analyze("probs.py", source, select_rules(["MC104"]))
    assert (violation.fix, violation.no_fix_reason) == (None, reason)
