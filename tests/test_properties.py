"""Property-based tests of the pure engine on generated PyTorch-like programs.

A small grammar of snippets (model classes with Linear / Sequential / Sigmoid / Softmax heads,
SE gates, attention, training loops with assorted losses and activations, thresholds,
argmax decisions, `log(softmax)`, random names, comments, blank lines, tabs, CRLF) builds
programs that the rules care about, and every program must satisfy:

- analysis never raises, and reports no MC001/MC002 (the programs are valid Python);
- no finding => the output is the input, byte for byte;
- a changed output => some finding was fixed;
- the output always compiles, and reads no name that nothing binds unless the input did;
- fixing is idempotent: fixing the output again changes nothing;
- a CRLF file gets no bare LF from a fix.

The examples are derandomized (the same every run, so CI is stable). To explore more:
`ML2MC_PROPERTY_EXAMPLES=2000 ML2MC_PROPERTY_RANDOM=1 pytest tests/test_properties.py`.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import os
import re
import tempfile
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from migrate.engine import FileOutcome, ModuleInput, check_project, check_source
from migrate.registry import select_rules
from migrate.rule import Applicability

# Hypothesis keeps files of its own (constants seen in the source); not in the work tree.
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "ml2mc-hypothesis"))

RULES = select_rules(["MC1", "MC2"])
EXAMPLES = int(os.environ.get("ML2MC_PROPERTY_EXAMPLES", "30"))
RANDOM = os.environ.get("ML2MC_PROPERTY_RANDOM", "") not in ("", "0")
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# The grammar. A snippet is a template: `{name}` placeholders are filled with the program's
# identifiers, and `\t` at a line's start is one indentation unit.

_RESERVED = set(keyword.kwlist) | set(dir(__builtins__)) | {
    "torch", "nn", "F", "self", "super", "x", "y", "np", "math", "train", "loader", "opt",
    "build",
}  # fmt: skip
_BASES = [
    "out", "logits", "scores", "probs", "pred", "feat", "hidden", "z", "p", "q", "loss", "crit",
    "criterion", "net", "model", "clf", "head", "gate", "attn", "w", "val", "res", "tmp", "xb",
    "logit", "prob", "target", "h", "emb", "act",
]  # fmt: skip
identifiers = st.builds(
    lambda base, number: f"{base}{number or ''}", st.sampled_from(_BASES), st.integers(0, 20)
).filter(lambda n: n not in _RESERVED)
class_names = st.sampled_from(["Net", "Model", "Classifier", "TextCNN", "Head", "MLP", "Linear"])


IMPORTS = [
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n",
    "import torch\nfrom torch import nn\nfrom torch.nn import functional as F\n",
    "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    "from torch.nn import CrossEntropyLoss, BCEWithLogitsLoss, BCELoss, NLLLoss\n",
]

HEADS = [
    "nn.Sequential(nn.Linear({a}, {b}), nn.Sigmoid())",
    "nn.Sequential(nn.Linear({a}, {b}), nn.Softmax(dim=1))",
    "nn.Sequential(nn.Linear({a}, {b}), nn.Softmax())",
    "nn.Sequential(nn.Linear({a}, {b}), nn.LogSoftmax(dim=1))",
    "nn.Sequential(nn.Linear({a}, {a}), nn.ReLU(), nn.Linear({a}, {b}))",
    "nn.Linear({a}, {b})",
]

RETURNS = [
    "\t\treturn self.head({h})\n",
    "\t\treturn torch.sigmoid(self.head({h}))\n",
    "\t\treturn F.softmax(self.head({h}), dim=1)\n",
    "\t\treturn F.softmax(self.head({h}))\n",
    "\t\treturn self.head({h}).sigmoid()\n",
    "\t\treturn self.head({h}).softmax(dim=-1)\n",
    "\t\treturn F.log_softmax(self.head({h}), dim=1)\n",
    "\t\t{o} = self.head({h})\n\t\treturn {o}, torch.softmax({o}, dim=1)\n",
    "\t\t{o} = self.head({h})\n\t\treturn {{'logits': {o}, 'probs': torch.sigmoid({o})}}\n",
    "\t\t{o} = self.act(self.head({h}))\n\t\treturn {o}\n",
]

BODIES = [
    "\t\t{h} = self.body(x)\n",
    "\t\t{h} = torch.relu(self.body(x))\n",
    # SE gate: a sigmoid that is not an output
    "\t\t{h} = self.body(x)\n\t\t{g} = torch.sigmoid(self.gate({h}))\n\t\t{h} = {h} * {g}\n",
    # attention over positions: a softmax that is not an output
    "\t\t{h} = self.body(x)\n"
    "\t\t{g} = F.softmax({h} @ {h}.transpose(-2, -1) / 8.0, dim=-1)\n"
    "\t\t{h} = {g} @ {h}\n",
]

CRITERIA = [
    "nn.CrossEntropyLoss()",
    "nn.BCEWithLogitsLoss()",
    "nn.BCELoss()",
    "nn.NLLLoss()",
    "torch.nn.CrossEntropyLoss(label_smoothing=0.1)",
    "nn.BCEWithLogitsLoss(pos_weight=torch.ones({b}))",
]

LOSS_LINES = [
    "\t\t{l} = {c}({out}, y)\n",
    "\t\t{l} = {c}(F.softmax({out}, dim=1), y)\n",
    "\t\t{l} = {c}(torch.softmax({out}, 1), y)\n",
    "\t\t{l} = {c}({out}.softmax(dim=1), y)\n",
    "\t\t{l} = {c}(torch.sigmoid({out}), y.float())\n",
    "\t\t{l} = {c}(F.log_softmax({out}, dim=1), y)\n",
    "\t\t{l} = {c}(torch.log(F.softmax({out}, dim=1)), y)\n",
    "\t\t{l} = {c}(torch.log(F.softmax({out}, dim=1) + 1e-8), y)\n",
    "\t\t{l} = F.cross_entropy({out}, y)\n",
    "\t\t{l} = F.cross_entropy(F.softmax({out}, dim=1), y)\n",
    "\t\t{l} = F.nll_loss(F.softmax({out}, dim=1), y)\n",
    "\t\t{l} = F.nll_loss(torch.log(torch.softmax({out}, dim=1)), y)\n",
    "\t\t{l} = F.binary_cross_entropy(torch.sigmoid({out}), y.float())\n",
    "\t\t{l} = F.binary_cross_entropy_with_logits(torch.sigmoid({out}), y.float())\n",
    "\t\t{p} = F.softmax({out}, dim=1)\n\t\t{l} = {c}({p}, y)\n",
    "\t\t{p} = torch.sigmoid({out})\n\t\t{l} = {c}({p}, y)\n",
    "\t\t{p} = F.softmax({out} / 2.0, dim=1)\n\t\t{l} = F.kl_div({p}.log(), y)\n",
    # distillation: softmax applied to the *target*
    "\t\t{l} = {c}({out}, F.softmax(y, dim=1))\n",
    # a call over several lines, with comments inside
    "\t\t{l} = {c}(\n\t\t\tF.softmax(  # probabilities\n\t\t\t\t{out}, dim=1\n\t\t\t),\n"
    "\t\t\ty,  # targets\n\t\t)\n",
    # a backslash continuation and a semicolon
    "\t\t{p} = torch.nn.functional.softmax({out}, dim=1); {l} = \\\n\t\t\t{c}({p}, y)\n",
    # a trailing comment and a noqa
    "\t\t{l} = {c}(F.softmax({out}, dim=1), y)  # noqa: MC201\n",
    "\t\t{l} = {c}(torch.sigmoid({out}), y)  # keep: sigmoid here\n",
    # an activation bound to a name, or built inline
    "\t\t{g} = nn.Softmax(dim=1)\n\t\t{l} = {c}({g}({out}), y)\n",
    "\t\t{l} = {c}(nn.Sigmoid()({out}), y)\n",
    # the probabilities reused after the loss
    "\t\t{p} = F.softmax({out}, dim=1)\n\t\t{l} = {c}({p}, y)\n\t\tprint({p}.max(dim=1))\n",
]

PREDICTS = [
    "",
    "\n\ndef predict({m}, x):\n\twith torch.no_grad():\n\t\t{p} = {m}(x)\n\treturn {p}.argmax(1)\n",
    "\n\ndef predict({m}, x):\n\t{p} = {m}(x)\n\treturn ({p} > 0.5).float()\n",
    "\n\ndef predict({m}, x):\n\treturn {m}(x)\n",
    "\n\n@torch.no_grad()\ndef predict({m}, x):\n\t{p} = torch.softmax({m}(x), dim=1)\n"
    "\treturn [{d}.item() for {d} in {p}.argmax(dim=1)]\n",
    '\n\nif __name__ == "__main__":\n\t{m} = {C}()\n\t{p} = {m}(torch.randn(2, {a}))\n'
    "\tprint({p})\n",
]

DECISIONS = [
    "",
    "\t\t{d} = {out}.argmax(dim=1)\n",
    "\t\t{d} = (torch.sigmoid({out}) > 0.5).float()\n",
    "\t\t{d} = torch.round(torch.sigmoid({out}))\n",
    "\t\t{d} = {out} > 0\n",
    "\t\t{d} = F.softmax({out}, dim=1).max(dim=1)[1]\n",
]

UNPACK = {
    # the model's output in the loop, by how forward returns it
    True: "\t\t{out}, _ = {m}(x)\n",
    False: "\t\t{out} = {m}(x)\n",
}

COMMENTS = [
    "",
    "# a comment\n",
    "# sigmoid softmax CrossEntropyLoss: words in a comment\n",
    "\n",
    "\n\n",
    '"""A docstring that names nn.Softmax and BCELoss."""\n',
]


@dataclass(frozen=True)
class Program:
    source: str
    crlf: bool


def _fill(template: str, names: dict[str, str], indent: str) -> str:
    text = template.format(**names)
    return re.sub(r"(?m)^\t+", lambda m: indent * len(m.group(0)), text)


def _indented(text: str, depth: int) -> str:
    return "".join("\t" * depth + line if line.strip() else line for line in text.splitlines(True))


@st.composite
def programs(draw: st.DrawFn) -> Program:
    pool = draw(st.lists(identifiers, min_size=8, max_size=8, unique=True))
    names = {
        "h": pool[0],
        "o": pool[1],
        "g": pool[2],
        "l": pool[3],
        "p": pool[4],
        "d": pool[5],
        "out": pool[6],
        "m": pool[7],
        "C": draw(class_names),
        "a": str(draw(st.integers(2, 64))),
        "b": str(draw(st.integers(1, 10))),
    }
    criterion = draw(st.sampled_from(CRITERIA)).format(**names)
    names["c"] = draw(identifiers.filter(lambda n: n not in pool))
    indent = draw(st.sampled_from(["    ", "  ", "\t"]))
    returns = draw(st.sampled_from(RETURNS))
    tuple_return = "return {o}, " in returns
    comment = st.sampled_from(COMMENTS)

    parts = [draw(comment), draw(st.sampled_from(IMPORTS)), draw(comment), "\n"]
    init = (
        "class {C}(nn.Module):\n"
        "\tdef __init__(self):\n"
        "\t\tsuper().__init__()\n"
        "\t\tself.body = nn.Linear({a}, {a})\n"
        "\t\tself.gate = nn.Linear({a}, {a})\n"
        "\t\tself.act = " + draw(st.sampled_from(["nn.Sigmoid()", "nn.Softmax(dim=1)"])) + "\n"
        "\t\tself.head = " + draw(st.sampled_from(HEADS)) + "\n"
        "\n"
        "\tdef forward(self, x):\n"
    )
    parts.append(_fill(init, names, indent))
    parts.append(_fill(draw(st.sampled_from(BODIES)), names, indent))
    parts.append(_fill(_indented(draw(comment), 2), names, indent))
    parts.append(_fill(returns, names, indent))
    parts.append("\n\n")
    loop = "def train({m}, loader, opt):\n\t{c} = " + criterion + "\n\tfor x, y in loader:\n"
    parts.append(_fill(loop, names, indent))
    parts.append(_fill(UNPACK[tuple_return], names, indent))
    for _ in range(draw(st.integers(1, 2))):
        parts.append(_fill(draw(st.sampled_from(LOSS_LINES)), names, indent))
    parts.append(_fill(draw(st.sampled_from(DECISIONS)), names, indent))
    parts.append(_fill("\t\topt.zero_grad()\n\t\t{l}.backward()\n\t\topt.step()\n", names, indent))
    if draw(st.booleans()):
        parts.append(_fill("\n\ndef build():\n\treturn {C}()\n", names, indent))
    parts.append(_fill(draw(st.sampled_from(PREDICTS)), names, indent))
    source = "".join(parts)
    crlf = draw(st.booleans())
    if crlf:
        source = source.replace("\n", "\r\n")
    return Program(source, crlf)


# ---------------------------------------------------------------------------------------------


def _describe(outcome: FileOutcome) -> str:
    return "\n".join(
        f"  {f.violation.code} line {f.violation.span.line} fixed={f.fixed}: {f.violation.message}"
        for f in outcome.findings
    )


def unbound_names(source: str) -> set[str]:
    """Names read somewhere that nothing in the module binds (coarse: a binding anywhere, in
    any scope, counts). A rewrite must not add any: compile() does not see them, but the
    module then fails with NameError."""
    tree = ast.parse(source)
    bound = set(dir(builtins)) | {"__file__", "__name__"}
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound


def _check_outcome(source: str, outcome: FileOutcome, crlf: bool, name: str) -> None:
    diagnostics = [f for f in outcome.findings if f.violation.code in ("MC001", "MC002")]
    assert not diagnostics, f"{name}: tool diagnostics on valid code:\n{_describe(outcome)}"
    assert not any(v.code in ("MC001", "MC002") for v in outcome.remaining), (
        f"{name}: diagnostics after fixing: {[v.message for v in outcome.remaining]}"
    )
    if not outcome.findings:
        assert outcome.fixed == source, f"{name}: changed without a finding"
    if outcome.fixed != source:
        assert any(f.fixed for f in outcome.findings), (
            f"{name}: changed, yet no finding is marked fixed:\n{_describe(outcome)}"
        )
    compile(outcome.fixed, name, "exec", dont_inherit=True)
    new_unbound = unbound_names(outcome.fixed) - unbound_names(source)
    assert not new_unbound, f"{name}: the fix left names undefined: {sorted(new_unbound)}"
    if crlf:
        bare = [
            i for i, c in enumerate(outcome.fixed) if c == "\n" and outcome.fixed[i - 1] != "\r"
        ]
        assert not bare, f"{name}: a fix put a bare LF into a CRLF file at offsets {bare[:5]}"


@PROPERTY_SETTINGS
@given(programs())
def test_generated_program(program: Program) -> None:
    source = program.source
    compile(source, "generated.py", "exec", dont_inherit=True)  # the grammar makes valid code
    outcome = check_source("generated.py", source, RULES, fix=Applicability.UNSAFE)
    _check_outcome(source, outcome, program.crlf, "generated.py")
    again = check_source("generated.py", outcome.fixed, RULES, fix=Applicability.UNSAFE)
    assert again.fixed == outcome.fixed, "fixing twice differs from fixing once"
    assert not any(f.violation.code in ("MC001", "MC002") for f in again.findings)


@PROPERTY_SETTINGS
@given(programs())
def test_report_only_never_changes(program: Program) -> None:
    """Without `fix`, the engine never changes the source, and finds what the fixer finds."""
    outcome = check_source("generated.py", program.source, RULES)
    assert outcome.fixed == program.source
    fixing = check_source("generated.py", program.source, RULES, fix=Applicability.UNSAFE)
    assert [f.violation.code for f in fixing.findings] == [
        f.violation.code for f in outcome.findings
    ]


@PROPERTY_SETTINGS
@given(programs(), st.booleans())
def test_generated_project(program: Program, safe_only: bool) -> None:
    """The model class in one module, the training loop in another that imports it."""
    newline = "\r\n" if program.crlf else "\n"
    text = program.source
    cut = text.find("def train(")
    model_part, loop_part = text[:cut], text[cut:]
    header_end = model_part.find("class ")
    imports = model_part[:header_end]
    class_name = re.search(r"class (\w+)\(", model_part)
    assert class_name is not None
    loop_module = (
        imports + f"from pkg.model import {class_name.group(1)}{newline}{newline}" + loop_part
    )
    modules = {
        "pkg/__init__.py": ModuleInput("", "pkg"),
        "pkg/model.py": ModuleInput(model_part, "pkg.model"),
        "pkg/train.py": ModuleInput(loop_module, "pkg.train"),
    }
    fix = Applicability.SAFE if safe_only else Applicability.UNSAFE
    outcomes = check_project(modules, RULES, fix)
    for path, outcome in outcomes.items():
        _check_outcome(modules[path].source, outcome, program.crlf, path)
    if safe_only:
        assert all(
            f.violation.fix is None or f.violation.fix.applicability is Applicability.SAFE
            for outcome in outcomes.values()
            for f in outcome.findings
            if f.fixed
        ), "a fix that is not safe was applied under Applicability.SAFE"
    rerun = {
        path: ModuleInput(outcomes[path].fixed, module.module_name)
        for path, module in modules.items()
    }
    again = check_project(rerun, RULES, fix)
    for path in modules:
        assert again[path].fixed == outcomes[path].fixed, f"{path}: fixing twice differs"


def test_metric_import_rename_keeps_names_defined() -> None:
    """Found on torchmetrics 1.9.0 by benchmarks/robustness.py (migrate --write)."""
    source = (
        "from torchmetrics.classification import MulticlassAccuracy, MultilabelAccuracy\n"
        "\n"
        "\n"
        "class MyAccuracy(MultilabelAccuracy):\n"
        "    pass\n"
    )
    outcome = check_source("metrics.py", source, RULES, fix=Applicability.UNSAFE)
    _check_outcome(source, outcome, False, "metrics.py")
