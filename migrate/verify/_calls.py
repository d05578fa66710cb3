"""Loss sites and readers: run the user's own functions on both trees and judge what they did.

Which functions run: in each changed file, every top-level function or method that computes a
loss or reads class scores (names a loss, a criterion, softmax, sigmoid, argmax, a probability
or a threshold, before or after the change), except `__init__` and `forward` (the model check
runs those) and top-level functions none of whose parameters plays a role (`make_dataset(n,
seed)`). A function that needs no arguments is a script entry point, and the functions beyond
the first `MAX_FUNCTIONS`: both are listed as not verified, with the reason.

Each function runs in a child per tree (`child/calls.py`); this module only reads sources
(`ast`, no torch), builds the tasks and judges the two records:

- a loss site passes when every cross-entropy in the migrated run got class scores (not
  probabilities), at least two class columns, and the batch's class indices (or one-hot rows
  of them); NLLLoss must get log-probabilities; BCEWithLogits must not get probabilities;
- a reader passes when what it returns relates to the migrated model's output as a
  multi-class reader should (softmax over the class axis, argmax over the class axis, the
  logits themselves where the original returned raw scores too), and no threshold was applied
  to class scores or probabilities;
- a function that ran on both trees but did nothing ml2mc can relate to the model's output
  is not verified, never a pass.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrate.verify._names import ROLE_NAMES
from migrate.verify._protocol import CallTask, CriterionSource, Task

if TYPE_CHECKING:
    from migrate.verify._runner import TaskReport

# A function worth running mentions one of these.
READS_SCORES = re.compile(
    r"softmax|sigmoid|argmax|cross_entropy|nll_loss|binary_cross_entropy|criterion|loss|"
    r"predict|prob|logit|threshold|topk|[<>]=?\s*0?\.\d",
    re.IGNORECASE,
)
LOSS_CLASSES = frozenset(
    {"CrossEntropyLoss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "MultiLabelSoftMarginLoss"}
)
LOSS_FUNCTIONS = frozenset(
    {"cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
)
FACTORY_NAMES = re.compile(r"^(build|create|make|get|new)_?(model|net|network|classifier)?$")
CONFIG_CLASS = re.compile(r"(Config|Settings|Params|HParams|Hyperparameters|Options)\b")
# Module-level config values: `CONFIG = {...}`, `HPARAMS = dict(...)`, `CFG = Config()`.
CONFIG_VALUE = re.compile(r"^([A-Z_]*_)?(CONFIG|CFG|CONF|HPARAMS|HP|PARAMS|SETTINGS|DEFAULTS)$")
MODEL_BASES = re.compile(r"(^|\.)(Module|LightningModule)$")
SKIPPED_METHODS = frozenset({"__init__", "forward"})
ENTRY_POINTS = frozenset({"main", "cli", "run_cli", "app", "entrypoint", "entry_point"})
MAX_FUNCTIONS = 24


@dataclass(frozen=True)
class CallSite:
    file: str  # relative to the tree
    qualname: str
    line: int
    parameters: int  # 0 for a script entry point (see `_parameters`)

    @property
    def display(self) -> str:
        return f"{self.file}:{self.line} {self.qualname}"


def select_functions(changed: list[tuple[str, str | None, str]]) -> list[CallSite]:
    """`changed`: (path relative to the tree, original text or None, migrated text)."""
    found: list[CallSite] = []
    for relative, original, migrated in changed:
        new_functions = _functions(migrated)
        old_functions = _functions(original) if original is not None else {}
        for qualname, (node, text) in new_functions.items():
            if node.name in SKIPPED_METHODS:
                continue
            old = old_functions.get(qualname)
            texts = [text] if old is None else [text, old[1]]
            if not any(READS_SCORES.search(item) for item in texts):
                continue
            if "." not in qualname and not _plays_a_role(node):
                continue  # a data maker or a builder: `make_dataset(n, seed)`, `make_head(h, c)`
            found.append(CallSite(relative, qualname, node.lineno, _parameters(node, qualname)))
    return found


def runnable(sites: list[CallSite]) -> list[CallSite]:
    """The sites that are run: not entry points, at most `MAX_FUNCTIONS` of them."""
    return [site for site in sites if site.parameters > 0][:MAX_FUNCTIONS]


def _plays_a_role(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Callable as it is (no parameter without a default: `train(epochs=3)`, or an entry
    point, listed as such), or a parameter that receives the model, its input or output,
    targets, a batch, a loader or a criterion."""
    names, required = _signature(node, method=False)
    return required == 0 or any(name.lower() in ROLE_NAMES for name in names)


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str) -> int:
    """How many parameters the function may be given (`self` aside); 0 for a script entry
    point, which would run a whole script: no parameters, or `main(argv=None)`-like ones.
    `train(epochs=3)` is run, with its epochs and steps set to 1."""
    names, required = _signature(node, method="." in qualname)
    entry = node.name in ENTRY_POINTS or any(name in ("argv", "args") for name in names)
    if not names or (entry and required == 0):
        return 0
    return len(names)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> tuple[list[str], int]:
    """The parameter names (a method's first one left out) and how many have no default."""
    positional = [argument.arg for argument in (*node.args.posonlyargs, *node.args.args)]
    keyword_only = [argument.arg for argument in node.args.kwonlyargs]
    required = len(positional) - len(node.args.defaults)
    required += sum(default is None for default in node.args.kw_defaults)
    if method and positional:
        positional = positional[1:]
        required -= 1
    return positional + keyword_only, max(required, 0)


