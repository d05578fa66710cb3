"""Import user code from a tree's copy, and clean up afterwards (`Sandbox`)."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType, TracebackType

import torch

from migrate.verify.child.common import LIBRARY_DIRS


def module_identity(file: Path) -> tuple[str, str, Path]:
    """The dotted module name of `file`, its package, and the directory that must be on
    sys.path for that name to import: the parent of the outermost directory that still has
    an `__init__.py` (so relative imports inside the package work)."""
    parts = [] if file.name == "__init__.py" else [file.stem]
    directory = file.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    if not parts:
        # Only reachable for an `__init__.py` that no longer exists on disk (a deleted file):
        # name it after its directory, as it would have been.
        return file.parent.name, file.parent.name, file.parent.parent
    name = ".".join(parts)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    return name, package, directory


def resolve_reference(reference: str, overrides: dict[str, ModuleType]) -> object:
    """`package.module:attribute.path` -> the object; `overrides` supplies modules we loaded."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{reference!r} is not of the form 'package.module:name'")
    module = overrides.get(module_name) or importlib.import_module(module_name)
    value: object = module
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


class Sandbox:
    """Per-task interpreter state: sys.path, sys.modules, cwd and torch globals are put back
    on exit, so one project's `model` module cannot leak into the next task."""

    def __init__(self, roots: list[Path], working_directory: Path) -> None:
        self._roots = [str(root.resolve()) for root in roots]
        self._working_directory = working_directory

    def __enter__(self) -> Sandbox:
        self._path = list(sys.path)
        self._modules = dict(sys.modules)
        self._cwd = os.getcwd()
        self._default_dtype = torch.get_default_dtype()
        self._grad_enabled = torch.is_grad_enabled()
        for root in reversed(self._roots):
            if root not in sys.path:
                sys.path.insert(0, root)
        if self._working_directory.is_dir():
            os.chdir(self._working_directory)
        return self

    def __exit__(
        self,
        error_type: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        sys.path[:] = self._path
        os.chdir(self._cwd)
        torch.set_default_dtype(self._default_dtype)
        torch.set_grad_enabled(self._grad_enabled)
        for name in list(sys.modules):
            if name not in self._modules and self._is_user_module(name, sys.modules[name]):
                del sys.modules[name]
        for name, module in self._modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
        importlib.invalidate_caches()

    def _is_user_module(self, name: str, module: ModuleType | None) -> bool:
        if module is None:
            return True
        locations = list(getattr(module, "__path__", []) or [])
        file = getattr(module, "__file__", None)
        if file:
            locations.append(file.split(" [", 1)[0])
        for location in locations:
            resolved = str(Path(location).resolve())
            if resolved.startswith(LIBRARY_DIRS):
                # A library installed inside the project (a .venv) stays cached: it is the
                # same for every task and re-importing it (torch above all) is slow or unsafe.
                continue
            if any(resolved == root or resolved.startswith(root + os.sep) for root in self._roots):
                return True
        return False
