"""The pure engine (source in, findings and fixed source out) and the flow interpreter."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator

import pytest

from migrate.analysis import names
from migrate.analysis.facts import ModuleFacts
from migrate.analysis.interpreter import (
    UNKNOWN,
    Criterion,
    Kind,
    LogProbs,
    Mixture,
    ModuleFlow,
    Probs,
)
from migrate.engine import (
    MAX_PASSES,
    ModuleInput,
    analyze,
    apply_edits,
    check_project,
    check_source,
)
from migrate.registry import rule_by_code
from migrate.rule import Applicability, Edit, Fix, Rule, Violation
from migrate.testing import calls_named

# ---------------------------------------------------------------------------------------------
# Helpers: tiny rules written for these tests


def _source(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


class UnwrapRule(Rule):
    """Reports every `wrap(x)` and fixes it to `x`: nested calls give overlapping fixes."""

    code = "MC990"
    name = "test-unwrap"
    summary = "wrap() is redundant"
    message = "redundant wrap"
    fix_title = "Remove wrap()"
    safety = Applicability.SAFE

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for call in calls_named(facts.tree, "wrap"):
            argument = facts.code(call.args[0])
            fix = Fix(self.fix_title, Applicability.SAFE, (facts.replace(call, argument),))
            yield self.violation(facts, call, self.message, fix)


class ReversedMarkerRule(Rule):
    """Reports every `mark()` call, in reverse source order."""

    code = "MC991"
    name = "test-marker"
    summary = "mark() found"
    message = "marker"

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for call in reversed(calls_named(facts.tree, "mark")):
            yield self.violation(facts, call, self.message)


class CrashingRule(Rule):
    code = "MC992"
    name = "test-crash"
    summary = "always crashes"
    message = "never shown"

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        raise ValueError("boom in a rule")


class BreakingFixRule(Rule):
    """Offers a fix that leaves invalid code behind."""

    code = "MC993"
    name = "test-breaking-fix"
    summary = "breaks the code"
    message = "breaks"
    safety = Applicability.SAFE

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for call in calls_named(facts.tree, "wrap"):
            fix = Fix("Break it", Applicability.SAFE, (facts.replace(call, "wrap(("),))
            yield self.violation(facts, call, self.message, fix)


class NeverDoneRule(Rule):
    """Its fix always leaves something to fix again: the passes must stop anyway."""

    code = "MC994"
    name = "test-never-done"
    summary = "never converges"
    message = "again"
    safety = Applicability.SAFE

    def check(self, facts: ModuleFacts) -> Iterator[Violation]:
        for call in calls_named(facts.tree, "wrap"):
            fix = Fix("Wrap again", Applicability.SAFE, (facts.insert_at(0, "x = 0\n"),))
            yield self.violation(facts, call, self.message, fix)


def _mc201() -> Rule:
    rule = rule_by_code("MC201")
    assert rule is not None
    return rule()


# The token prefilter skips files that name no activation or loss; the comment keeps these
# modules in play for the test rules.
TRIGGER = "# softmax\n"
SOFTMAX_CE = _source(
    """
    import torch.nn.functional as F
    loss = F.cross_entropy(F.softmax(z, 1), y)
    """
)

# ---------------------------------------------------------------------------------------------
# apply_edits


def test_apply_edits_replaces_ranges() -> None:
    assert apply_edits("abcdef", [Edit("m.py", 1, 3, "XY")]) == "aXYdef"


def test_apply_edits_in_any_order() -> None:
    edits = [Edit("m.py", 4, 5, "E"), Edit("m.py", 0, 1, "A"), Edit("m.py", 2, 3, "C")]
    assert apply_edits("abcdef", edits) == "AbCdEf"


def test_apply_edits_insert_and_delete() -> None:
    assert (
        apply_edits(
            "abc", [Edit("m.py", 0, 0, ">"), Edit("m.py", 3, 3, "<"), Edit("m.py", 1, 2, "")]
        )
        == ">ac<"
    )


def test_apply_no_edits_is_identity() -> None:
    assert apply_edits("x = 1\r\n", []) == "x = 1\r\n"


# ---------------------------------------------------------------------------------------------
# Passes, ordering, errors, suppression


def test_overlapping_fixes_are_deferred_to_next_pass() -> None:
    source = TRIGGER + "value = wrap(wrap(wrap(a)))\n"
    found = analyze("m.py", source, [UnwrapRule()])
    assert len(found) == 3
    outcome = check_source("m.py", source, [UnwrapRule()], fix=Applicability.SAFE)
    assert outcome.fixed == TRIGGER + "value = a\n"
    assert outcome.remaining == []
    assert any(finding.fixed for finding in outcome.findings)


def test_deferred_fixes_are_reported_as_fixed() -> None:
    source = TRIGGER + "value = wrap(wrap(a))\n"
    outcome = check_source("m.py", source, [UnwrapRule()], fix=Applicability.SAFE)
    assert outcome.fixed == TRIGGER + "value = a\n"
    assert all(finding.fixed for finding in outcome.findings), outcome.findings


def test_disjoint_fixes_apply_in_one_pass() -> None:
    source = TRIGGER + "a = wrap(x)\nb = wrap(y)\n"
    outcome = check_source("m.py", source, [UnwrapRule()], fix=Applicability.SAFE)
    assert outcome.fixed == TRIGGER + "a = x\nb = y\n"
    assert [finding.fixed for finding in outcome.findings] == [True, True]


def test_violations_sorted_by_position() -> None:
    source = TRIGGER + "mark()\nx = 1; mark(); mark()\nmark()\n"
    found = analyze("m.py", source, [ReversedMarkerRule()])
    positions = [(v.span.line, v.span.column) for v in found]
    assert positions == [(2, 1), (3, 8), (3, 16), (4, 1)]


def test_violations_of_several_rules_interleave_by_position() -> None:
    source = SOFTMAX_CE + "mark()\n"
    found = analyze("m.py", "mark()\n" + source, [ReversedMarkerRule(), _mc201()])
    assert [v.code for v in found] == ["MC991", "MC201", "MC991"]


def test_crashing_rule_gives_mc002_and_keeps_other_findings() -> None:
    found = analyze("m.py", SOFTMAX_CE, [CrashingRule(), _mc201()])
    codes = [v.code for v in found]
    assert sorted(codes) == ["MC002", "MC201"]
    internal = next(v for v in found if v.code == "MC002")
    assert "MC992" in internal.message
    assert "ValueError" in internal.message
    assert "boom in a rule" in internal.message


def test_crashing_rule_does_not_stop_fixes() -> None:
    outcome = check_source("m.py", SOFTMAX_CE, [CrashingRule(), _mc201()], Applicability.UNSAFE)
    assert "F.cross_entropy(z, y)" in outcome.fixed
    assert [v.code for v in outcome.remaining] == ["MC002"]


def test_syntax_error_is_mc001() -> None:
    found = analyze("m.py", "import torch\ndef f(:\n    torch.softmax(x)\n", [_mc201()])
    assert [v.code for v in found] == ["MC001"]
    assert "parse" in found[0].message


def test_fix_that_breaks_syntax_is_not_applied() -> None:
    source = TRIGGER + "value = wrap(a)\n"
    outcome = check_source("m.py", source, [BreakingFixRule()], fix=Applicability.SAFE)
    assert outcome.fixed == source
    assert "MC002" in [v.code for v in outcome.remaining]


def test_fix_passes_are_bounded() -> None:
    source = TRIGGER + "value = wrap(a)\n"
    outcome = check_source("m.py", source, [NeverDoneRule()], fix=Applicability.SAFE)
    assert outcome.fixed.count("x = 0\n") == MAX_PASSES


def test_safe_fix_level_skips_unsafe_fixes() -> None:
    outcome = check_source("m.py", SOFTMAX_CE, [_mc201()], fix=Applicability.SAFE)
    assert outcome.fixed == SOFTMAX_CE
    assert not outcome.changed
    assert [v.code for v in outcome.remaining] == ["MC201"]
    assert not any(finding.fixed for finding in outcome.findings)


def test_no_fix_level_reports_only() -> None:
    outcome = check_source("m.py", SOFTMAX_CE, [_mc201()])
    assert outcome.fixed == SOFTMAX_CE
    assert [finding.violation.code for finding in outcome.findings] == ["MC201"]


def test_unsafe_fix_level_fixes_and_second_run_is_noop() -> None:
    outcome = check_source("m.py", SOFTMAX_CE, [_mc201()], fix=Applicability.UNSAFE)
    assert outcome.fixed == SOFTMAX_CE.replace("F.softmax(z, 1)", "z")
    assert outcome.remaining == []
    again = check_source("m.py", outcome.fixed, [_mc201()], fix=Applicability.UNSAFE)
    assert not again.changed
    assert again.findings == []


def test_fixes_in_two_files_apply_in_one_pass() -> None:
    modules = {"a.py": ModuleInput(SOFTMAX_CE, "a"), "b.py": ModuleInput(SOFTMAX_CE, "b")}
    outcomes = check_project(modules, [_mc201()], Applicability.UNSAFE)
    fixed = SOFTMAX_CE.replace("F.softmax(z, 1)", "z")
    assert [outcomes[path].fixed for path in ("a.py", "b.py")] == [fixed, fixed]


def test_fixes_in_many_files_all_apply() -> None:
    paths = [f"m{index:02}.py" for index in range(MAX_PASSES + 5)]
    modules = {path: ModuleInput(SOFTMAX_CE, path[:-3]) for path in paths}
    outcomes = check_project(modules, [_mc201()], Applicability.UNSAFE)
    unfixed = [path for path in paths if outcomes[path].remaining]
    assert unfixed == []
    assert all(finding.fixed for path in paths for finding in outcomes[path].findings)


@pytest.mark.parametrize(
    "loss_input",
    [
        pytest.param("F.softmax(z, 1) + 1e-8", id="plus-eps"),
        pytest.param("F.softmax(z, 1).clamp(min=1e-6)", id="clamp"),
    ],
)
def test_shifted_softmax_into_cross_entropy_is_reported_without_fix(loss_input: str) -> None:
    source = SOFTMAX_CE.replace("F.softmax(z, 1)", loss_input)
    outcome = check_source("m.py", source, [_mc201()], fix=Applicability.UNSAFE)
    assert [finding.violation.code for finding in outcome.findings] == ["MC201"]
    assert outcome.findings[0].violation.fix is None
    assert not outcome.changed


def test_no_rules_no_findings() -> None:
    assert analyze("m.py", SOFTMAX_CE, []) == []


def test_file_without_trigger_words_is_not_parsed() -> None:
    # The prefilter runs before the parser: invalid code without any trigger word is skipped.
    assert analyze("m.py", "def f(:\n", [_mc201()]) == []


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        pytest.param("  # noqa", True, id="bare-noqa"),
        pytest.param("  # noqa: MC201", True, id="own-code"),
        pytest.param("  # noqa:MC201", True, id="no-space"),
        pytest.param("  # NOQA: mc201", True, id="case-insensitive"),
        pytest.param("  # noqa: E501, MC201", True, id="in-a-list"),
        pytest.param("  # noqa: MC999", False, id="other-code"),
        pytest.param("  # noqa: MC2011", False, id="longer-code"),
        pytest.param("  # a comment", False, id="plain-comment"),
    ],
)
def test_line_noqa(comment: str, suppressed: bool) -> None:
    source = SOFTMAX_CE.replace("y)\n", "y)" + comment + "\n")
    codes = [v.code for v in analyze("m.py", source, [_mc201()])]
    assert codes == ([] if suppressed else ["MC201"])


def test_noqa_on_another_line_does_not_suppress() -> None:
    source = "# noqa: MC201\n" + SOFTMAX_CE
    assert [v.code for v in analyze("m.py", source, [_mc201()])] == ["MC201"]


def test_file_noqa_suppresses_everything() -> None:
    source = "# ml2mc: noqa\n" + SOFTMAX_CE + "mark()\n"
    assert analyze("m.py", source, [_mc201(), ReversedMarkerRule()]) == []


def test_suppressed_finding_is_not_fixed() -> None:
    source = SOFTMAX_CE.replace("y)\n", "y)  # noqa: MC201\n")
    outcome = check_source("m.py", source, [_mc201()], fix=Applicability.UNSAFE)
    assert not outcome.changed


def test_crlf_source_keeps_crlf() -> None:
    source = SOFTMAX_CE.replace("\n", "\r\n")
    outcome = check_source("m.py", source, [_mc201()], fix=Applicability.UNSAFE)
    assert outcome.fixed == SOFTMAX_CE.replace("F.softmax(z, 1)", "z").replace("\n", "\r\n")


# ---------------------------------------------------------------------------------------------
# The flow interpreter


def _flow(code: str) -> ModuleFlow:
    flow = ModuleFacts("example.py", _source(code)).flow
    # Interpretation may be lazy (the project index asks for summaries on demand).
    interpret = getattr(flow, "interpret", None)
    if callable(interpret):
        interpret()
    return flow


def _module_kind(code: str, name: str) -> Kind:
    binding = _flow(code).module_env.get(name)
    return UNKNOWN if binding is None else binding.kind


def _loss_input_kinds(code: str) -> list[Kind]:
    return [use.input_kind for use in _flow(code).loss_uses]


HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
"""


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("torch.softmax(z, dim=1)", id="torch-softmax"),
        pytest.param("F.softmax(z, 1)", id="functional"),
        pytest.param("z.softmax(dim=-1)", id="method"),
        pytest.param("nn.Softmax(dim=1)(z)", id="module-call"),
    ],
)
def test_softmax_call_gives_probs(expression: str) -> None:
    kind = _module_kind(HEADER + f"p = {expression}\n", "p")
    assert isinstance(kind, Probs)
    assert kind.activation.op == names.SOFTMAX
    assert kind.exact