def _functions(source: str) -> dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = (node, ast.unparse(node))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{node.name}.{item.name}"] = (item, ast.unparse(item))
    return found


@dataclass
class TreeFacts:
    """What the tasks need to know about one tree, read with one `ast.parse` per file."""

    sources: dict[str, str] = field(default_factory=dict)  # relative path -> text
    model_classes: dict[str, str] = field(default_factory=dict)  # name -> "module:Class"
    built_by_models: set[str] = field(default_factory=set)  # names models call inside
    factories: dict[str, str] = field(default_factory=dict)  # name -> "module:function"
    configs: list[tuple[str, str]] = field(default_factory=list)  # (name, "module:Name")
    criteria: list[CriterionSource] = field(default_factory=list)

    @classmethod
    def read(cls, tree: Path) -> TreeFacts:
        facts = cls(sources=python_sources(tree))
        for relative, source in facts.sources.items():
            try:
                parsed = ast.parse(source)
            except SyntaxError:
                continue
            facts._add(_module_name(tree, relative), relative, parsed)
        return facts

    def _add(self, module: str, relative: str, parsed: ast.Module) -> None:
        for node in parsed.body:
            if isinstance(node, ast.ClassDef) and any(
                MODEL_BASES.search(ast.unparse(base)) for base in node.bases
            ):
                self.model_classes[node.name] = f"{module}:{node.name}"
                self.built_by_models.update(
                    _last_name(inner.func)
                    for inner in ast.walk(node)
                    if isinstance(inner, ast.Call)
                )
            elif isinstance(node, ast.FunctionDef) and FACTORY_NAMES.match(node.name):
                self.factories[node.name] = f"{module}:{node.name}"
            if isinstance(node, ast.ClassDef) and CONFIG_CLASS.search(node.name):
                self.configs.append((node.name, f"{module}:{node.name}"))
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                self.configs.extend(
                    (target.id, f"{module}:{target.id}")
                    for target in targets
                    if isinstance(target, ast.Name) and CONFIG_VALUE.match(target.id)
                )
        for found in ast.walk(parsed):
            expression: ast.expr | None = None
            if isinstance(found, ast.Call):
                name = _last_name(found.func)
                if name in LOSS_CLASSES or (name.endswith("Loss") and name[:1].isupper()):
                    expression = found
            elif isinstance(found, ast.Assign) and isinstance(found.value, ast.Attribute):
                if found.value.attr in LOSS_FUNCTIONS:
                    expression = found.value
            if expression is not None:
                self.criteria.append(
                    CriterionSource(
                        module=module,
                        expression=ast.unparse(expression),
                        where=f"{relative}:{expression.lineno}",
                    )
                )

    def mentioned(self, file: str) -> set[str]:
        return set(re.findall(r"\b\w+\b", self.sources.get(file, "")))


