"""Bring the labelled repositories of ``benchmarks/real/<set>/`` at the commits labelled.

The labels name each repository and commit; nothing of their code is kept in this project.
In the sessions that labelled them, the repositories came from the ``fetch`` tool, which puts
a git directory at ``/work/.mirror/<owner>+<name>/repo``. Elsewhere this script clones them
from GitHub into the same layout (``--clone``), so ``score.py --mirrors DIR`` finds them.

    python benchmarks/real/fetch.py set1                    # which are present, which missing
    python benchmarks/real/fetch.py set1 --clone --mirrors ~/ml2mc-mirrors
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from real_repos import find_git_dir  # noqa: E402
from score import load_labels  # noqa: E402


def has_commit(git_dir: Path, commit: str) -> bool:
    probe = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
    )
    return probe.returncode == 0


def clone(slug: str, mirrors: Path) -> Path:
    target = mirrors / slug.replace("/", "+") / "repo"
    target.parent.mkdir(parents=True, exist_ok=True)
    url = f"https://github.com/{slug}.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", url, str(target)], check=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("set")
    parser.add_argument(
        "--mirrors", type=Path, default=Path(os.environ.get("ML2MC_MIRRORS", "/work/.mirror"))
    )
    parser.add_argument("--clone", action="store_true", help="clone what is missing from GitHub")
    args = parser.parse_args(argv)
    set_dir = Path(args.set) if Path(args.set).is_dir() else HERE / args.set
    missing = 0
    for labels in load_labels(set_dir):
        git_dir = find_git_dir(args.mirrors, labels.slug)
        if git_dir is None and args.clone:
            git_dir = clone(labels.slug, args.mirrors)
        if git_dir is None:
            state = "missing"
        elif has_commit(git_dir, labels.commit):
            state = f"ok {git_dir}"
        else:
            state = f"commit {labels.commit[:12]} absent from {git_dir}"
        missing += not state.startswith("ok")
        print(f"{labels.slug} {labels.commit[:12]}: {state}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