def test_sigmoid_call_gives_sigmoid_probs() -> None:
    kind = _module_kind(HEADER + "p = torch.sigmoid(z)\n", "p")
    assert isinstance(kind, Probs)
    assert kind.activation.op == names.SIGMOID


def test_log_softmax_gives_stable_log_probs() -> None:
    kind = _module_kind(HEADER + "lp = F.log_softmax(z, dim=1)\n", "lp")
    assert isinstance(kind, LogProbs)
    assert not kind.unstable


def test_log_of_softmax_gives_unstable_log_probs() -> None:
    kind = _module_kind(HEADER + "lp = torch.log(F.softmax(z, dim=1))\n", "lp")
    assert isinstance(kind, LogProbs)
    assert kind.unstable


def test_sequential_ending_in_softmax_applied_gives_probs() -> None:
    code = HEADER + "head = nn.Sequential(nn.Linear(8, 3), nn.Softmax(dim=1))\np = head(x)\n"
    kind = _module_kind(code, "p")
    assert isinstance(kind, Probs)
    assert kind.activation.op == names.SOFTMAX
    assert kind.activation.sequential is not None
    assert kind.activation.element_index == 1


def test_sequential_with_softmax_in_the_middle_is_unknown() -> None:
    code = HEADER + "head = nn.Sequential(nn.Softmax(dim=1), nn.Linear(3, 3))\np = head(x)\n"
    assert _module_kind(code, "p") is UNKNOWN


