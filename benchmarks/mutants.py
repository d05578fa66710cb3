"""Mutation testing with named mutants: does the test suite notice a planted bug?

Each mutant is one small edit to the engine (`migrate/`, `migrate/verify/` included) or to a
rule (`rules/`) that a real bug could look like: an anchor text that must occur exactly once
in its file, the text that replaces it, and why the change matters. A mutant whose anchor is
gone (the code moved on) is reported as `stale` and not run.

How a run works:

1. The current working tree is exported (`git ls-files --cached --others --exclude-standard`:
   tracked files and untracked files that git does not ignore, as they are on disk) into a
   scratch copy under `$TMPDIR/ml2mc-mutants/job-N/` (outside the repository), one per job.
2. A dry check proves that the copy is what runs: with `cwd` = the copy and `PYTHONPATH` = the
   copy, `import migrate` (the test process) and a process started elsewhere (the tests'
   `python -m migrate` children, and the verify child) both load the copy, not the editable
   install of `/work/main`.
3. The unmutated suite runs once in each copy; if it fails, the run stops (`error`).
4. Each mutant is applied in a copy, `python -m pytest -x -q -p no:cacheprovider` runs there,
   and the file is restored byte for byte. pytest exit != 0: `killed` (with the first failing
   test); exit 0: `survived`. A mutant still running after `--timeout` seconds is killed and
   counts as `killed`, with a note.

    python benchmarks/mutants.py                                  # every mutant (~2 min each)
    python benchmarks/mutants.py --only engine-reports-nothing --only writer-without-rename
    python benchmarks/mutants.py --jobs 2                         # two copies side by side
    python benchmarks/mutants.py --count-failures --only no-reparse-guard   # every failing test
    python benchmarks/mutants.py --list                           # the mutants and their anchors
    python benchmarks/mutants.py --exclude fixtures/blind/new     # leave out work in progress

The clean suite must pass in the copy. When someone else's work in progress (a fixture batch
not labelled yet) breaks it, `--exclude` leaves those paths out of the export; the results
record what was left out.

`--count-failures` runs without `-x` and records every failing test id (the five planted bugs
named in PLANTED should each make at least three tests fail). Results go to
`benchmarks/.cache/mutants.json`; a table and the mutation score, killed / (killed +
survived), overall and for `migrate/` and `rules/` separately, go to stdout, then every
survivor with its "why".
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "benchmarks" / ".cache"
# Outside the repository: a copy nested in it is git-ignored as a whole, and `verify`, which
# copies a project's tracked and untracked files, would then copy nothing of it.
SCRATCH = Path(tempfile.gettempdir()) / "ml2mc-mutants"
RESULTS = CACHE / "mutants.json"
DEFAULT_TIMEOUT = 900.0
# The test that every anchor applies fails by design once a mutant is applied; the runner
# checks each anchor itself before it applies it.
PYTEST_ARGS = (
    *("-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"),
    *("--deselect", "tests/test_meta.py::test_every_named_mutant_still_applies"),
)


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    why: str

    @property
    def area(self) -> str:
        return self.file.split("/", 1)[0]


MUTANTS: tuple[Mutant, ...] = (
    # -- the engine: migrate/engine.py ---------------------------------------------------------
    Mutant(
        "engine-reports-nothing",
        "migrate/engine.py",
        "        results[path] = sorted(_unique(kept), key=lambda v: (v.span, v.code))",
        "        results[path] = []",
        "every rule finding is discarded after suppression: the tool goes silent",
    ),
    Mutant(
        "no-reparse-guard",
        "migrate/engine.py",
        "            if not _parses(new_source):",
        "            if False:",
        "a fix that leaves invalid code behind is applied instead of refused with MC002",
    ),
    Mutant(
        "fixes-not-applied",
        "migrate/engine.py",
        "        current = candidate\n",
        "        current = dict(current)\n",
        "the fixed source of a pass is dropped: findings are marked fixed, files never change",
    ),
    Mutant(
        "overlap-check-off",
        "migrate/engine.py",
        "        if any(_overlaps(edit, other) for edit in fix.edits for other in taken):\n"
        "            continue\n",
        "",
        "two fixes editing the same characters are applied in one pass and garble the code",
    ),
    Mutant(
        "suppression-inverted",
        "migrate/engine.py",
        "kept = [v for v in violations if not _suppressed(facts, v) and not matches(",
        "kept = [v for v in violations if _suppressed(facts, v) and not matches(",
        "`# noqa: MC201` keeps only what it should silence, and silences everything else",
    ),
    Mutant(
        "safe-mode-applies-unsafe-fixes",
        "migrate/engine.py",
        "        if not allowed.allows(fix.applicability):\n            continue\n",
        "",
        "`check --fix` (safe only) also applies unsafe fixes that change numerics",
    ),
    # -- value flow and names: the interpreter, names, the index, the readers ----------------
    Mutant(
        "functional-softmax-not-recognised",
        "migrate/analysis/names.py",
        '    "torch.nn.functional.softmax": SOFTMAX,\n',
        "",
        "`F.softmax(z, 1)`, the most common spelling, is no longer an activation",
    ),
    Mutant(
        "local-class-does-not-shadow",
        "migrate/analysis/names.py",
        "                table.names[statement.name] = LOCAL_PREFIX + statement.name",
        "                table.names.setdefault(statement.name, LOCAL_PREFIX + statement.name)",
        "a project's own `CrossEntropyLoss` class is taken for torch's when torch's is imported",
    ),
    Mutant(
        "branch-join-keeps-first",
        "migrate/analysis/interpreter.py",
        "joined[name] = flow.new_binding(choice_of(kinds))",
        "joined[name] = flow.new_binding(binding.kind)",
        "after `if`/`else` a name keeps the first branch's kind instead of UNKNOWN: "
        "findings and fixes on values that are softmax only on one path",
    ),
    Mutant(
        "no-call-site-refinement",
        "migrate/analysis/interpreter.py",
        "            target_flow.summary(function, owner, agreed)",
        "            pass",
        "a helper's parameters are no longer learnt from its call sites: "
        "`def step(model, criterion)` loses its findings",
    ),
    Mutant(
        "eps-shift-still-exact",
        "migrate/analysis/interpreter.py",
        "                return Probs(probs.activation, exact=False, shifted=True)",
        "                return probs",
        "`softmax(z) + eps` counts as a removable softmax: the fix deletes it and drops eps",
    ),
    Mutant(
        "attention-mixture-as-probs",
        "migrate/analysis/interpreter.py",
        "        if isinstance(node.op, ast.MatMult):\n            return Mixture(activation)",
        "        if isinstance(node.op, ast.MatMult):\n            return Probs(activation)",
        "an attention mixture `softmax(s) @ v` is treated as plain probabilities: "
        "the softmax is deleted instead of `nll_loss(log(p.clamp_min(eps)))`",
    ),
    Mutant(
        "softmax-on-target-taken-as-input",
        "migrate/analysis/interpreter.py",
        '(`chosen` names the option)."""\n        argument = _argument(node, 0, "input")',
        '(`chosen` names the option)."""\n'
        '        argument = _argument(node, 1, "target") or _argument(node, 0, "input")',
        "the loss's target is read as its input: a softmax on soft targets (distillation) "
        "is reported, the real input is missed",
    ),
    Mutant(
        "tuple-index-ignored",
        "migrate/analysis/interpreter.py",
        "    position = _integer(index)\n",
        "    position = 0\n",
        "`out[1]` of `return preds, logits` is taken as `preds`: the logits look like "
        "probabilities",
    ),
    Mutant(
        "parameter-sites-not-named",
        "migrate/analysis/interpreter.py",
        "            self.flow.parameter_sites.add(self.site_name)",
        "            pass",
        "the interpreter no longer names functions whose parameter reaches a loss: a check "
        "never reads the caller that hands them probabilities",
    ),
    Mutant(
        "training-module-callers-not-read",
        "migrate/analysis/interpreter.py",
        "        if input_kind is UNKNOWN and self.calls_parameter:",
        "        if False:",
        "`train(model, loader)` feeds a loss its model parameter's output: a script that names "
        "no loss and hands it a softmax model is never read",
    ),
    Mutant(
        "second-look-without-selected-modules",
        "migrate/pipeline.py",
        "        job_context = _job_context(shared, in_group, budget)\n",
        "        job_context = context\n",
        "the callers' second look cannot reach a model class in another selected file",
    ),
    Mutant(
        "callers-with-different-models-unknown",
        "migrate/analysis/interpreter.py",
        "        elif (models := _models_of(kinds, unknown_allowed=True)) is not None:",
        "        elif False:",
        "a function called with a GRU here and an LSTM there learns nothing about its model",
    ),
    Mutant(
        "log-fix-drops-a-reshape",
        "rules/mc208_log_of_softmax.py",
        "    return direct(argument)",
        "    return True",
        "`log(softmax(z).view(-1, C))` is fixed to `log_softmax(z)`: the reshape is lost",
    ),
    Mutant(
        "check-does-not-load-readers",
        "migrate/analysis/index.py",
        "        for importer in self._importers(module_name):\n            self.module(importer)",
        "        return",
        "a check plans a forward fix without the model's readers outside its selection: it "
        "offers a fix that `--fix` refuses",
    ),
    Mutant(
        "model-escape-ignored",
        "migrate/fixing/readers.py",
        "            if escape.class_key == class_key and not _followed(reader_facts, escape):",
        "            if escape.class_key == class_key and _followed(reader_facts, escape):",
        "a model handed to code that is not followed no longer blocks the fix: a reader hidden "
        "there silently gets logits instead of probabilities",
    ),
    Mutant(
        "binary-head-not-refused",
        "migrate/fixing/readers.py",
        "        and out.value == 1\n",
        '        and out.value == "1"\n',
        "`Linear(n, 1)` is no longer recognised (int compared with str): a binary head is "
        "migrated to an argmax that is always 0",
    ),
    # -- the fixes: migrate/fixing/edits.py -------------------------------------------------
    Mutant(
        "parentheses-dropped",
        "migrate/fixing/edits.py",
        '    return f"({code})"',
        "    return code",
        "removing `softmax(a + b)` leaves `a + b` unparenthesised inside a larger expression",
    ),
    Mutant(
        "input-reassignment-not-checked",
        "migrate/fixing/edits.py",
        "    return all(\n"
        "        bindings_at_use.get(name, 0) == binding for name, binding in "
        "activation.input_bindings\n"
        "    )",
        "    return True",
        "the loss is given the softmax's input even after that variable was reassigned",
    ),
    Mutant(
        "loss-path-fix-always-safe",
        "migrate/fixing/edits.py",
        "    applicability = Applicability.SAFE if safe else Applicability.UNSAFE",
        "    applicability = Applicability.SAFE",
        "removing a softmax before the loss (numerics change) is labelled safe",
    ),
    Mutant(
        "import-removed-while-used",
        "migrate/fixing/edits.py",
        "spelled - spellings_in_imports != uses_removed",
        "spelled - spellings_in_imports < uses_removed",
        "an import is deleted although other uses remain: NameError on import",
    ),
    # -- selection ---------------------------------------------------------------------------
    Mutant(
        "selection-no-importers-when-fixing",
        "migrate/analysis/selection.py",
        "        selected = {Path(path) for path in graph.importer_closure(seeds, IMPORT_DEPTH)}",
        "        selected = set(seeds)",
        "a fix that moves a softmax out of forward no longer sees the files that read the "
        "model's output",
    ),
    Mutant(
        "screen-log-word-ignored",
        "migrate/analysis/selection.py",
        "    if _LOG_WORD.search(text):\n        return True\n",
        "",
        "a file with `torch.log(F.softmax(z, dim=1))` and no loss is skipped by the token "
        "test: MC208 misses it",
    ),
    # -- the registry --------------------------------------------------------------------------
    Mutant(
        "opt-in-rule-on-by-default",
        "migrate/registry.py",
        "        if not rule.default_enabled and explicit is None:\n            continue\n",
        "",
        "opt-in rules (MC206) run without being selected",
    ),
    Mutant(
        "ignore-not-applied",
        "migrate/registry.py",
        "        if not matches(rule.code, prefixes) or matches(rule.code, ignore):",
        "        if not matches(rule.code, prefixes):",
        "`--ignore` and `ignore = [...]` no longer turn rules off",
    ),
    # -- the writer and the file round trip ------------------------------------------------
    Mutant(
        "writer-without-rename",
        "migrate/writer.py",
        "            os.replace(temporary, target)\n",
        '            with open(temporary, "rb") as staged, open(target, "wb") as stream:\n'
        "                stream.write(staged.read())\n"
        "            os.unlink(temporary)\n",
        "files are copied over in place instead of renamed: an interrupt can leave a half-"
        "written file",
    ),
    Mutant(
        "writer-mode-not-kept",
        "migrate/writer.py",
        "        os.chmod(temporary, mode)\n",
        "",
        "a rewritten file gets the temporary file's mode 0600: scripts lose their x bit",
    ),
    Mutant(
        "bom-dropped",
        "migrate/discovery.py",
        "    return codecs.BOM_UTF8 + data if source.bom else data",
        "    return data",
        "a UTF-8 BOM is lost when a fixed file is written",
    ),
    Mutant(
        "crlf-normalised",
        "migrate/discovery.py",
        "        text = body.decode(codec)\n",
        '        text = body.decode(codec).replace("\\r\\n", "\\n")\n',
        "CRLF files are read with LF endings: every line of a fixed file changes",
    ),
    # -- the pipeline --------------------------------------------------------------------------
    Mutant(
        "dirty-file-protection-off",
        "migrate/pipeline.py",
        "        protected, notices = _protected_by_git(files, options.allow_dirty)",
        "        protected, notices = _protected_by_git(files, True)",
        "`--write` overwrites files with uncommitted changes (no `git checkout` back)",
    ),
    Mutant(
        "unchanged-files-written",
        "migrate/pipeline.py",
        "    changed = {report.display: report for report in result.changed_files}\n",
        "    changed = {report.display: report for report in result.files if report.source}\n",
        "every file read is written back, changed or not: untouched files lose their "
        "timestamps and, with another encoding, their bytes",
    ),
    # -- verify ----------------------------------------------------------------------------------
    Mutant(
        "verify-tolerance-0.05",
        "migrate/verify/child/common.py",
        "FLOAT64_ATOL = 1e-10",
        "FLOAT64_ATOL = 0.05",
        "the float64 tolerance is loose enough to pass a near miss (a small logit bias)",
    ),
    Mutant(
        "verify-relation-any-element",
        "migrate/verify/child/models.py",
        "        holds = holds and bool(close.all())",
        "        holds = holds and bool(close.any())",
        "a model relation holds when one element matches instead of all",
    ),
    Mutant(
        "verify-probabilities-into-ce-pass",
        "migrate/verify/child/models.py",
        '                if self.task["feeds_loss"] == "cross_entropy":',
        '                if self.task["feeds_loss"] == "cross-entropy":',
        "a rewritten model that still outputs probabilities into CrossEntropyLoss passes "
        "(the double softmax is only noted)",
    ),
    Mutant(
        "verify-probabilities-into-cross-entropy-pass",
        "migrate/verify/_calls.py",
        '    if name == "cross_entropy":\n'
        '        if kind in ("probabilities", "values in [0, 1]"):',
        '    if name == "cross_entropy":\n        if kind in ("log-probabilities",):',
        "a training step that feeds softmax probabilities to cross_entropy passes the loss-site "
        "check (the double softmax that motivated ml2mc)",
    ),
    Mutant(
        "verify-threshold-on-probabilities-pass",
        "migrate/verify/_calls.py",
        '        if relation in (None, "other") or classes < 2:',
        '        if relation in (None, "other") or classes >= 2:',
        "a reader that still thresholds softmax probabilities or logits at 0.5 passes",
    ),
    Mutant(
        "verify-unrun-function-passes",
        "migrate/verify/_calls.py",
        '        return verdict("skip", f"the original could not be run: {problem}")',
        '        return verdict("pass", None)',
        "a loss site or reader that could not be run counts as verified",
    ),
    Mutant(
        "verify-skip-counted-as-pass",
        "migrate/verify/__init__.py",
        '        status=outcome["status"],',
        '        status="pass" if outcome["status"] == "skip" else outcome["status"],',
        "a target that did not run is reported as passed",
    ),
    # -- the CLI's exit codes ---------------------------------------------------------------------
    Mutant(
        "check-exit-0-with-findings",
        "migrate/cli.py",
        "    raise typer.Exit(1 if result.remaining or failed or result.errors or would_change "
        "else 0)",
        "    raise typer.Exit(1 if failed or result.errors or would_change else 0)",
        "`ml2mc check` exits 0 on findings: CI never fails",
    ),
    Mutant(
        "migrate-strict-ignored",
        "migrate/cli.py",
        '    failed = "fail" in statuses or (strict and unverified_count(result) > 0) or not '
        "saved\n",
        '    failed = "fail" in statuses or not saved\n',
        "`migrate --strict` no longer fails when a verification was skipped",
    ),
    Mutant(
        "migrate-strict-writes-anyway",
        "migrate/pipeline.py",
        "    if strict and unverified:\n",
        "    if False:\n",
        "`migrate --write --strict` writes a migration whose checks were skipped",
    ),
    # -- machine output ---------------------------------------------------------------------------
    Mutant(
        "sarif-column-zero-based",
        "migrate/output/machine_formats.py",
        '                "startColumn": span.column,',
        '                "startColumn": span.column - 1,',
        "SARIF regions start one column early (SARIF columns are 1-based)",
    ),
    Mutant(
        "json-applicability-enum-name",
        "migrate/output/report.py",
        'else {"title": fix.title, "applicability": fix.applicability.value},',
        'else {"title": fix.title, "applicability": fix.applicability.name},',
        'the JSON `fix.applicability` says "SAFE"/"UNSAFE" instead of "safe"/"unsafe"',
    ),
    # -- rules -------------------------------------------------------------------------------------
    Mutant(
        "mc102-logits-not-proven",
        "rules/mc102_bce_loss.py",
        "                fix = fix if reason is None else None",
        "                reason = None",
        "BCELoss becomes CrossEntropyLoss although its input stays a sigmoid output",
    ),
    Mutant(
        "mc103-pos-weight-allowed",
        "rules/mc103_bce_with_logits_loss.py",
        '        blocking = frozenset({"weight", "pos_weight"})',
        '        blocking = frozenset({"weight"})',
        "`pos_weight=` (no CrossEntropyLoss equivalent) is carried into CrossEntropyLoss",
    ),
    Mutant(
        "mc104-gate-reported",
        "rules/mc104_sigmoid_probabilities.py",
        "            if id(node) in thresholded or not is_logit_like(facts, activation.input):",
        "            if id(node) in thresholded:",
        "every sigmoid read for its value is migrated, SE/GRU gates included",
    ),
    Mutant(
        "mc201-message-wrong",
        "rules/mc201_softmax_before_cross_entropy.py",
        '    message = "`{activation}` feeds probabilities to `{loss}`, which applies '
        'log_softmax itself"',
        '    message = "`{activation}` feeds probabilities to `{loss}`, which expects '
        'log-probabilities"',
        "MC201's message is MC203's (copy-paste): it tells the user the wrong story",
    ),
    Mutant(
        "mc202-also-bce-loss",
        "rules/mc202_sigmoid_before_bce_with_logits.py",
        "_LOSSES = frozenset({names.BCE_WITH_LOGITS})",
        "_LOSSES = frozenset({names.BCE_WITH_LOGITS, names.BCE})",
        "a sigmoid before BCELoss (correct: it wants probabilities) is reported and removed",
    ),
    Mutant(
        "mc203-fix-title",
        "rules/mc203_softmax_before_nll_loss.py",
        '    fix_title = "Use log_softmax"',
        '    fix_title = "Use softmax"',
        "MC203's fix is described as the opposite of what it does",
    ),
    Mutant(
        "mc205-fix-unsafe",
        "rules/mc205_log_softmax_before_cross_entropy.py",
        "log_probs=True, safe=True",
        "log_probs=True, safe=False",
        "removing a redundant log_softmax (exact) is labelled unsafe: `check --fix` skips it",
    ),
    Mutant(
        "mc207-fix-flag-inverted",
        "rules/mc207_softmax_implicit_dim.py",
        "            if not site.reaches_loss:",
        "            if site.reaches_loss:",
        "`dim=1` is added where the rank is unknown (3-D inputs used dim 0) and not where "
        "it is known",
    ),
    Mutant(
        "mc208-eps-fix-safe",
        "rules/mc208_log_of_softmax.py",
        "                    safety = Applicability.SAFE if site.probs.exact else "
        "Applicability.UNSAFE",
        "                    safety = Applicability.SAFE",
        "`log(softmax(z) + eps)` -> `log_softmax(z)` drops the eps shift yet is labelled safe",
    ),
    Mutant(
        "sequential-not-a-choice",
        "migrate/analysis/interpreter.py",
        "    # `model = nn.Sequential(..., nn.Softmax())` in both arms of `if is_nonlinear:`.\n"
        "    SequentialModule,\n",
        "",
        "a Sequential built in both arms of an `if` is unknown after it",
    ),
    Mutant(
        "closure-over-model-not-followed",
        "migrate/analysis/interpreter.py",
        "            binding is not None and _is_followed_argument(binding.kind) for binding in "
        "closed_over\n",
        "            False for binding in closed_over\n",
        "`def train():` in a `__main__` block, reading the model bound after it, is not followed",
    ),
    Mutant(
        "stored-backbone-head-ignored",
        "migrate/analysis/interpreter.py",
        "                self._patch_stored_head(target.value.attr, target.attr, value)\n",
        "                pass\n",
        "a head patched onto a backbone stored on `self` in `__init__` is not seen",
    ),
    Mutant(
        "sigmoid-mixture-not-reported",
        "rules/mc204_sigmoid_before_cross_entropy.py",
        "        yield from mixture_violations(self, facts, names.SIGMOID, _LOSSES)\n",
        "",
        "a mean of sigmoid probabilities (ten crops) into CrossEntropyLoss is not reported",
    ),
    Mutant(
        "open-start-list-forgotten",
        "migrate/analysis/interpreter.py",
        "                    grown = TupleKind(added.items, mutable=True, open_start=True)\n",
        "                    grown = UNKNOWN\n",
        "`layers = reduce(...)` then `layers += [..., nn.Softmax()]`: the Sequential is not seen",
    ),
    Mutant(
        "open-start-list-indexed-from-start",
        "migrate/analysis/interpreter.py",
        "        if base.open_start and not isinstance(index, ast.UnaryOp):\n",
        "        if False:\n",
        "`layers[1]` of a list whose start is unknown is taken as its second known item",
    ),
    Mutant(
        "small-tree-not-analysed-whole",
        "migrate/analysis/selection.py",
        "    return sum(len(source.text) for source in readable.values()) <= WHOLE_PROJECT_BYTES\n",
        "    return False\n",
        "a model handed script -> coordinator -> client (files naming no loss) is not followed",
    ),
    Mutant(
        "method-result-callers-not-read-again",
        "migrate/analysis/interpreter.py",
        "        flow.note_caller(flow.key(info.name), self)\n",
        "",
        "`runner.scores(x)` stays unknown after the constructor learns the model it stores",
    ),
    Mutant(
        "failed-workers-crash-the-check",
        "migrate/pipeline.py",
        "    except (OSError, BrokenProcessPool):\n",
        "    except ZeroDivisionError:\n",
        "a check whose worker processes cannot start (no writable temporary folder) crashes",
    ),
    Mutant(
        "super-init-not-a-call-site",
        "migrate/analysis/interpreter.py",
        "        if isinstance(func, ast.Attribute) and _is_super_call(func.value) and self.owner:"
        "\n",
        "        if False:\n",
        "`super().__init__(model, criterion)` teaches the base class nothing",
    ),
    Mutant(
        "base-class-attributes-not-read",
        "migrate/analysis/interpreter.py",
        "            base = self.flow.attribute_owner(reference.class_key, attribute)\n",
        "            base = None\n",
        "a subclass does not see what its base class's `__init__` stores",
    ),
    Mutant(
        "project-train-method-taken-for-nn-module",
        "migrate/analysis/interpreter.py",
        "            or self.flow.find_method(receiver.class_key, method) is not None\n",
        "            or False\n",
        "`trainer.train()` of a project class is taken for `nn.Module.train()`",
    ),
    Mutant(
        "getattr-of-a-module-unknown",
        "migrate/analysis/interpreter.py",
        "        if not isinstance(module, ModuleReference):\n            return None\n",
        "        return None\n",
        "`getattr(module_loss, config['loss'])` is unknown",
    ),
    Mutant(
        "config-helper-instantiates-nothing",
        "migrate/analysis/interpreter.py",
        "        made = _instantiated_member(function) if returned is UNKNOWN else None\n",
        "        made = None\n",
        "`config.init_obj('arch', module_arch)` is unknown",
    ),
    Mutant(
        "one-call-one-site",
        "migrate/analysis/interpreter.py",
        "        key = (id(site.node), site.target)\n",
        "        key = (id(site.node), '')\n",
        "a call of a choice of functions teaches only the last of them",
    ),
    Mutant(
        "concatenated-softmax-rows-unknown",
        "migrate/analysis/interpreter.py",
        "            if isinstance(element, Probs) and along_rows:\n",
        "            if False:\n",
        "`torch.cat(outputs)` of softmax rows appended in a loop is unknown",
    ),
    Mutant(
        "mixed-list-taken-for-softmax-rows",
        "migrate/analysis/interpreter.py",
        "    if all(isinstance(k, Probs) and _same_fields(k.activation, first.activation)"
        " for k in kinds):\n",
        "    if True:\n",
        "a list of softmax rows and logits is taken for softmax rows",
    ),
    Mutant(
        "compiled-choice-unknown",
        "migrate/analysis/interpreter.py",
        "                if isinstance(first, OneOf) and _models_of([first], unknown_allowed=True):"
        "\n",
        "                if False:\n",
        "`torch.compile(model)` of a model chosen by a flag is unknown",
    ),
    Mutant(
        "globals-registry-unknown",
        "migrate/analysis/interpreter.py",
        "        if isinstance(node, ast.DictComp) and _is_globals_registry(node):\n",
        "        if False:\n",
        "`{name: cls for name, cls in globals().items() ...}[model_type]` is unknown",
    ),
    Mutant(
        "building-blocks-are-model-choices",
        "migrate/analysis/interpreter.py",
        '        return [name for name in defined if not name.startswith("_")'
        " and name not in blocks]\n",
        '        return [name for name in defined if not name.startswith("_")]\n',
        "an attention block of `model.py` is taken for a model the config may name",
    ),
    Mutant(
        "sigmoid-gate-taken-for-an-average",
        "migrate/fixing/loss_path.py",
        "        if plan_fix is None and not kind.reduced:\n",
        "        if False:\n",
        "`z * torch.sigmoid(g)` into BCEWithLogitsLoss is reported as an averaged sigmoid",
    ),
    Mutant(
        "open-start-list-concatenated",
        "migrate/analysis/interpreter.py",
        "            if isinstance(first, TupleKind) and not first.open_start:\n",
        "            if isinstance(first, TupleKind):\n",
        "`torch.cat` of a list whose start is unknown is taken for its known rows",
    ),
    Mutant(
        "inserted-logits-forgotten",
        "migrate/analysis/interpreter.py",
        "        if isinstance(receiver, TupleKind) and method in _LIST_MUTATIONS:\n",
        "        if False:\n",
        "`outputs.insert(0, logits)` leaves the list taken for softmax rows",
    ),
    Mutant(
        "subclass-override-ignored",
        "migrate/analysis/interpreter.py",
        "        if kind is not UNKNOWN and self.flow.overridden_below(reference.class_key, "
        "attribute, kind):\n",
        "        if False:\n",
        "a base method reads the base's criterion although the subclass replaced it",
    ),
    Mutant(
        "super-method-not-followed",
        "migrate/analysis/interpreter.py",
        "        for base_key in self.flow.base_classes(self.flow.key(self.owner.name)):\n",
        "        for base_key in []:\n",
        "`super().forward(x)` and `super().__init__(model)` are not followed",
    ),
)

