"""Run ml2mc on real public multi-label PyTorch repositories (see benchmarks/real_repos.md).

The repositories, the commits and the folders scanned are recorded in `REPOS`; nothing of
their code is kept here. Given fetched git directories (bare or not), each repository is
extracted at its commit into a temporary folder (only `.py` files and `pyproject.toml` /
`setup.cfg`, read with `git cat-file`, so missing large or LFS blobs do not matter) and the
tool is run exactly as in the labelled evaluation:

    python -m migrate migrate . --no-verify --output-format json            (dry run)
    python -m migrate migrate . --write --no-verify --output-format json    (write)
    python -m migrate migrate . --check --no-verify --output-format json    (rerun)

Per repository it prints: files scanned, files changed, refused units, MC001 parse errors,
changed files that no longer compile, whether the dry run announced the same changes as the
write, and whether the rerun is a no-op; and the figures recorded on the first run.

    python benchmarks/real_repos.py --mirrors /work/.mirror
    REAL_REPOS_MIRRORS=/work/.mirror python benchmarks/real_repos.py --json
    python benchmarks/real_repos.py --git-dir arnoweng/CheXNet=/path/to/CheXNet.git

`--mirrors DIR` looks for `DIR/<owner>+<name>/repo[/.git]`, `DIR/<owner>+<name>[.git]` and
`DIR/<owner>/<name>[.git]`. The git directories are only read (ls-tree, cat-file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Repo:
    slug: str  # owner/name on GitHub
    commit: str
    subfolder: str  # folder scanned, relative to the repository root
    # first-run figures (benchmarks/real_repos.md, section 3); never edited afterwards
    recorded_changed: int
    recorded_refused: int


REPOS: tuple[Repo, ...] = (
    Repo("arnoweng/CheXNet", "3d45ee77e2cfe6ec81bf1b87e2ed4e3fc10af6c1", ".", 0, 0),
    Repo("jrzech/reproduce-chexnet", "a011a9ab108cb03a533aeab52dc934b02a823ac8", ".", 0, 1),
    Repo("gathierry/CheXNet-PyTorch", "c4dc6d258ad97c0590f7e8af1f49402b3a7f1d0a", ".", 0, 0),
    Repo("Megvii-Nanjing/ML-GCN", "5517d6ff8012ead45c26a07b3a9d960cdaa0b9d1", ".", 0, 0),
    Repo(
        "qiuqiangkong/audioset_tagging_cnn",
        "d2f4b8c18eab44737fcc0de1248ae21eb43f6aa4",
        ".",
        0,
        1,
    ),
    Repo(
        "pranoyr/multi-label-classification-pytorch",
        "4cce29c0797e0fc2bc92e0d29e6f4df1dbe7c05b",
        ".",
        2,
        0,
    ),
    Repo(
        "nicholas-tayag/pytorch-multilabel-vision",
        "c1147dc8399eb855a39ca93faa5f0727403ef9bc",
        ".",
        0,
        1,
    ),
    Repo(
        "trungnguyennhat/pytorch-multilabel-emotion",
        "79ac6ff17f08d24b4d833356cec6122f8a658fda",
        ".",
        0,
        1,
    ),
    Repo(
        "fazli-m9929/bert-multi-label-classification",
        "4243fa4342b3e9a781de574527ae36b86e9f5f8a",
        ".",
        1,
        1,
    ),
)

KEPT_NAMES = ("pyproject.toml", "setup.cfg")


@dataclass
class Result:
    slug: str
    commit: str
    status: str = "ok"  # ok | missing | error
    detail: str = ""
    files_scanned: int = 0
    files_changed: int = 0
    changed: list[str] = field(default_factory=list)
    refused_units: int = 0
    parse_errors: int = 0
    compile_failures: list[str] = field(default_factory=list)
    dry_run_matches_write: bool = False
    rerun_noop: bool = False
    recorded_changed: int = 0
    recorded_refused: int = 0


def find_git_dir(mirrors: Path, slug: str) -> Path | None:
    owner, name = slug.split("/", 1)
    flat = f"{owner}+{name}"
    candidates = [
        mirrors / flat / "repo" / ".git",
        mirrors / flat / "repo",
        mirrors / flat / ".git",
        mirrors / flat,
        mirrors / f"{flat}.git",
        mirrors / owner / name / ".git",
        mirrors / owner / name,
        mirrors / owner / f"{name}.git",
    ]
    for candidate in candidates:
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True
    ).stdout


def extract(git_dir: Path, commit: str, dest: Path) -> int:
    """Write the `.py` files (and config files) of `commit` under `dest`; return how many."""
    names = git(git_dir, "ls-tree", "-r", "-z", "--name-only", commit).split(b"\0")
    count = 0
    for raw in names:
        if not raw:
            continue
        name = raw.decode("utf-8", "surrogateescape")
        if not (name.endswith(".py") or Path(name).name in KEPT_NAMES):
            continue
        try:
            blob = git(git_dir, "cat-file", "blob", f"{commit}:{name}")
        except subprocess.CalledProcessError:
            continue  # blob absent from the snapshot (large file)
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        count += 1
    return count


def run_tool(python: str, cwd: Path, *flags: str) -> dict[str, Any]:
    cmd = [python, "-m", "migrate", "migrate", ".", "--no-verify", "--output-format", "json"]
    proc = subprocess.run(
        [*cmd, *flags],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        tail = (proc.stderr or proc.stdout)[-400:]
        raise RuntimeError(f"no JSON from {' '.join(flags) or 'dry run'}: {tail}") from exc
    return data


def compiles(path: Path) -> bool:
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def evaluate(repo: Repo, git_dir: Path, python: str, keep: Path | None) -> Result:
    result = Result(
        repo.slug,
        repo.commit,
        recorded_changed=repo.recorded_changed,
        recorded_refused=repo.recorded_refused,
    )
    with tempfile.TemporaryDirectory(prefix="real_repos_") as tmp:
        root = Path(tmp) / repo.slug.replace("/", "+")
        root.mkdir(parents=True)
        extract(git_dir, repo.commit, root)
        work = root / repo.subfolder
        compiled_before = {
            str(p.relative_to(work)): compiles(p) for p in sorted(work.rglob("*.py"))
        }

        dry = run_tool(python, work)
        written = run_tool(python, work, "--write")
        rerun = run_tool(python, work, "--check")

        summary = written.get("summary", {})
        result.files_scanned = int(summary.get("files_scanned", 0))
        result.files_changed = int(summary.get("files_changed", 0))
        result.changed = [str(c["file"]) for c in written.get("changes", [])]
        result.refused_units = len(written.get("refused_units", []))
        result.parse_errors = sum(1 for f in written.get("findings", []) if f["code"] == "MC001")
        result.dry_run_matches_write = [c["diff"] for c in dry.get("changes", [])] == [
            c["diff"] for c in written.get("changes", [])
        ]
        for name in result.changed:
            if compiled_before.get(name, True) and not compiles(work / name):
                result.compile_failures.append(name)
        rerun_summary = rerun.get("summary", {})
        result.rerun_noop = not rerun.get("changes") and rerun_summary.get("files_changed") == 0
        if keep is not None:
            dest = keep / root.name
            subprocess.run(["rm", "-rf", str(dest)], check=True)
            subprocess.run(["cp", "-a", str(root), str(dest)], check=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=os.environ.get("REAL_REPOS_MIRRORS"),
        help="folder holding the fetched git directories (env REAL_REPOS_MIRRORS)",
    )
    parser.add_argument(
        "--git-dir",
        action="append",
        default=[],
        metavar="OWNER/NAME=PATH",
        help="the git directory of one repository (repeatable; overrides --mirrors)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter that has ml2mc installed (default: this one)",
    )
    parser.add_argument("--only", action="append", default=[], help="run only these OWNER/NAME")
    parser.add_argument("--keep", type=Path, help="copy each migrated tree into this folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    explicit: dict[str, Path] = {}
    for item in args.git_dir:
        slug, _, path = item.partition("=")
        explicit[slug] = Path(path)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)

    results: list[Result] = []
    for repo in REPOS:
        if args.only and repo.slug not in args.only:
            continue
        git_dir = explicit.get(repo.slug)
        if git_dir is None and args.mirrors is not None:
            git_dir = find_git_dir(Path(args.mirrors), repo.slug)
        if git_dir is None:
            results.append(Result(repo.slug, repo.commit, status="missing"))
            continue
        try:
            results.append(evaluate(repo, git_dir, args.python, args.keep))
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            results.append(Result(repo.slug, repo.commit, status="error", detail=str(exc)))

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        header = (
            f"{'repository':45} {'scan':>4} {'chg':>3} {'ref':>3} {'MC001':>5} "
            f"{'nocomp':>6} {'dry=wr':>6} {'noop':>4}  recorded(chg/ref)"
        )
        print(header)
        print("-" * len(header))
        for r in results:
            if r.status != "ok":
                print(f"{r.slug:45} {r.status}: {r.detail}")
                continue
            print(
                f"{r.slug:45} {r.files_scanned:>4} {r.files_changed:>3} {r.refused_units:>3} "
                f"{r.parse_errors:>5} {len(r.compile_failures):>6} "
                f"{'yes' if r.dry_run_matches_write else 'NO':>6} "
                f"{'yes' if r.rerun_noop else 'NO':>4}  "
                f"{r.recorded_changed}/{r.recorded_refused}"
            )
            for name in r.changed:
                flag = "  (does not compile)" if name in r.compile_failures else ""
                print(f"{'':4}changed: {name}{flag}")
    failed = any(
        r.status == "error" or r.compile_failures or (r.status == "ok" and not r.rerun_noop)
        for r in results
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