def test_probs_plus_epsilon_are_inexact_probs() -> None:
    code = HEADER + "p = torch.softmax(z, dim=1)\nq = p + 1e-8\n"
    kind = _module_kind(code, "q")
    assert isinstance(kind, Probs)
    assert not kind.exact


def test_clamped_probs_are_inexact_probs() -> None:
    kind = _module_kind(HEADER + "q = torch.softmax(z, dim=1).clamp(min=1e-6)\n", "q")
    assert isinstance(kind, Probs)
    assert not kind.exact


def test_passthrough_method_keeps_probs() -> None:
    kind = _module_kind(HEADER + "q = torch.softmax(z, dim=1).float()\n", "q")
    assert isinstance(kind, Probs)
    assert kind.exact


def test_softmax_matmul_gives_mixture() -> None:
    kind = _module_kind(HEADER + "m = torch.softmax(s, dim=-1) @ v\n", "m")
    assert isinstance(kind, Mixture)
    assert kind.activation.op == names.SOFTMAX


def test_tuple_unpacking_keeps_element_kind() -> None:
    code = HEADER + "pair = (z, torch.softmax(z, dim=1))\nlogits, probs = pair\n"
    flow = _flow(code)
    assert flow.module_env["logits"].kind is UNKNOWN
    assert isinstance(flow.module_env["probs"].kind, Probs)