# The five planted bugs that `--count-failures` is meant for: each should fail >= 3 tests.
PLANTED = (
    "engine-reports-nothing",
    "verify-tolerance-0.05",
    "opt-in-rule-on-by-default",
    "writer-without-rename",
    "no-reparse-guard",
)
MIN_PLANTED_FAILURES = 3


@dataclass
class Outcome:
    name: str
    file: str
    area: str
    verdict: str  # killed | survived | stale | error
    seconds: float = 0.0
    first_failure: str | None = None
    failures: list[str] = field(default_factory=list)
    returncode: int | None = None
    note: str | None = None
    why: str = ""
    job: int | None = None


@dataclass
class Copy:
    job: int
    root: Path
    basetemp: Path


# -- the scratch copies -----------------------------------------------------------------------


def working_tree_files(exclude: Sequence[str] = ()) -> list[str]:
    """Tracked files and untracked files git does not ignore, as they are on disk; less the
    paths `exclude` names (globs, or folders)."""
    completed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    names = sorted({name for name in completed.stdout.decode().split("\0") if name})
    return [
        name
        for name in names
        if not name.startswith("benchmarks/.cache/") and not _excluded(name, exclude)
    ]


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatch(name, pattern) or name.startswith(pattern.rstrip("/") + "/")
        for pattern in patterns
    )