def model_candidates(facts: TreeFacts, function_file: str) -> list[str]:
    """What can build the model, best first: factories the function's own module names, other
    factories (`train.build_model(cfg)` still builds the model the project uses), then
    top-level model classes (those no other model builds), named ones first."""
    mentioned = facts.mentioned(function_file)
    factories = facts.factories
    ordered = [reference for name, reference in factories.items() if name in mentioned]
    ordered += [reference for name, reference in factories.items() if name not in mentioned]
    classes = facts.model_classes
    top_level = [name for name in classes if name not in facts.built_by_models]
    ordered += [classes[name] for name in sorted(top_level, key=lambda n: n not in mentioned)]
    ordered += [
        reference
        for name, reference in classes.items()
        if name in mentioned and reference not in ordered
    ]
    return ordered


def config_classes(facts: TreeFacts, function_file: str) -> list[str]:
    """The project's config classes and module-level config values ("module:Name"), those the
    function's file names first: a model factory or a function that takes `cfg` gets the
    value, or an instance of the class built with its defaults."""
    mentioned = facts.mentioned(function_file)
    return [
        reference for name, reference in sorted(facts.configs, key=lambda c: c[0] not in mentioned)
    ]


def criteria(facts: TreeFacts, function_file: str) -> list[CriterionSource]:
    """The loss constructions in a tree (`nn.CrossEntropyLoss(...)`, a project's own `...Loss()`,
    `F.cross_entropy` bound to a name); those in the function's own file when it has any."""
    own = [item for item in facts.criteria if item["where"].rsplit(":", 1)[0] == function_file]
    return own or list(facts.criteria)


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _module_name(tree: Path, relative: str) -> str:
    path = tree / relative
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory != tree.parent:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts) or path.parent.name


def python_sources(tree: Path) -> dict[str, str]:
    sources: dict[str, str] = {}
    for path in sorted(tree.rglob("*.py")):
        if any(
            part.startswith(".") or part in {"venv", "node_modules", "__pycache__"}
            for part in path.relative_to(tree).parts
        ):
            continue
        try:
            sources[path.relative_to(tree).as_posix()] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return sources


def build_tasks(sites: list[CallSite], tree: Path, tree_name: str, scratch: Path) -> list[Task]:
    facts = TreeFacts.read(tree)
    tasks: list[Task] = []
    for index, site in enumerate(sites):
        tasks.append(
            CallTask(
                kind="call",
                target=site.display,
                key=f"function-{index}",
                tree=str(tree),
                tree_name="original" if tree_name == "original" else "migrated",
                file=site.file,
                qualname=site.qualname,
                models=model_candidates(facts, site.file),
                criteria=criteria(facts, site.file),
                configs=config_classes(facts, site.file),
                scratch=str(scratch),
            )
        )
    return tasks


@dataclass(frozen=True)
class CallVerdict:
    target: str
    kind: str  # "loss site" | "reader"
    status: str  # "pass" | "fail" | "skip"
    reason: str | None
    notes: tuple[str, ...]
    seconds: float


def judge_run(
    sites: list[CallSite],
    run_sites: list[CallSite],
    original_reports: list[TaskReport],
    migrated_reports: list[TaskReport],
) -> list[CallVerdict]:
    """One verdict per site, in order: the sites that ran (`run_sites`, from `runnable`) from
    both trees' reports; entry points and those past the limit not verified."""
    verdicts: dict[CallSite, CallVerdict] = {}
    for site in sites:
        if site.parameters == 0:
            reason = "needs no arguments (a script entry point); `verify --run` runs scripts"
        elif site not in run_sites:
            reason = f"not run: verification runs the first {MAX_FUNCTIONS} functions only"
        else:
            continue
        verdicts[site] = CallVerdict(site.display, "function", "skip", reason, (), 0.0)
    for site, before, after in zip(run_sites, original_reports, migrated_reports, strict=True):
        verdicts[site] = judge_call(
            site.display,
            before.outcome.get("data") or {"error": before.outcome["reason"]},
            after.outcome.get("data") or {"error": after.outcome["reason"]},
            before.seconds + after.seconds,
        )
    return [verdicts[site] for site in sites]