def test_tuple_returned_by_function_unpacks() -> None:
    code = HEADER + (
        "def predict(z):\n"
        "    return z, F.softmax(z, dim=1)\n"
        "logits, probs = predict(z)\n"
        "second = predict(z)[1]\n"
        "last = predict(z)[-1]\n"
    )
    flow = _flow(code)
    assert flow.module_env["logits"].kind is UNKNOWN
    for name in ("probs", "second", "last"):
        assert isinstance(flow.module_env[name].kind, Probs), name


def test_starred_unpacking_is_unknown() -> None:
    code = HEADER + "first, *rest = (z, torch.softmax(z, dim=1))\n"
    assert _flow(code).module_env["first"].kind is UNKNOWN


def test_dict_subscript_keeps_value_kind() -> None:
    code = HEADER + (
        'out = {"logits": z, "probs": torch.softmax(z, dim=1)}\n'
        'p = out["probs"]\n'
        'l = out["logits"]\n'
        'm = out["missing"]\n'
    )
    flow = _flow(code)
    assert isinstance(flow.module_env["p"].kind, Probs)
    assert flow.module_env["l"].kind is UNKNOWN
    assert flow.module_env["m"].kind is UNKNOWN


def test_branch_applying_softmax_on_one_side_joins_to_unknown() -> None:
    code = HEADER + (
        "def step(z, y, flag):\n"
        "    if flag:\n"
        "        p = F.softmax(z, dim=1)\n"
        "    else:\n"
        "        p = z\n"
        "    return F.cross_entropy(p, y)\n"
    )
    assert _loss_input_kinds(code) == [UNKNOWN]