def export(job: int, files: list[str]) -> Copy:
    root = SCRATCH / f"job-{job}"
    if root.exists():
        _remove_tree(root)
    root.mkdir(parents=True)
    for name in files:
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # tracked but deleted in the working tree
        if source.is_dir() and not source.is_symlink():
            continue  # a submodule or an odd entry: nothing to copy
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    basetemp = Path(tempfile.mkdtemp(prefix=f"ml2mc-mutants-job{job}-"))
    return Copy(job, root, basetemp)


def _remove_tree(path: Path) -> None:
    """Remove a scratch copy, read-only files and folders included."""

    def retry(function: Callable[[str], object], name: str, _info: object) -> None:
        os.chmod(os.path.dirname(name), 0o700)
        if not os.path.islink(name):
            os.chmod(name, 0o700)
        function(name)

    shutil.rmtree(path, onerror=retry)


def environment(copy: Copy) -> dict[str, str]:
    env = dict(os.environ)
    # Only the copy: the tests' `python -m migrate` children inherit it and import the copy
    # rather than the editable install that points at /work/main.
    env["PYTHONPATH"] = str(copy.root)
    env.pop("PYTEST_ADDOPTS", None)
    return env


_DRY_CHECK = (
    "import migrate, rules, migrate.verify._runner as runner\n"
    "print(migrate.__file__)\n"
    "print(rules.__file__)\n"
    "print(runner._CODE_ROOT)\n"
)


