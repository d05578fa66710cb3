"""`migrate --write` verifies before it writes: a failed proof writes nothing unless --force
(DESIGN.md, *Equivalence check*, 6)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from migrate import verify
from migrate.pipeline import MIGRATE_DEFAULT, VERIFICATION_FAILED, RunOptions, run
from migrate.rule import Applicability

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "projects" / "example" / "before"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*.py")}


def _verdict(status: str) -> Any:
    def verify_planned(targets: list[verify.VerifyTarget], *_: Any) -> list[verify.VerifyResult]:
        # Stands in for the child process; what is tested is what the pipeline does with it.
        assert targets, "the example migration has a model to verify"
        return [
            verify.VerifyResult(
                target=f"{targets[0].display_file}:{targets[0].class_name}",
                kind="model",
                status=status,
                relation="orig = softmax(new, dim=1)",
                max_abs_error=0.5 if status == "fail" else 0.0,
                max_rel_error=None,
                batches=3,
                seconds=0.1,
                reason="the relation does not hold" if status == "fail" else None,
            )
        ]

    return verify_planned


@pytest.mark.parametrize(
    ("status", "force", "written"),
    [
        pytest.param("fail", False, False, id="fail-writes-nothing"),
        pytest.param("fail", True, True, id="fail-with-force-writes"),
        pytest.param("pass", False, True, id="pass-writes"),
        pytest.param("skip", False, True, id="not-verified-writes"),
    ],
)
def test_write_waits_for_the_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, force: bool, written: bool
) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "project")
    root = tmp_path / "project"
    before = _snapshot(root)
    monkeypatch.chdir(root)
    monkeypatch.setattr(verify, "start_early", lambda: None)
    monkeypatch.setattr(verify, "verify_planned", _verdict(status))
    options = RunOptions(
        paths=[Path(".")],
        default_select=MIGRATE_DEFAULT,
        fix=Applicability.UNSAFE,
        write=True,
        verify=True,
        force=force,
    )
    result = run(options)
    assert result.changed_files, "the example project has a migration to write"
    assert (_snapshot(root) != before) is written
    errors = {report.write_error for report in result.changed_files}
    assert errors == ({None} if written else {VERIFICATION_FAILED})


def test_a_failing_loss_site_blocks_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model check passes, but running the training step found a problem: nothing is
    written, since a unit is only written when all of its checks pass."""
    shutil.copytree(EXAMPLE, tmp_path / "project")
    root = tmp_path / "project"
    before = _snapshot(root)
    monkeypatch.chdir(root)
    monkeypatch.setattr(verify, "start_early", lambda: None)
    loss_site = verify.VerifyResult(
        target="tagger/train.py:21 train",
        kind="loss site",
        status="fail",
        relation=None,
        max_abs_error=None,
        max_rel_error=None,
        batches=1,
        seconds=0.1,
        reason="cross_entropy gets probabilities, not logits",
    )
    model_passes = _verdict("pass")
    monkeypatch.setattr(
        verify, "verify_planned", lambda targets, *_: [*model_passes(targets), loss_site]
    )
    options = RunOptions(
        paths=[Path(".")],
        default_select=MIGRATE_DEFAULT,
        fix=Applicability.UNSAFE,
        write=True,
        verify=True,
    )
    result = run(options)
    assert _snapshot(root) == before
    assert {report.write_error for report in result.changed_files} == {VERIFICATION_FAILED}
