"""The torch equivalence check, end to end: real torch, real child processes.

Most model cases share one `verify_models` call (one child process, torch imported once) so
the file stays fast; each test then reads its own result by id.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from migrate.verify import (
    VerifyError,
    VerifyResult,
    VerifySettings,
    VerifyTarget,
    result_to_json,
    verify_against,
    verify_models,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures" / "verify"


def fixture_target(
    package: str,
    relation: str,
    class_name: str = "Net",
    **options: object,
) -> VerifyTarget:
    """A target whose original is `<package>/model.py` and rewrite `<package>/model.after.py`."""
    original = FIXTURES / package / "model.py"
    rewritten = FIXTURES / package / "model.after.py"
    return VerifyTarget(
        file=original,
        display_file=f"{package}/model.py",
        class_name=class_name,
        original_source=original.read_text(encoding="utf-8"),
        rewritten_source=rewritten.read_text(encoding="utf-8"),
        relation=relation,
        **options,  # type: ignore[arg-type]
    )


def settings(**overrides: object) -> VerifySettings:
    values: dict[str, object] = {"project_root": FIXTURES, "model_specs": {}}
    values.update(overrides)
    return VerifySettings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    id: str
    target: VerifyTarget


CASES = [
    Case("sigmoid removal", fixture_target("sigmoid_removal", "sigmoid")),
    Case("softmax removal", fixture_target("softmax_removal", "softmax")),
    Case(
        "naive swap",
        fixture_target("naive_swap", "unknown", feeds_loss="cross_entropy"),
    ),
    Case("naive swap, no loss", fixture_target("naive_swap", "unknown")),
    Case("declared sigmoid on a swap", fixture_target("naive_swap", "sigmoid")),
    Case("needs args", fixture_target("needs_args", "sigmoid")),
    Case("conv input", fixture_target("conv_input", "sigmoid")),
    Case("embedding input", fixture_target("embedding_input", "softmax", dim=-1)),
    Case("lstm input", fixture_target("lstm_input", "softmax", class_name="Tagger")),
    Case("relative import", fixture_target("relative_import", "sigmoid")),
    Case("raises", fixture_target("raises", "identity")),
    Case("state mismatch", fixture_target("state_mismatch", "sigmoid")),
    Case("tuple output by key", fixture_target("tuple_output", "sigmoid", output_key=1)),
    Case("tuple output whole", fixture_target("tuple_output", "unknown")),
    Case("float32 fallback", fixture_target("float32_only", "sigmoid")),
    Case("rewrite breaks forward", fixture_target("rewrite_breaks", "sigmoid")),
    Case("needs cuda", fixture_target("needs_cuda", "identity")),
    Case("no input layer", fixture_target("no_input_layer", "sigmoid")),
    Case("unknown finds sigmoid", fixture_target("sigmoid_removal", "unknown")),
    Case("missing class", fixture_target("sigmoid_removal", "sigmoid", class_name="Nope")),
    Case(
        "sigmoid removal feeding CE",
        fixture_target("sigmoid_removal", "sigmoid", feeds_loss="cross_entropy"),
    ),
    Case("binary output", fixture_target("binary_output", "sigmoid")),
    Case(
        "binary output feeding CE",
        fixture_target("binary_output", "sigmoid", feeds_loss="cross_entropy"),
    ),
    Case("forced tag", fixture_target("forced_tag", "sigmoid", feeds_loss="cross_entropy")),
]


@pytest.fixture(scope="module")
def results() -> dict[str, VerifyResult]:
    found = verify_models([case.target for case in CASES], settings(timeout_seconds=30))
    assert len(found) == len(CASES)
    return {case.id: result for case, result in zip(CASES, found, strict=True)}


def test_sigmoid_removal_passes_with_sigmoid_relation(results: dict[str, VerifyResult]) -> None:
    result = results["sigmoid removal"]
    assert result.status == "pass", result.reason
    assert result.kind == "model"
    assert result.target == "sigmoid_removal/model.py:Net"
    assert result.relation == "orig = sigmoid(new)"
    assert result.batches == 3
    assert result.reason is None
    # The error is measured against the tolerance the check says it applied, which must be
    # the tight float64 one: a loose one would pass rewrites that are off by a little.
    assert result.atol is not None and result.rtol is not None
    assert result.atol <= 1e-6 and result.rtol <= 1e-6
    assert result.max_abs_error is not None and result.max_abs_error <= result.atol
    assert f"float64, tolerance atol={result.atol:g}, rtol={result.rtol:g}" in result.notes


def test_softmax_removal_passes_with_softmax_relation(results: dict[str, VerifyResult]) -> None:
    result = results["softmax removal"]
    assert result.status == "pass", result.reason
    assert result.relation == "orig = softmax(new, dim=1)"


def test_naive_swap_fails_on_relation_and_double_softmax(
    results: dict[str, VerifyResult],
) -> None:
    result = results["naive swap"]
    assert result.status == "fail"
    assert result.reason is not None
    assert "no known relation holds" in result.reason
    assert "probabilities" in result.reason
    # C = 3: floor log(1 + 2/e) = 0.551, best probability e/(e+2) = 0.576
    assert "log(1 + (C-1)/e) = 0.551 for C = 3 classes" in result.reason
    assert "e/(e+C-1) = 0.576" in result.reason


def test_probabilities_without_cross_entropy_are_only_a_note(
    results: dict[str, VerifyResult],
) -> None:
    result = results["naive swap, no loss"]
    assert result.status == "fail"  # still no relation to the sigmoid model
    assert result.reason is not None and "CrossEntropyLoss applies" not in result.reason
    assert any("probabilities" in note for note in result.notes)


def test_declared_relation_that_does_not_hold_fails(results: dict[str, VerifyResult]) -> None:
    result = results["declared sigmoid on a swap"]
    assert result.status == "fail"
    assert result.reason is not None
    assert result.reason.startswith("orig = sigmoid(new) does not hold")


def test_constructor_arguments_without_config_skip(results: dict[str, VerifyResult]) -> None:
    result = results["needs args"]
    assert result.status == "skip"
    assert result.reason is not None
    assert "Net() needs constructor arguments (in_features, num_classes)" in result.reason
    assert '[tool.ml2mc.verify] "needs_args.model:Net"' in result.reason


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(
            {"factory": "needs_args.model:build", "kwargs": {"num_classes": 3}}, id="factory"
        ),
        pytest.param(
            {"factory": "needs_args.factories:make_net", "args": [4]}, id="factory elsewhere"
        ),
        pytest.param(
            {
                "kwargs": {"in_features": 6, "num_classes": 2},
                "input": "needs_args.model:sample_batch",
            },
            id="kwargs and input function",
        ),
        pytest.param({"args": [6, 2], "shape": [4, 6], "dtype": "float32"}, id="args and shape"),
    ],
)
def test_config_spec_builds_the_model(spec: dict[str, object]) -> None:
    (result,) = verify_models(
        [fixture_target("needs_args", "sigmoid")],
        settings(model_specs={"needs_args.model:Net": spec}),
    )
    assert result.status == "pass", result.reason
    assert result.relation == "orig = sigmoid(new)"


def test_conv_input_is_inferred_by_trying_spatial_sizes(
    results: dict[str, VerifyResult],
) -> None:
    result = results["conv input"]
    assert result.status == "pass", result.reason
    assert any("(8, 3, 8, 8)" in note and "Conv2d" in note for note in result.notes)


def test_embedding_input_uses_token_ids(results: dict[str, VerifyResult]) -> None:
    result = results["embedding input"]
    assert result.status == "pass", result.reason
    assert result.relation == "orig = softmax(new, dim=-1)"
    assert any("token ids in [0, 50)" in note for note in result.notes)


def test_lstm_input_follows_batch_first(results: dict[str, VerifyResult]) -> None:
    result = results["lstm input"]
    assert result.status == "pass", result.reason
    assert any("(8, 12, 5)" in note for note in result.notes)


def test_relative_imports_resolve_for_both_versions(results: dict[str, VerifyResult]) -> None:
    result = results["relative import"]
    assert result.status == "pass", result.reason


def test_model_that_raises_is_skipped_with_the_error(results: dict[str, VerifyResult]) -> None:
    result = results["raises"]
    assert result.status == "skip"
    assert result.reason is not None
    assert "ValueError: this model only runs on the training cluster" in result.reason
    assert "model.py:10 in forward" in result.reason


def test_renamed_layer_fails_because_checkpoints_would_not_load(
    results: dict[str, VerifyResult],
) -> None:
    result = results["state mismatch"]
    assert result.status == "fail"
    assert result.reason is not None
    assert "old checkpoints would not load" in result.reason
    assert "missing keys: classifier.weight, classifier.bias" in result.reason
    assert "unexpected keys: fc.weight, fc.bias" in result.reason


def test_output_key_selects_the_classification_output(results: dict[str, VerifyResult]) -> None:
    result = results["tuple output by key"]
    assert result.status == "pass", result.reason
    assert result.relation == "orig = sigmoid(new)"


def test_unknown_relation_on_tuple_output_names_the_changed_element(
    results: dict[str, VerifyResult],
) -> None:
    result = results["tuple output whole"]
    assert result.status == "pass", result.reason
    assert result.relation == "orig[1] = sigmoid(new[1])"


def test_float64_failure_falls_back_to_float32(results: dict[str, VerifyResult]) -> None:
    result = results["float32 fallback"]
    assert result.status == "pass", result.reason
    assert any("fell back to float32" in note for note in result.notes)
    assert any(note.startswith("float32, tolerance atol=1e-05") for note in result.notes)


def test_rewrite_that_breaks_forward_fails(results: dict[str, VerifyResult]) -> None:
    result = results["rewrite breaks forward"]
    assert result.status == "fail"
    assert result.reason is not None
    assert "the rewritten Net raised RuntimeError" in result.reason
    assert "which the original accepts" in result.reason


def test_cuda_only_model_is_skipped(results: dict[str, VerifyResult]) -> None:
    result = results["needs cuda"]
    assert result.status == "skip"
    assert result.reason is not None and "needs CUDA" in result.reason


def test_model_without_inferable_input_is_skipped(results: dict[str, VerifyResult]) -> None:
    result = results["no input layer"]
    assert result.status == "skip"
    assert result.reason is not None
    assert result.reason.startswith("cannot infer an input for Net")
    assert "shape = [8, ...]" in result.reason


def test_unknown_relation_reports_the_one_that_holds(results: dict[str, VerifyResult]) -> None:
    result = results["unknown finds sigmoid"]
    assert result.status == "pass", result.reason
    assert result.relation == "orig = sigmoid(new)"


def test_missing_class_is_reported(results: dict[str, VerifyResult]) -> None:
    result = results["missing class"]
    assert result.status == "skip"
    assert result.reason == "the original sigmoid_removal.model has no class Nope"


# -- the inference path and the double-softmax comparison -----------------------------------


def _note(result: VerifyResult, start: str) -> str:
    (note,) = [note for note in result.notes if note.startswith(start)]
    return note


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param(
            "sigmoid removal",
            "inference path: softmax(new, dim=1) rows sum to 1 within 2.2e-16 (allowed 1e-09); "
            "argmax(softmax(new, dim=1)) = argmax(new) = argmax(orig) on 24/24 rows (1.000) "
            "over 3 batches, C=3",
            id="sigmoid",
        ),
        pytest.param(
            "embedding input",
            "argmax(softmax(new, dim=-1)) = argmax(new) = argmax(orig) on 24/24 rows",
            id="softmax dim -1",
        ),
        pytest.param(
            "tuple output whole",
            "argmax(softmax(new[1], dim=1)) = argmax(new[1]) = argmax(orig[1]) on 24/24 rows",
            id="tuple element",
        ),
        pytest.param("float32 fallback", "(allowed 1e-05)", id="float32 tolerance"),
    ],
)
def test_inference_path_is_checked_on_the_same_batches(
    results: dict[str, VerifyResult], case: str, expected: str
) -> None:
    result = results[case]
    assert result.status == "pass", result.reason
    assert expected in _note(result, "inference path: ")


def test_identity_relation_has_no_inference_check(results: dict[str, VerifyResult]) -> None:
    assert not any("inference path" in note for note in results["raises"].notes)


def test_binary_output_is_checked_by_threshold(results: dict[str, VerifyResult]) -> None:
    result = results["binary output"]
    assert result.status == "pass", result.reason
    note = _note(result, "inference path: ")
    assert "one score per sample" in note
    assert "threshold decisions new > 0 and orig > 0.5 agree on 24/24 outputs (1.000)" in note


def test_inference_path_that_breaks_fails(results: dict[str, VerifyResult]) -> None:
    # orig = sigmoid(new) holds (sigmoid(+inf) = 1), but softmax over +inf is NaN.
    result = results["forced tag"]
    assert result.status == "fail"
    assert result.relation == "orig = sigmoid(new)"
    assert result.reason is not None
    assert result.reason.startswith("inference path: softmax(new, dim=1) rows do not sum to 1")
    assert "max deviation inf (allowed 1e-09)" in result.reason
    assert not any("double softmax" in note for note in result.notes)


def test_passing_model_feeding_cross_entropy_shows_the_double_softmax_cost(
    results: dict[str, VerifyResult],
) -> None:
    result = results["sigmoid removal feeding CE"]
    assert result.status == "pass", result.reason
    note = _note(result, "for comparison, double softmax")
    # C = 3: log(1 + 2/e) = 0.5514 and e/(e+2) = 0.5761, measured and by formula
    assert note.count("0.5514") == 2
    assert note.count("0.5761") == 2
    assert "for C=3" in note
    assert not any("double softmax" in note for note in results["sigmoid removal"].notes)


def test_single_output_feeding_cross_entropy_is_flagged(results: dict[str, VerifyResult]) -> None:
    result = results["binary output feeding CE"]
    assert result.status == "pass", result.reason
    assert any("CrossEntropyLoss over one class is always 0" in note for note in result.notes)


def test_every_failure_and_skip_has_a_reason(results: dict[str, VerifyResult]) -> None:
    for result in results.values():
        if result.status != "pass":
            assert result.reason, result.target


def test_parent_interpreter_stays_clean(results: dict[str, VerifyResult]) -> None:
    assert results  # the verification ran in this process's session
    leaked = [name for name in sys.modules if name.split(".")[0] in _fixture_packages()]
    assert leaked == []


def _fixture_packages() -> set[str]:
    return {path.name for path in FIXTURES.iterdir() if (path / "__init__.py").is_file()}


def test_hang_and_crash_cost_one_result_each() -> None:
    targets = [
        fixture_target("hangs", "identity"),
        fixture_target("sigmoid_removal", "sigmoid"),
        fixture_target("crashes", "identity"),
        fixture_target("softmax_removal", "softmax"),
    ]
    hang, after_hang, crash, after_crash = verify_models(targets, settings(timeout_seconds=3))
    assert hang.status == "skip"
    assert hang.reason is not None
    assert hang.reason.startswith("timed out after 3s while running the original Net")
    assert 3 <= hang.seconds < 10
    assert after_hang.status == "pass", after_hang.reason
    assert crash.status == "skip"
    assert crash.reason is not None
    assert "the verification process died while running the original Net" in crash.reason
    assert "SIGSEGV" in crash.reason
    assert after_crash.status == "pass", after_crash.reason


def test_unknown_relation_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown relation 'tanh'"):
        verify_models([fixture_target("sigmoid_removal", "tanh")], settings())


def test_no_targets_start_no_process() -> None:
    assert verify_models([], settings()) == []


# -- verify --against -------------------------------------------------------------------------


def _git(repo: Path, *arguments: str) -> None:
    environment = dict(os.environ)
    environment.update(
        GIT_AUTHOR_NAME="ml2mc tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="ml2mc tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
    )
    subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True, env=environment)


def _migrated_repo(tmp_path: Path, after: str) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "against_repo" / "before", repo)
    _git(repo, "init", "--quiet")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "multi-label")
    shutil.copytree(FIXTURES / "against_repo" / after, repo, dirs_exist_ok=True)
    return repo


def _untracked(repo: Path) -> list[str]:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in status.splitlines() if not line.startswith(" M")]


def test_against_correct_migration_passes(tmp_path: Path) -> None:
    repo = _migrated_repo(tmp_path, "after_correct")
    found = verify_against([], "HEAD", settings(project_root=repo), repo)
    targets = [result.target.rsplit("/", 1)[-1] for result in found]
    assert targets == ["model.py:Tagger", "train.py:7 train_step"]
    model, loss_site = found
    assert model.status == "pass", model.reason
    assert model.relation == "orig = sigmoid(new)"
    # train_step ran on both trees: BCE on the original, cross_entropy on the logits after.
    assert (loss_site.kind, loss_site.status) == ("loss site", "pass"), loss_site.reason
    assert "losses: original binary_cross_entropy 0.6316; migrated cross_entropy" in str(
        loss_site.notes
    )
    # The user's project gains nothing: no __pycache__, no stray files.
    assert _untracked(repo) == []


def test_against_a_migration_to_log_softmax_and_nll_passes(tmp_path: Path) -> None:
    """LogSoftmax + NLLLoss is logits + CrossEntropyLoss: new = log_softmax(logit(orig))."""
    repo = _migrated_repo(tmp_path, "after_log_softmax")
    result, loss_site = verify_against([], "HEAD", settings(project_root=repo), repo)
    assert result.status == "pass", result.reason
    assert result.relation == "new = log_softmax(logit(orig), dim=1)"
    assert any("argmax(new) = argmax(orig) on" in note for note in result.notes)
    assert (loss_site.kind, loss_site.status) == ("loss site", "pass"), loss_site.reason
    assert "migrated nll_loss" in str(loss_site.notes)


def test_against_naive_migration_fails(tmp_path: Path) -> None:
    repo = _migrated_repo(tmp_path, "after_naive")
    result, loss_site = verify_against([repo / "tagger"], "HEAD", settings(project_root=repo), repo)
    # The training step itself shows the double softmax: cross_entropy gets probabilities.
    assert (loss_site.kind, loss_site.status) == ("loss site", "fail")
    assert str(loss_site.reason).startswith("cross_entropy gets probabilities, not logits")
    assert result.status == "fail"
    assert result.reason is not None
    assert "probabilities" in result.reason
    assert "the loss cannot go below log(1 + (C-1)/e) = 0.551" in result.reason


def test_against_without_changes_verifies_nothing(tmp_path: Path) -> None:
    repo = _migrated_repo(tmp_path, "before")
    assert verify_against([], "HEAD", settings(project_root=repo), repo) == []


def test_against_unknown_ref_is_an_error(tmp_path: Path) -> None:
    repo = _migrated_repo(tmp_path, "after_correct")
    with pytest.raises(VerifyError, match="git ref 'no-such-branch' does not name a commit"):
        verify_against([], "no-such-branch", settings(project_root=repo), repo)


def test_against_outside_a_repository_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(VerifyError, match="is not inside a git repository"):
        verify_against([], "HEAD", settings(project_root=tmp_path), tmp_path)


# -- the public surface -----------------------------------------------------------------------


def test_result_to_json_matches_the_design_keys(results: dict[str, VerifyResult]) -> None:
    entry = result_to_json(results["softmax removal"])
    assert list(entry)[:6] == ["target", "status", "relation", "max_abs_error", "batches", "reason"]
    assert {"kind", "max_rel_error", "seconds", "notes", "atol", "rtol"} <= set(entry)
    assert entry["relation"] == "orig = softmax(new, dim=1)"
    json.dumps(entry, allow_nan=False)
    json.dumps(result_to_json(results["state mismatch"]), allow_nan=False)


def test_importing_verify_does_not_import_torch() -> None:
    code = "import migrate.verify, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_torch_that_cannot_be_imported_skips_every_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "torch.py").write_text("raise ImportError('no torch in this environment')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    targets = [fixture_target("sigmoid_removal", "sigmoid"), fixture_target("raises", "identity")]
    found = verify_models(targets, settings())
    assert [result.status for result in found] == ["skip", "skip"]
    for result in found:
        assert result.reason is not None
        assert result.reason.startswith("torch could not be imported by the verification process")
        assert "no torch in this environment" in result.reason


# -- a child started early ------------------------------------------------------------------


def test_early_child_takes_the_job() -> None:
    from migrate.verify import _runner, cancel_early, start_early

    start_early()
    try:
        early = _runner._early
        assert early is not None
        (result,) = verify_models([fixture_target("sigmoid_removal", "sigmoid")], settings())
        assert result.status == "pass", result.reason
        assert _runner._early is None  # claimed, and stopped when its job was done
        assert early.child.process.poll() is not None
        assert not Path(early.scratch.name).exists()
    finally:
        cancel_early()


def test_cancelled_early_child_is_stopped() -> None:
    from migrate.verify import _runner, cancel_early, start_early

    start_early()
    early = _runner._early
    assert early is not None
    start_early()  # a second call keeps the running child
    assert _runner._early is early
    cancel_early()
    assert early.child.process.poll() is not None
    assert _runner._early is None
    assert not Path(early.scratch.name).exists()


def test_early_child_from_another_environment_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrate.verify import cancel_early, start_early

    start_early()
    try:
        shadow = tmp_path / "shadow"
        shadow.mkdir()
        (shadow / "torch.py").write_text("raise ImportError('no torch in this environment')\n")
        monkeypatch.setenv("PYTHONPATH", str(shadow))
        (result,) = verify_models([fixture_target("sigmoid_removal", "sigmoid")], settings())
        assert result.status == "skip"
        assert result.reason is not None and "no torch in this environment" in result.reason
    finally:
        cancel_early()


def test_early_child_exits_when_its_parent_dies() -> None:
    code = (
        "import os, sys\n"
        "from migrate.verify import _runner\n"
        "_runner.start_early()\n"
        "print(_runner._early.child.process.pid, _runner._early.scratch.name, flush=True)\n"
        "os._exit(0)  # no atexit, no cleanup: as if killed\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    )
    pid_text, scratch = completed.stdout.split()
    status = Path(f"/proc/{pid_text}/status")
    if not status.parent.parent.is_dir():
        pytest.skip("needs /proc to watch a process that is not our child")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            state = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            break
        if "\nState:\tZ" in state:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the early child {pid_text} outlived its parent")
    shutil.rmtree(scratch, ignore_errors=True)


# -- which classes `--against` verifies (pure: no git, no torch) ------------------------------

BASE = """\
import torch
from torch import nn

SCALE = 2.0


class Net(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x) * SCALE


class Other(nn.Module):
    def forward(self, x):
        return x


class NotAModel:
    pass
"""


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(("torch.sigmoid(x) * SCALE", "x * SCALE"), ["Net"], id="one class body"),
        pytest.param(("SCALE = 2.0", "SCALE = 3.0"), ["Net", "Other"], id="module context"),
        pytest.param(("import torch\n", "import torch\nimport os\n"), [], id="imports only"),
        # A helper class is context a model may use, so every model is checked again.
        pytest.param(
            ("class NotAModel:\n    pass", "class NotAModel:\n    x = 1"),
            ["Net", "Other"],
            id="helper class",
        ),
        pytest.param(
            ("class NotAModel:", 'if __name__ == "__main__":\n    print(1)\n\n\nclass NotAModel:'),
            [],
            id="main guard",
        ),
    ],
)
def test_against_selects_changed_model_classes(edit: tuple[str, str], expected: list[str]) -> None:
    from migrate.verify._against import ChangedFile, changed_models

    old, new = edit
    assert old in BASE
    changed = ChangedFile(Path("model.py"), BASE, BASE.replace(old, new))
    assert [model.class_name for model in changed_models(changed)] == expected
