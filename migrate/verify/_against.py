"""`verify --against REF`: find the model classes that changed since a git ref.

Pure standard library (git through subprocess, classes through `ast`), so the CLI can plan the
verification before any torch import.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

# The training code that would feed a model to cross-entropy usually sits in another file,
# so every changed file counts; a plain text test is enough because it only arms a check.
_CROSS_ENTROPY = re.compile(r"CrossEntropyLoss|\bcross_entropy\b")
# Bases whose name says "torch module": nn.Module, torch.nn.Module, Module,
# pl.LightningModule and similar. Classes deriving from those in the same file count too.
_MODULE_BASE = re.compile(r"(^|\.)\w*Module$")


class GitError(Exception):
    """A git problem worded for the user; the public API re-raises it as VerifyError."""


@dataclass(frozen=True)
class ChangedModel:
    file: Path
    class_name: str
    original_source: str
    new_source: str


@dataclass(frozen=True)
class ChangedFile:
    file: Path
    original_source: str | None  # None: the original does not decode or parse
    new_source: str | None
    problem: str | None = None


def changed_files(files: list[Path], ref: str, repo_root: Path) -> list[ChangedFile]:
    top = _toplevel(repo_root)
    _require_commit(ref, top)
    pathspecs = [_relative_to(path, top) for path in files]
    output = _git(["diff", "--name-status", "-z", "--find-renames", ref, "--", *pathspecs], top)
    found: list[ChangedFile] = []
    for old_path, new_path in _modified_pairs(output):
        if not new_path.endswith(".py"):
            continue
        file = top / new_path
        if not file.is_file():
            continue
        found.append(_read_pair(file, old_path, ref, top))
    return found


def changed_models(changed: ChangedFile) -> list[ChangedModel]:
    """Model classes present in both versions whose definition (or module context) differs."""
    if changed.original_source is None or changed.new_source is None:
        return []
    old_tree = ast.parse(changed.original_source)
    new_tree = ast.parse(changed.new_source)
    old_models = _model_classes(old_tree)
    new_models = _model_classes(new_tree)
    context_changed = _context(old_tree, old_models) != _context(new_tree, new_models)
    return [
        ChangedModel(changed.file, name, changed.original_source, changed.new_source)
        for name, node in new_models.items()
        if name in old_models and (context_changed or ast.dump(old_models[name]) != ast.dump(node))
    ]


def mentions_cross_entropy(sources: list[str]) -> bool:
    return any(_CROSS_ENTROPY.search(source) for source in sources)


def display_path(path: Path) -> str:
    """Relative to the current directory when below it (as the report prints paths)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _read_pair(file: Path, old_path: str, ref: str, top: Path) -> ChangedFile:
    try:
        new_source = importlib.util.decode_source(file.read_bytes())
        ast.parse(new_source)
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as error:
        return ChangedFile(file, None, None, f"the working-tree file does not parse: {error}")
    try:
        blob = _git(["show", f"{ref}:{old_path}"], top)
        original_source = importlib.util.decode_source(blob)
        ast.parse(original_source)
    except (GitError, SyntaxError, UnicodeDecodeError, ValueError) as error:
        return ChangedFile(file, None, new_source, f"the version at {ref} does not parse: {error}")
    return ChangedFile(file, original_source, new_source)


def _modified_pairs(output: bytes) -> list[tuple[str, str]]:
    """(old path, new path) for modified and renamed files in `git diff -z --name-status`."""
    fields = output.decode("utf-8", errors="surrogateescape").split("\0")
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index]
        if status[0] in "RC":
            old, new = fields[index + 1], fields[index + 2]
            index += 3
            if status[0] == "R":
                pairs.append((old, new))
            continue
        path = fields[index + 1]
        index += 2
        if status[0] in "MT":
            pairs.append((path, path))
    return pairs


def _model_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    models: dict[str, ast.ClassDef] = {}
    # Repeat until stable: a class deriving from a model class defined later in the file is
    # still found on the next pass.
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            if name not in models and _is_model(node, models):
                models[name] = node
                changed = True
    return {name: node for name, node in classes.items() if name in models}


def _is_model(node: ast.ClassDef, models: dict[str, ast.ClassDef]) -> bool:
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base
        text = ast.unparse(target)
        if _MODULE_BASE.search(text) or text in models:
            return True
    # A class with bases and a `forward` is almost surely a module whose base lives in
    # another file (class Net(BaseModel)); verifying it costs little, missing it costs a lot.
    has_forward = any(
        isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == "forward"
        for item in node.body
    )
    return bool(node.bases) and has_forward


def _context(tree: ast.Module, models: dict[str, ast.ClassDef]) -> str:
    """Module code that a class may depend on: helpers, constants, other classes. Imports and
    `if __name__ == "__main__":` blocks are left out: migrations edit them without changing
    what any model computes."""
    kept = [
        statement
        for statement in tree.body
        if not isinstance(statement, ast.Import | ast.ImportFrom)
        and not (isinstance(statement, ast.ClassDef) and statement.name in models)
        and not _is_main_guard(statement)
    ]
    return ast.dump(ast.Module(body=kept, type_ignores=[]))


def _is_main_guard(statement: ast.stmt) -> bool:
    if not isinstance(statement, ast.If):
        return False
    text = ast.unparse(statement.test).replace("'", '"')
    return text in ('__name__ == "__main__"', '"__main__" == __name__')


def _toplevel(repo_root: Path) -> Path:
    if not repo_root.is_dir():
        raise GitError(f"{repo_root} is not a directory")
    try:
        output = _git(["rev-parse", "--show-toplevel"], repo_root)
    except GitError as error:
        raise GitError(f"{repo_root} is not inside a git repository ({error})") from error
    return Path(output.decode("utf-8", errors="surrogateescape").strip())


def _require_commit(ref: str, top: Path) -> None:
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except GitError as error:
        raise GitError(
            f"git ref {ref!r} does not name a commit in {top}; pass an existing branch, "
            "tag or commit to --against"
        ) from error


def _relative_to(path: Path, top: Path) -> str:
    absolute = path if path.is_absolute() else Path.cwd() / path
    try:
        relative = Path(os.path.normpath(absolute.resolve())).relative_to(top.resolve())
    except ValueError as error:
        raise GitError(f"{path} is outside the git repository at {top}") from error
    return relative.as_posix() or "."


def _git(arguments: list[str], cwd: Path) -> bytes:
    try:
        completed = subprocess.run(
            ["git", "-c", "core.quotepath=off", *arguments],
            cwd=cwd,
            capture_output=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed or not on PATH") from error
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", errors="replace").strip()
        raise GitError(message or f"git {' '.join(arguments)} exited {completed.returncode}")
    return completed.stdout