def judge_call(
    target: str, original: dict[str, Any], migrated: dict[str, Any], seconds: float
) -> CallVerdict:
    losses: list[dict[str, Any]] = list(migrated.get("losses") or [])
    ran = not any(facts.get(key) for facts in (original, migrated) for key in ("error", "cannot"))
    kind = "loss site" if losses or original.get("losses") else "reader" if ran else "function"

    def verdict(status: str, reason: str | None, notes: list[str] | None = None) -> CallVerdict:
        return CallVerdict(target, kind, status, reason, tuple(notes or ()), seconds)

    if original.get("error") or original.get("cannot"):
        problem = original.get("error") or original.get("cannot")
        return verdict("skip", f"the original could not be run: {problem}")
    if migrated.get("build"):
        return verdict("fail", str(migrated["build"]))
    if migrated.get("error"):
        return verdict("fail", f"the migrated version {migrated['error']}; the original runs")
    if migrated.get("cannot"):
        return verdict("skip", f"the migrated version could not be run: {migrated['cannot']}")
    notes = [_ran(original, migrated)]
    if original.get("missing"):
        notes.append("new in the migrated tree: judged on its own run")
    problems: list[str] = []
    # Targets are only judged when they were ours: a function that makes its own data
    # (`train(epochs=3)`) feeds its own labels.
    ours = migrated.get("targets") not in (None, "none")
    for loss in losses:
        problem = _loss_problem(loss, ours)
        if problem:
            problems.append(problem)
    problems += _threshold_problems(migrated)
    problems += _argmax_problems(migrated)
    problems += _return_problems(original, migrated)
    if original.get("losses") or losses:
        notes.append(_loss_values(original, migrated))
    agreement = migrated.get("agreement")
    if isinstance(agreement, list) and len(agreement) == 2:
        notes.append(
            f"the migrated argmax is among the original's multi-hot decisions on "
            f"{agreement[0]}/{agreement[1]} rows"
        )
    if problems:
        first, *others = _counted(problems)
        return verdict("fail", first, notes + others)
    if migrated.get("weights"):
        changed = migrated.get("classes_changed")
        if migrated.get("same_keys") and isinstance(changed, list):
            # The label set changed (a "none" class added, classes merged): a migration may do
            # that on purpose, and then nothing can be compared on the original's weights.
            return verdict(
                "skip",
                f"the migrated model has {changed[1]} classes where the original had "
                f"{changed[0]}: the original's weights do not load, so nothing could be "
                "compared (the migrated run on its own weights shows no problem)",
                notes,
            )
        return verdict("fail", str(migrated["weights"]), notes)
    checked = (
        losses
        or migrated.get("thresholds")
        or migrated.get("argmaxes")
        or [
            item
            for item in migrated.get("returns") or []
            if item.get("relation") not in (None, "other")
        ]
    )
    if not checked:
        return verdict(
            "skip",
            "ran on both trees, but computed no loss and returned nothing ml2mc can relate to "
            "the model's output",
            notes,
        )
    return verdict("pass", None, notes)


def _ran(original: dict[str, Any], migrated: dict[str, Any]) -> str:
    shape = "x".join(str(size) for size in migrated.get("output_shape") or [])
    text = (
        f"ran with {migrated.get('model')} on {migrated.get('input')}; model output {shape} "
        f"({migrated.get('classes')} classes on axis {migrated.get('class_axis')}, "
        f"{migrated.get('output_kind')}; original: {original.get('output_kind')})"
    )
    if migrated.get("targets") in (None, "none"):
        return text + "; no targets passed"
    return text + (
        f"; targets given as {migrated.get('targets')} (original: {original.get('targets')})"
    )


def _loss_values(original: dict[str, Any], migrated: dict[str, Any]) -> str:
    def listed(facts: dict[str, Any]) -> str:
        values = [
            f"{item['loss']} {item['value']:.4g}"
            if isinstance(item.get("value"), float)
            else item["loss"]
            for item in facts.get("losses") or []
        ]
        return ", ".join(values[:3]) or "no loss call"

    return f"losses: original {listed(original)}; migrated {listed(migrated)}"