def dry_check(copy: Copy) -> list[str]:
    """What `migrate` the test process and a child started in another folder import; raises
    when it is not the copy."""
    lines: list[str] = []
    elsewhere = Path(tempfile.mkdtemp(prefix="ml2mc-mutants-dry-"))
    try:
        for label, cwd in (("test process", copy.root), ("child elsewhere", elsewhere)):
            completed = subprocess.run(
                [sys.executable, "-c", _DRY_CHECK],
                cwd=cwd,
                env=environment(copy),
                capture_output=True,
                text=True,
                check=False,
            )
            if completed.returncode != 0:
                raise RuntimeError(f"dry check failed ({label}): {completed.stderr.strip()}")
            paths = completed.stdout.split()
            for path in paths:
                if not Path(path).resolve().is_relative_to(copy.root.resolve()):
                    raise RuntimeError(
                        f"dry check ({label}): {path} is not in the copy {copy.root}; "
                        "the mutants would be tested against the wrong code"
                    )
            lines.append(f"{label} (cwd {cwd}): migrate.__file__ = {paths[0]}")
            lines.append(f"{label}: rules.__file__ = {paths[1]}, verify child root = {paths[2]}")
        version = subprocess.run(
            [sys.executable, "-m", "migrate", "--version"],
            cwd=elsewhere,
            env=environment(copy),
            capture_output=True,
            text=True,
            check=False,
        )
        if version.returncode != 0:
            raise RuntimeError(f"dry check: python -m migrate failed: {version.stderr.strip()}")
        lines.append(f"python -m migrate --version (cwd elsewhere): {version.stdout.strip()}")
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    return lines


