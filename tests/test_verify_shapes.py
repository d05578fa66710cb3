"""`verify --against HEAD` on the shapes that used to pass wrongly: each is a small project
committed in its multi-label form, then changed the way a person migrating it would.

Each wrong migration must fail for its own reason, the correct ones must pass, and user code
must never write into the project (it runs in copies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, run
from migrate.rule import Applicability
from migrate.verify import (
    VerifyError,
    VerifyResult,
    VerifySettings,
    settings_from_config,
    verify_against,
)

SHAPES = Path(__file__).resolve().parents[1] / "fixtures" / "verify" / "shapes"
EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "example" / "before"


def _git(repo: Path, *arguments: str) -> None:
    environment = dict(os.environ)
    environment.update(
        GIT_AUTHOR_NAME="ml2mc tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="ml2mc tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
    )
    subprocess.run(["git", *arguments], cwd=repo, check=True, capture_output=True, env=environment)


def _repository(tmp_path: Path, before: Path, after: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(before, repo)
    _git(repo, "init", "--quiet")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "multi-label")
    shutil.copytree(after, repo, dirs_exist_ok=True)
    return repo


def _verify(repo: Path) -> dict[str, VerifyResult]:
    settings = VerifySettings(project_root=repo, model_specs={}, timeout_seconds=60)
    return {result.target: result for result in verify_against([], "HEAD", settings, repo)}


def _shape(tmp_path: Path, after: str) -> dict[str, VerifyResult]:
    return _verify(_repository(tmp_path, SHAPES / "before", SHAPES / after))


def _one(results: dict[str, VerifyResult], ending: str) -> VerifyResult:
    (found,) = [result for target, result in results.items() if target.endswith(ending)]
    return found


def _statuses(results: dict[str, VerifyResult]) -> dict[str, tuple[str, str]]:
    return {
        target.rsplit("/", 1)[-1]: (result.kind, result.status)
        for target, result in results.items()
    }


def test_a_correct_migration_passes_its_loss_site_and_readers(tmp_path: Path) -> None:
    results = _shape(tmp_path, "after_correct")
    assert _statuses(results) == {
        "predict.py:4 predict_proba": ("reader", "pass"),
        "predict.py:9 predict": ("reader", "pass"),
        "train.py:7 train_step": ("loss site", "pass"),
        "train.py:16 main": ("function", "skip"),
    }
    loss_site = _one(results, "train_step")
    notes = " ".join(loss_site.notes)
    # Both trees ran: BCE on the original's sigmoid outputs, cross_entropy on the logits.
    assert "losses: original binary_cross_entropy" in notes
    assert "migrated cross_entropy" in notes
    assert "targets given as indices (original: one-hot)" in notes


def test_softmax_left_in_the_training_step_fails(tmp_path: Path) -> None:
    loss_site = _one(_shape(tmp_path, "after_softmax_in_loop"), "train_step")
    assert (loss_site.kind, loss_site.status) == ("loss site", "fail")
    assert str(loss_site.reason).startswith(
        "cross_entropy gets probabilities (softmax(output, class axis)), not logits"
    )


def test_a_reader_that_still_thresholds_fails(tmp_path: Path) -> None:
    results = _shape(tmp_path, "after_threshold_left")
    predict = _one(results, "predict.py:9 predict")
    assert predict.status == "fail"
    assert str(predict.reason).startswith("a threshold `> 0.5` on output (scores)")
    assert _one(results, "predict_proba").status == "pass"


def test_a_training_change_alone_is_verified(tmp_path: Path) -> None:
    """No model class changed (the sigmoid is still in the head): the training step is run,
    and its cross_entropy gets the sigmoid's values."""
    loss_site = _one(_shape(tmp_path, "after_train_only"), "train_step")
    assert loss_site.status == "fail"
    assert str(loss_site.reason).startswith("cross_entropy gets values in [0, 1]")


def test_a_head_widened_in_a_sibling_module_is_not_verified(tmp_path: Path) -> None:
    """The old weights cannot load into a head with one more class: nothing can be compared.
    A migration may change the label set on purpose, so this is not a failure; it is never a
    pass either (and `--strict` fails it)."""
    results = _shape(tmp_path, "after_sibling_width")
    loss_site = _one(results, "train_step")
    assert loss_site.status == "skip"
    assert str(loss_site.reason).startswith(
        "the migrated model has 5 classes where the original had 4: the original's weights "
        "do not load"
    )


def test_log_softmax_with_nll_loss_passes(tmp_path: Path) -> None:
    results = _shape(tmp_path, "after_log_softmax")
    assert _one(results, "train_step").status == "pass"
    assert "migrated nll_loss" in " ".join(_one(results, "train_step").notes)
    assert _one(results, "predict.py:4 predict_proba").status == "pass"
    assert _one(results, "predict.py:9 predict").status == "pass"


