"""`migrate --interactive` answers once per migration unit: a unit (a model output with every
loss and reader its value reaches) is written whole or not at all, so no answer can leave a
model returning logits to a `BCELoss` that expects probabilities. Answers come from a pipe."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, run
from migrate.rule import Applicability

Cli = Callable[..., Result]
Snapshot = Callable[[Path], dict[str, tuple[bytes, int]]]
UNIT_FILES = ("tagger/model.py", "tagger/predict.py", "tagger/train.py")


def _planned() -> dict[str, str]:
    """What the migration would write, by display path."""
    options = RunOptions(
        paths=[Path(".")], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE
    )
    return {report.display: report.outcome.fixed for report in run(options).changed_files}


def test_the_example_is_one_unit_of_three_files(example: Path) -> None:
    assert sorted(_planned()) == list(UNIT_FILES)


@pytest.mark.parametrize("answers", ["n\ny\ny\n", "n\n", "q\n", ""])
def test_rejecting_any_part_of_a_unit_writes_none_of_its_files(
    example: Path, cli: Cli, snapshot: Snapshot, answers: str
) -> None:
    """A hunk-by-hunk review used to write what was accepted: `n y y` wrote the reader and the
    loss of a model still returning probabilities (`y y n`, a model returning logits to
    `BCELoss`). One question now covers the unit; the answers after it are not read."""
    before = snapshot(example)
    result = cli("migrate", "--interactive", "--no-verify", stdin=answers)
    assert result.exit_code == 0, result.output
    assert snapshot(example) == before, "no file of the unit may change"
    assert "0 of 1 unit(s) accepted; 0 file(s) written" in result.stdout
    if answers:
        assert "a unit is written whole or not at all" in result.stdout


def test_accepting_the_unit_writes_every_file(example: Path, cli: Cli) -> None:
    planned = _planned()
    result = cli("migrate", "--interactive", "--no-verify", stdin="y\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("[y,n,a,q,?]?") == 1, "one question for the one unit"
    for display, text in planned.items():
        assert (example / display).read_text() == text, display
    assert "1 of 1 unit(s) accepted; 3 file(s) written" in result.stdout
    again = cli("migrate", "--check", "--no-verify")
    assert again.exit_code == 0, again.output


def test_every_hunk_of_the_unit_is_shown_before_the_question(example: Path, cli: Cli) -> None:
    result = cli("migrate", "--interactive", "--no-verify", stdin="n\n")
    question = result.stdout.index("[y,n,a,q,?]?")
    for display in UNIT_FILES:
        assert result.stdout.index(f"{display} ─") < question, display
    assert "unit 1/1: tagger/model.py, tagger/predict.py, tagger/train.py" in result.stdout


def test_a_piped_answer_ends_the_prompt_line(example: Path, cli: Cli) -> None:
    result = cli("migrate", "--interactive", "--no-verify", stdin="?\nn\n")
    lines = result.stdout.splitlines()
    prompts = [line for line in lines if "[y,n,a,q,?]?" in line]
    assert [line.rsplit("? ", 1)[1] for line in prompts] == ["?", "n"], prompts


def test_a_half_migrated_tree_fails_migrate_check(example: Path, cli: Cli) -> None:
    """Model and reader migrated by hand, the loss left as `BCELoss`: the unit is refused, and
    `migrate --check` (multi-label code left) exits 1."""
    planned = _planned()
    for display in ("tagger/model.py", "tagger/predict.py"):
        (example / display).write_text(planned[display])
    result = cli("migrate", "--check", "--no-verify")
    assert "unit refused" in result.stdout
    assert result.exit_code == 1, result.output


def test_the_readme_shows_what_the_review_prints(example: Path, cli: Cli) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    lead = "On the example, one unit of three files, accepted:\n\n```text\n"
    start = readme.index(lead) + len(lead)
    shown = readme[start : readme.index("```\n", start)]
    result = cli("migrate", "--interactive", stdin="y\n")
    assert result.stdout == shown


def test_a_unit_with_uncommitted_changes_is_refused_before_the_review(
    example: Path, cli: Cli, snapshot: Snapshot
) -> None:
    """As under `--write`: a unit touching a file with uncommitted changes is not offered (and
    `--allow-dirty` offers it)."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=example, check=True)
    subprocess.run(["git", "add", "-A"], cwd=example, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=example, check=True)
    with (example / "tagger" / "predict.py").open("a") as handle:
        handle.write("# a local edit\n")
    before = snapshot(example)
    result = cli("migrate", "--interactive", stdin="y\n")
    assert "unit refused, nothing of it written" in result.stdout
    assert "uncommitted changes" in result.stdout
    assert "[y,n,a,q,?]?" not in result.stdout, "nothing is offered"
    assert "Nothing can be applied until the refused units are resolved." in result.stdout
    assert "Nothing to change." not in result.stdout
    assert snapshot(example) == before
    allowed = cli("migrate", "--interactive", "--allow-dirty", stdin="y\n")
    assert "1 of 1 unit(s) accepted; 3 file(s) written" in allowed.stdout