def test_if_without_else_joins_to_unknown() -> None:
    code = HEADER + (
        "def step(z, y, flag):\n"
        "    p = z\n"
        "    if flag:\n"
        "        p = F.softmax(z, dim=1)\n"
        "    return F.cross_entropy(p, y)\n"
    )
    assert _loss_input_kinds(code) == [UNKNOWN]


def test_reassigned_away_softmax_is_forgotten() -> None:
    code = HEADER + (
        "def step(z, y):\n"
        "    p = F.softmax(z, dim=1)\n"
        "    p = z\n"
        "    return F.cross_entropy(p, y)\n"
    )
    assert _loss_input_kinds(code) == [UNKNOWN]


def test_same_softmax_on_both_branches_survives() -> None:
    code = HEADER + (
        "def step(z, y, flag):\n"
        "    p = F.softmax(z, dim=1)\n"
        "    if flag:\n"
        "        print(p)\n"
        "    return F.cross_entropy(p, y)\n"
    )
    kinds = _loss_input_kinds(code)
    assert len(kinds) == 1
    assert isinstance(kinds[0], Probs)


def test_self_attribute_set_in_init_is_used_in_forward() -> None:
    code = HEADER + (
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n"
        "        self.act = nn.Sigmoid()\n"
        "    def forward(self, x):\n"
        "        return self.act(self.fc(x))\n"
        "model = Net()\n"
        "out = model(x)\n"
    )
    kind = _module_kind(code, "out")
    assert isinstance(kind, Probs)
    assert kind.activation.op == names.SIGMOID
    assert kind.activation.function == "Net.forward"


