"""Fetch the real corpora that the speed and robustness benchmarks run on.

Each corpus is one PyPI distribution, downloaded with pip (`pip download --no-deps`) into
`benchmarks/.cache/wheels/` and unpacked into `benchmarks/.cache/corpora/<name>/`. Only the
`.py` files are kept (for torch, the Python sources of the wheel; its binaries do not matter).
Nothing here is committed: `benchmarks/.cache/` is git-ignored.

    python benchmarks/corpora.py            # fetch and unpack whatever is missing
    python benchmarks/corpora.py --force    # unpack again from the wheels
    python benchmarks/corpora.py --list     # print what is there

Versions are pinned so that a number measured today can be measured again: they are what
`pip download` gave on the day the benchmarks were written (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
WHEELS = CACHE / "wheels"
CORPORA = CACHE / "corpora"
MANIFEST = CACHE / "corpora.json"


@dataclass(frozen=True)
class Corpus:
    name: str  # folder under corpora/
    project: str  # the PyPI project
    version: str

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"

    @property
    def folder(self) -> Path:
        return CORPORA / self.name


# Pinned: what `pip download --no-deps` resolved to when these benchmarks were written.
# torch==2.13.0 is the CPU wheel that lies on this machine's disk (pip's find-links).
PINNED: tuple[Corpus, ...] = (
    Corpus("transformers", "transformers", "5.24.0"),
    Corpus("timm", "timm", "1.0.31"),
    Corpus("pytorch-lightning", "pytorch-lightning", "2.6.6"),
    Corpus("torchmetrics", "torchmetrics", "1.9.0"),
    Corpus("torch", "torch", "2.13.0"),
)

# Folders that a linter skips by default (ruff and ml2mc agree on these); a corpus is unpacked
# without them so that every tool sees the same files.
_SKIPPED_PARTS = frozenset(
    {"__pycache__", "site-packages", "build", "dist", "node_modules", "venv", "env", ".venv"}
)


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _archive_name_version(filename: str) -> tuple[str, str] | None:
    """(normalized project, version without local label) of a wheel or sdist file name."""
    for suffix in (".whl", ".tar.gz", ".zip"):
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            break
    else:
        return None
    if filename.endswith(".whl"):
        parts = stem.split("-")
        if len(parts) < 5:
            return None
        project, version = parts[0], parts[1]
    else:
        project, _, version = stem.rpartition("-")
    return _normalize(project), version.split("+", 1)[0]


def find_archive(corpus: Corpus) -> Path | None:
    """The downloaded wheel (or sdist) of `corpus`, if it is in the cache."""
    if not WHEELS.is_dir():
        return None
    wanted = (_normalize(corpus.project), corpus.version)
    for path in sorted(WHEELS.iterdir()):
        if _archive_name_version(path.name) == wanted:
            return path
    return None


def download(corpus: Corpus) -> Path:
    archive = find_archive(corpus)
    if archive is not None:
        return archive
    WHEELS.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":none:",
        "--disable-pip-version-check",
        "-d",
        str(WHEELS),
        corpus.requirement,
    ]
    print("$", " ".join(command[2:]), file=sys.stderr)
    subprocess.run(command, check=True)
    archive = find_archive(corpus)
    if archive is None:
        raise SystemExit(f"pip download gave no archive for {corpus.requirement} in {WHEELS}")
    return archive


def _keep(member: str) -> str | None:
    """The path to unpack `member` to, or None for a file that does not belong to the corpus."""
    parts = member.replace("\\", "/").split("/")
    if not parts[-1].endswith(".py") or any(part in ("", ".", "..") for part in parts):
        return None
    if any(part.endswith((".dist-info", ".data", ".egg-info")) for part in parts[:-1]):
        return None
    if any(part in _SKIPPED_PARTS or part.startswith(".") for part in parts[:-1]):
        return None
    return "/".join(parts)


def unpack(corpus: Corpus, archive: Path, force: bool = False) -> int:
    """Unpack the `.py` files of `archive` into the corpus's folder; return how many."""
    target = corpus.folder
    marker = target.parent / f".{corpus.name}.unpacked"
    if target.is_dir() and marker.is_file() and marker.read_text() == archive.name and not force:
        return sum(1 for _ in target.rglob("*.py"))
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    count = 0
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                relative = _keep(info.filename)
                if relative is None or info.is_dir():
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(zipped.read(info))
                count += 1
    else:
        with tarfile.open(archive) as tarred:
            for member in tarred.getmembers():
                # An sdist has one top folder (project-version/): drop it.
                inner = member.name.split("/", 1)[1] if "/" in member.name else member.name
                relative = _keep(inner)
                if relative is None or not member.isfile():
                    continue
                extracted = tarred.extractfile(member)
                assert extracted is not None
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(extracted.read())
                count += 1
    marker.write_text(archive.name)
    return count


def count_lines(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


def python_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*.py") if path.is_file())


def tree_stats(root: Path) -> tuple[int, int]:
    """(.py files, lines) under `root`."""
    files = python_files(root)
    return len(files), sum(count_lines(path.read_bytes()) for path in files)


def ensure(names: list[str] | None = None, force: bool = False) -> list[Corpus]:
    """Download and unpack the named corpora (all by default); return them."""
    chosen = [corpus for corpus in PINNED if names is None or corpus.name in names]
    unknown = set(names or ()) - {corpus.name for corpus in PINNED}
    if unknown:
        raise SystemExit(f"unknown corpus: {', '.join(sorted(unknown))}")
    manifest: dict[str, dict[str, object]] = {}
    if MANIFEST.is_file():
        manifest = json.loads(MANIFEST.read_text())
    for corpus in chosen:
        archive = download(corpus)
        unpack(corpus, archive, force=force)
        files, lines = tree_stats(corpus.folder)
        manifest[corpus.name] = {
            "requirement": corpus.requirement,
            "archive": archive.name,
            "files": files,
            "lines": lines,
        }
        print(f"{corpus.name:<18} {archive.name:<60} {files:>6} files {lines:>9} lines")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="corpora to fetch (default: all)")
    parser.add_argument("--force", action="store_true", help="unpack again from the archives")
    parser.add_argument("--list", action="store_true", help="print the pinned corpora and exit")
    args = parser.parse_args()
    if args.list:
        for corpus in PINNED:
            state = "unpacked" if corpus.folder.is_dir() else "missing"
            print(f"{corpus.name:<18} {corpus.requirement:<28} {state}")
        return
    ensure(args.names or None, force=args.force)


if __name__ == "__main__":
    main()