def _counted(problems: list[str]) -> list[str]:
    """Each problem once, in order, with how often it happened (a loss called in a loop)."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem] = counts.get(problem, 0) + 1
    return [f"{problem} (x{count})" if count > 1 else problem for problem, count in counts.items()]


def _loss_problem(loss: dict[str, Any], our_targets: bool) -> str | None:
    name = loss["loss"]
    kind = loss.get("input_kind")
    relation = loss.get("input_relation")
    origin = f" ({relation})" if relation not in (None, "other", "output") else ""
    if name == "cross_entropy":
        if kind in ("probabilities", "values in [0, 1]"):
            return (
                f"cross_entropy gets {kind}{origin}, not logits: it applies log_softmax itself, "
                "so the migrated loss works on a second softmax"
            )
        if loss.get("class_columns") == 1:
            return (
                "cross_entropy gets one class column: the loss is 0 whatever the model "
                "outputs (a binary head needs two logits, or BCEWithLogitsLoss)"
            )
        target = loss.get("target")
        if our_targets and target and "not the batch" in target:
            return f"cross_entropy gets {target}"
    if name == "nll_loss" and kind != "log-probabilities":
        return f"nll_loss gets {kind}{origin}, not log-probabilities (use log_softmax)"
    if name == "binary_cross_entropy_with_logits" and kind in ("probabilities", "values in [0, 1]"):
        return f"binary_cross_entropy_with_logits gets {kind}{origin}, not logits"
    if "not the class axis" in str(relation):
        return f"{name} gets {relation}"
    return None


def _threshold_problems(migrated: dict[str, Any]) -> list[str]:
    problems = []
    classes = int(migrated.get("classes") or 0)
    for item in migrated.get("thresholds") or []:
        relation = item.get("relation")
        if relation in (None, "other") or classes < 2:
            continue
        problems.append(
            f"a threshold `{item['operator']} {item['value']:g}` on {relation} "
            f"({item.get('kind', 'class scores')}): multi-hot decisions from a multi-class "
            "model; a multi-class decision is the argmax"
        )
    return problems


def _argmax_problems(migrated: dict[str, Any]) -> list[str]:
    problems = []
    shape = migrated.get("output_shape") or []
    axis = migrated.get("class_axis")
    for item in migrated.get("argmaxes") or []:
        relation = item.get("relation")
        if relation in (None, "other"):
            continue
        if item.get("shape") != shape:
            continue
        dim = item.get("dim")
        if dim is None:
            problems.append(f"argmax without dim over {relation}: it picks one flat position")
        elif isinstance(axis, int) and dim % len(shape) != axis % len(shape):
            problems.append(
                f"argmax over dim={dim} of {relation}, which is not the class axis ({axis})"
            )
        elif shape and isinstance(axis, int) and shape[axis] == 1:
            problems.append("argmax over one class column: always class 0")
    return problems


def _return_problems(original: dict[str, Any], migrated: dict[str, Any]) -> list[str]:
    problems = []
    before = {item["path"]: item for item in original.get("returns") or []}
    squashed = migrated.get("output_kind") in ("values in [0, 1]", "probabilities")
    for item in migrated.get("returns") or []:
        relation = str(item.get("relation"))
        where = f"returns{item['path']}" if item["path"] else "returns"
        if squashed and relation.startswith(("softmax(", "log_softmax(")):
            problems.append(
                f"{where} {relation} where the model's output is already "
                f"{migrated['output_kind']}: a softmax of probabilities, not of logits"
            )
        elif "not the class axis" in relation:
            problems.append(f"{where} {relation}")
        elif relation == "sigmoid(output)":
            problems.append(
                f"{where} sigmoid of the multi-class logits: independent per-class "
                "scores, not probabilities over the classes (softmax)"
            )
        elif relation == "multi-hot decisions":
            problems.append(f"{where} multi-hot decisions (a threshold), not an argmax")
        elif relation == "output" and item.get("kind") == "scores":
            old = before.get(item["path"], {})
            if old.get("kind") in ("probabilities", "values in [0, 1]"):
                problems.append(
                    f"{where} raw logits where the original returned {old['kind']}: callers "
                    "that read probabilities get scores"
                )
    return problems