def test_self_criterion_records_loss_use() -> None:
    code = HEADER + (
        "class Lit(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.criterion = nn.CrossEntropyLoss()\n"
        "    def training_step(self, batch):\n"
        "        x, y = batch\n"
        "        return self.criterion(torch.softmax(self(x), dim=1), y)\n"
    )
    uses = _flow(code).loss_uses
    assert len(uses) == 1
    assert uses[0].loss == names.CROSS_ENTROPY
    assert isinstance(uses[0].input_kind, Probs)


def test_torch_cross_entropy_is_a_criterion() -> None:
    code = HEADER + "criterion = nn.CrossEntropyLoss()\n"
    kind = _module_kind(code, "criterion")
    assert isinstance(kind, Criterion)
    assert kind.loss == names.CROSS_ENTROPY


def test_local_class_named_cross_entropy_loss_is_not_torch() -> None:
    code = HEADER + (
        "from torch.nn import CrossEntropyLoss\n"
        "class CrossEntropyLoss:\n"
        "    def __call__(self, probs, y):\n"
        "        return -(probs.log() * y).sum()\n"
        "criterion = CrossEntropyLoss()\n"
        "loss = criterion(torch.softmax(z, dim=1), y)\n"
    )
    flow = _flow(code)
    assert not isinstance(flow.module_env["criterion"].kind, Criterion)
    assert flow.loss_uses == []
    assert not [v for v in analyze("m.py", _source(code), [_mc201()]) if v.code == "MC201"]


def test_qualified_torch_loss_beside_local_class_is_still_torch() -> None:
    code = HEADER + (
        "class CrossEntropyLoss:\n"
        "    pass\n"
        "loss = nn.CrossEntropyLoss()(torch.softmax(z, dim=1), y)\n"
    )
    kinds = _loss_input_kinds(code)
    assert len(kinds) == 1
    assert isinstance(kinds[0], Probs)


def test_softmax_on_target_is_not_the_loss_input() -> None:
    code = HEADER + "loss = F.cross_entropy(z, F.softmax(t, dim=1))\n"
    assert _loss_input_kinds(code) == [UNKNOWN]


def test_bound_loss_function() -> None:
    code = HEADER + "loss_func = F.cross_entropy\nloss = loss_func(F.softmax(z, dim=1), y)\n"
    kinds = _loss_input_kinds(code)
    assert len(kinds) == 1
    assert isinstance(kinds[0], Probs)


def test_a_sequential_built_by_a_factory_in_another_file_is_reported_where_it_is_written() -> None:
    """The Sigmoid of a `nn.Sequential` returned by `build_model()` in model.py reaches a
    cross-entropy in train.py: the finding is at the Sigmoid, in model.py, and no rule crashes
    looking for that node in train.py (it did: MC002 KeyError)."""
    model = (
        "import torch.nn as nn\n"
        "def build_model(d, c):\n"
        "    return nn.Sequential(\n"
        "        nn.Linear(d, c),\n"
        "        nn.Sigmoid(),\n"
        "    )\n"
    )
    train = (
        "import torch.nn as nn\n"
        "from model import build_model\n"
        "model = build_model(4, 3)\n"
        "loss = nn.CrossEntropyLoss()(model(x), y)\n"
    )
    rule = rule_by_code("MC204")
    assert rule is not None
    outcomes = check_project(
        {"model.py": ModuleInput(model, "model"), "train.py": ModuleInput(train, "train")},
        [rule()],
    )
    found = {
        path: [(f.violation.code, f.violation.span.line) for f in outcome.findings]
        for path, outcome in outcomes.items()
    }
    assert found == {"model.py": [("MC204", 5)], "train.py": []}