def test_user_code_never_writes_into_the_project(tmp_path: Path) -> None:
    repo = _repository(tmp_path, SHAPES / "before", SHAPES / "after_side_effect")
    results = _verify(repo)
    assert _one(results, "train_step").status == "pass"
    left = sorted(path.name for path in repo.rglob("*") if ".git" not in path.parts)
    assert "checkpoint.pt" not in left
    assert not any(name == "__pycache__" for name in left)


def test_a_binary_head_moved_to_cross_entropy_fails(tmp_path: Path) -> None:
    results = _verify(
        _repository(tmp_path, SHAPES / "binary" / "before", SHAPES / "binary" / "after")
    )
    loss_site = _one(results, "fit_step")
    assert loss_site.status == "fail"
    assert str(loss_site.reason).startswith("cross_entropy gets one class column")


def test_a_head_patched_by_a_factory_is_built_by_the_factory(tmp_path: Path) -> None:
    results = _verify(
        _repository(tmp_path, SHAPES / "factory" / "before", SHAPES / "factory" / "after")
    )
    loss_site = _one(results, "training_loss")
    assert loss_site.status == "pass", loss_site.reason
    assert "ran with ecg.build:build_model" in " ".join(loss_site.notes)


@pytest.mark.parametrize(
    ("mutant", "expected"),
    [
        pytest.param("after_softmax_in_loop", "fail", id="double softmax"),
        pytest.param("after_correct", "pass", id="control"),
    ],
)
def test_the_loss_site_verdict_comes_from_the_run(
    tmp_path: Path, mutant: str, expected: str
) -> None:
    """The same project, one line apart: only running the step tells them apart."""
    assert _one(_shape(tmp_path, mutant), "train_step").status == expected


def test_a_function_that_cannot_be_called_is_not_verified(tmp_path: Path) -> None:
    """Nothing says what `names` or `temperature` should be: those readers are listed with
    the reason, never counted as a pass."""
    results = _shape(tmp_path, "after_unbindable")
    summarize = _one(results, "summarize")
    assert (summarize.status, summarize.batches) == ("skip", 0)
    assert summarize.reason == (
        "the original could not be run: cannot tell what to pass as `names` to summarize"
    )
    # New in the migrated tree: the original still built the model and left its weights.
    sharpened = _one(results, "sharpened")
    assert (sharpened.status, sharpened.batches) == ("skip", 0)
    assert sharpened.reason == (
        "the migrated version could not be run: cannot tell what to pass as `temperature` "
        "to sharpened"
    )


def test_a_model_that_needs_arguments_is_built_by_the_configured_hook(tmp_path: Path) -> None:
    """Without `[tool.ml2mc.verify] build`, nothing can build `Net(n_in, n_out)`: the step is
    not verified, and says why. With the hook (and the inputs hook), it runs and passes."""
    project = SHAPES / "needs_args"
    repo = _repository(tmp_path, project / "before", project / "after")
    settings = VerifySettings(project_root=repo, model_specs={}, timeout_seconds=60)
    model, step = verify_against([], "HEAD", settings, repo)
    assert (model.status, step.status) == ("skip", "skip")
    assert str(model.reason).startswith("Net() needs constructor arguments (n_in, n_out)")
    assert "net.model:Net() needs `n_in`; set [tool.ml2mc.verify] build" in str(step.reason)
    hooked = settings_from_config(
        {"build": "net.hooks:verification_model", "inputs": "net.hooks:verification_batch"},
        repo,
        60,
    )
    model, step = verify_against([], "HEAD", hooked, repo)
    assert (model.status, model.relation) == ("pass", "orig = sigmoid(new)"), model.reason
    assert "input: from net.hooks:verification_batch" in model.notes
    assert step.status == "pass", step.reason
    assert "ran with net.hooks:verification_model on from net.hooks:verification_batch" in " ".join(
        step.notes
    )


def test_a_hook_that_is_not_a_reference_is_a_clear_error() -> None:
    with pytest.raises(VerifyError, match=r'build must be "package\.module:function"'):
        settings_from_config({"build": "make_model"}, SHAPES)


def test_a_dry_run_migration_runs_user_code_only_in_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`migrate` without `--write` verifies before it would write: the model module saves a
    checkpoint whenever it is imported, and that file must land in a copy, not in the project."""
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    model = project / "tagger" / "model.py"
    model.write_text(
        model.read_text(encoding="utf-8")
        + '\n\n__import__("torch").save(TagClassifier().state_dict(), "checkpoint.pt")\n',
        encoding="utf-8",
    )
    before = _files(project)
    monkeypatch.chdir(project)
    options = RunOptions(
        paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE, verify=True
    )
    result = run(options)
    kinds = {(item.kind, item.status) for item in result.verification}
    assert {("model", "pass"), ("loss site", "pass"), ("reader", "pass")} <= kinds
    assert _files(project) == before


def _files(root: Path) -> dict[Path, bytes]:
    return {path.relative_to(root): path.read_bytes() for path in root.rglob("*") if path.is_file()}