# -- running pytest -----------------------------------------------------------------------------


@dataclass
class PytestRun:
    returncode: int | None  # None: timed out
    seconds: float
    failures: list[str]
    tail: str


_FAILURE_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def run_pytest(copy: Copy, stop_first: bool, timeout: float) -> PytestRun:
    command = [sys.executable, *PYTEST_ARGS, f"--basetemp={copy.basetemp}"]
    if stop_first:
        command.append("-x")
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=copy.root,
        env=environment(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: a timeout stops its children too
    )
    try:
        output, _ = process.communicate(timeout=timeout)
        returncode: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _stop(process)
        output, _ = process.communicate()
        returncode = None
    except BaseException:
        _stop(process)
        raise
    seconds = time.monotonic() - start
    failures: list[str] = []
    for line in output.splitlines():
        match = _FAILURE_LINE.match(line)
        if match and match.group(1) not in failures:
            failures.append(match.group(1))
    tail = "\n".join(output.strip().splitlines()[-15:])
    return PytestRun(returncode, seconds, failures, tail)


def _stop(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _forget_bytecode(path: Path) -> None:
    """Drop the cached bytecode of a module we rewrote: CPython checks the source's mtime in
    whole seconds and its size, so a same-size edit within a second could reuse it."""
    cache = path.parent / "__pycache__"
    if cache.is_dir():
        for compiled in cache.glob(f"{path.stem}.*.pyc"):
            compiled.unlink(missing_ok=True)


def anchor_count(root: Path, mutant: Mutant) -> int:
    path = root / mutant.file
    if not path.is_file():
        return 0
    return path.read_bytes().decode("utf-8").count(mutant.old)


def run_mutant(copy: Copy, mutant: Mutant, count_failures: bool, timeout: float) -> Outcome:
    outcome = Outcome(mutant.name, mutant.file, mutant.area, "stale", why=mutant.why, job=copy.job)
    path = copy.root / mutant.file
    count = anchor_count(copy.root, mutant)
    if count != 1:
        outcome.note = (
            "file not found" if not path.is_file() else f"anchor occurs {count} times, not once"
        )
        return outcome
    original = path.read_bytes()
    mutated = original.decode("utf-8").replace(mutant.old, mutant.new, 1).encode("utf-8")
    try:
        path.write_bytes(mutated)
        _forget_bytecode(path)
        result = run_pytest(copy, stop_first=not count_failures, timeout=timeout)
    finally:
        path.write_bytes(original)
        _forget_bytecode(path)
    if path.read_bytes() != original:  # pragma: no cover - a broken file system
        raise RuntimeError(f"{path} was not restored")
    outcome.seconds = round(result.seconds, 1)
    outcome.returncode = result.returncode
    outcome.failures = result.failures
    outcome.first_failure = result.failures[0] if result.failures else None
    if result.returncode is None:
        outcome.verdict = "killed"
        outcome.note = f"timeout after {timeout:g} s (counted as killed)"
    elif result.returncode != 0:
        outcome.verdict = "killed"
        if not result.failures:
            outcome.note = f"pytest exit {result.returncode}: {_last_line(result.tail)}"
    else:
        outcome.verdict = "survived"
    return outcome


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


# -- reporting ----------------------------------------------------------------------------------


def score(outcomes: Iterable[Outcome]) -> dict[str, dict[str, object]]:
    table: dict[str, dict[str, object]] = {}
    groups: dict[str, list[Outcome]] = {"overall": [], "migrate/": [], "rules/": []}
    for outcome in outcomes:
        groups["overall"].append(outcome)
        groups[f"{outcome.area}/"].append(outcome)
    for label, members in groups.items():
        killed = sum(1 for o in members if o.verdict == "killed")
        survived = sum(1 for o in members if o.verdict == "survived")
        judged = killed + survived
        table[label] = {
            "killed": killed,
            "survived": survived,
            "stale": sum(1 for o in members if o.verdict == "stale"),
            "error": sum(1 for o in members if o.verdict == "error"),
            "score": round(killed / judged, 3) if judged else None,
        }
    return table


def print_report(outcomes: list[Outcome], count_failures: bool) -> None:
    rows = []
    for outcome in outcomes:
        if outcome.verdict == "killed":
            detail = (
                f"{len(outcome.failures)} failing"
                if count_failures
                else outcome.first_failure or outcome.note or "-"
            )
            if count_failures and outcome.note:
                detail += f" ({outcome.note})"
            elif not count_failures and outcome.first_failure and outcome.note:
                detail += f" ({outcome.note})"
        else:
            detail = outcome.note or "-"
        rows.append((outcome.name, outcome.file, outcome.verdict, detail, f"{outcome.seconds:.1f}"))
    headers = ("mutant", "file", "verdict", "failures" if count_failures else "first failure", "s")
    print(_markdown_table(headers, rows))
    print()
    for label, figures in score(outcomes).items():
        value = figures["score"]
        shown = f"{value:.0%}" if isinstance(value, float) else "n/a"
        print(
            f"score {label}: {shown} (killed {figures['killed']}, survived "
            f"{figures['survived']}; stale {figures['stale']}, error {figures['error']})"
        )
    survivors = [outcome for outcome in outcomes if outcome.verdict == "survived"]
    if survivors:
        print("\nsurvivors (the suite did not notice):")
        for outcome in survivors:
            print(f"- {outcome.name} ({outcome.file}): {outcome.why}")
    stale = [outcome for outcome in outcomes if outcome.verdict == "stale"]
    if stale:
        print("\nstale (anchor gone; update the mutant):")
        for outcome in stale:
            print(f"- {outcome.name} ({outcome.file}): {outcome.note}")
    if count_failures:
        weak = [
            outcome
            for outcome in outcomes
            if outcome.name in PLANTED
            and outcome.verdict != "stale"
            and len(outcome.failures) < MIN_PLANTED_FAILURES
        ]
        for outcome in weak:
            print(
                f"\nplanted bug {outcome.name} fails only {len(outcome.failures)} test(s) "
                f"(wanted >= {MIN_PLANTED_FAILURES}): {', '.join(outcome.failures) or 'none'}"
            )


def _markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(
    outcomes: list[Outcome],
    clean: list[dict[str, object]],
    arguments: argparse.Namespace,
    dry: list[str],
    aborted: str | None,
) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.strip()
    data = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "head": head,
        "command": ["python", "benchmarks/mutants.py", *sys.argv[1:]],
        "pytest": ["python", *PYTEST_ARGS, *([] if arguments.count_failures else ["-x"])],
        "count_failures": arguments.count_failures,
        "jobs": arguments.jobs,
        "excluded": arguments.exclude,
        "timeout_seconds": arguments.timeout,
        "dry_check": dry,
        "clean_runs": clean,
        "aborted": aborted,
        "score": score(outcomes),
        "mutants": [asdict(outcome) for outcome in outcomes],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# -- the command ----------------------------------------------------------------------------------


def list_mutants() -> int:
    files = {mutant.file for mutant in MUTANTS}
    texts = {
        name: (REPO / name).read_text(encoding="utf-8") if (REPO / name).is_file() else ""
        for name in files
    }
    rows = []
    for mutant in MUTANTS:
        count = texts[mutant.file].count(mutant.old)
        status = "ok" if count == 1 else f"STALE ({count})"
        if count == 1:
            try:
                compile(texts[mutant.file].replace(mutant.old, mutant.new), mutant.file, "exec")
            except SyntaxError as error:
                status = f"DOES NOT COMPILE (line {error.lineno})"
        rows.append((mutant.name, mutant.file, status, mutant.why))
    print(_markdown_table(("mutant", "file", "anchor", "why"), rows))
    return 0 if all(row[2] == "ok" for row in rows) else 1


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument(
        "--only", action="extend", nargs="+", default=[], metavar="NAME", help="run these mutants"
    )
    parser.add_argument("--jobs", type=int, default=1, help="scratch copies run side by side")
    parser.add_argument(
        "--count-failures",
        action="store_true",
        help="run without -x and record every failing test id",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per mutant (killed)"
    )
    parser.add_argument(
        "--exclude",
        action="extend",
        nargs="+",
        default=[],
        metavar="GLOB",
        help="leave these paths out of the export (a batch still being written by someone "
        "else); a glob or a folder, relative to the repository",
    )
    parser.add_argument("--list", action="store_true", help="list the mutants and their anchors")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.list:
        return list_mutants()
    by_name = {mutant.name: mutant for mutant in MUTANTS}
    unknown = [name for name in arguments.only if name not in by_name]
    if unknown:
        print(f"unknown mutant(s): {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    chosen = [by_name[name] for name in dict.fromkeys(arguments.only)] or list(MUTANTS)
    jobs = max(1, min(arguments.jobs, len(chosen)))
    files = working_tree_files(arguments.exclude)
    print(
        f"exporting {len(files)} files into {jobs} cop{'y' if jobs == 1 else 'ies'} under "
        f"{SCRATCH}",
        flush=True,
    )
    copies = [export(job, files) for job in range(1, jobs + 1)]
    outcomes: list[Outcome] = []
    clean: list[dict[str, object]] = []
    dry: list[str] = []
    aborted: str | None = None
    try:
        dry = dry_check(copies[0])
        for line in dry:
            print(f"dry check: {line}", flush=True)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            baselines = list(pool.map(lambda c: run_pytest(c, True, arguments.timeout), copies))
        for copy, baseline in zip(copies, baselines, strict=True):
            passed = baseline.returncode == 0
            clean.append(
                {
                    "job": copy.job,
                    "passed": passed,
                    "seconds": round(baseline.seconds, 1),
                    "first_failure": baseline.failures[0] if baseline.failures else None,
                }
            )
            print(
                f"clean suite, copy {copy.job}: {'pass' if passed else 'FAIL'} in "
                f"{baseline.seconds:.0f} s",
                flush=True,
            )
            if not passed and aborted is None:
                aborted = (
                    f"the unmutated suite fails in copy {copy.job} "
                    f"(first failure: {baseline.failures[0] if baseline.failures else '-'}; "
                    f"{_last_line(baseline.tail)})"
                )
        if aborted is not None:
            for baseline in baselines:
                if baseline.returncode != 0:
                    print(baseline.tail, file=sys.stderr)
            print(f"aborted: {aborted}", file=sys.stderr)
            outcomes = [
                Outcome(m.name, m.file, m.area, "error", note=aborted, why=m.why) for m in chosen
            ]
            return 1
        free: queue.Queue[Copy] = queue.Queue()
        for copy in copies:
            free.put(copy)

        def work(mutant: Mutant) -> Outcome:
            copy = free.get()
            try:
                outcome = run_mutant(copy, mutant, arguments.count_failures, arguments.timeout)
            finally:
                free.put(copy)
            detail = (
                f"{len(outcome.failures)} failing"
                if arguments.count_failures
                else outcome.first_failure or outcome.note or ""
            )
            print(
                f"[{outcome.verdict:8}] {mutant.name} ({outcome.seconds:.0f} s) {detail}",
                flush=True,
            )
            return outcome

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes = list(pool.map(work, chosen))
        print()
        print_report(outcomes, arguments.count_failures)
        return 0
    finally:
        write_results(outcomes, clean, arguments, dry, aborted)
        print(f"\nresults: {RESULTS.relative_to(REPO)}")
        for copy in copies:
            shutil.rmtree(copy.basetemp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
