"""The repository index: every analyzed module by name, so that one module's interpretation
can follow a class or function defined in another (absolute, relative and re-exported names).

Modules outside the run's selection are loaded when the interpretation first asks for them
(a model class, a factory, a re-export): `loader` parses them then, so a check reads only
the modules a flow actually reaches, not everything its files import.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING

from migrate.analysis.graph import absolute_module, import_candidates
from migrate.analysis.names import LOCAL_PREFIX

if TYPE_CHECKING:
    from migrate.analysis.facts import ModuleFacts
    from migrate.analysis.interpreter import ModuleFlow

MAX_REEXPORT_DEPTH = 8
MAX_REGISTRY_IMPORTERS = 40


class ProjectIndex:
    def __init__(
        self,
        loader: Callable[[str], ModuleFacts | None] | None = None,
        importers: Callable[[str], list[str]] | None = None,
        canonical: Callable[[str], str | None] | None = None,
    ) -> None:
        self.by_module: dict[str, ModuleFacts] = {}
        self.by_path: dict[str, ModuleFacts] = {}
        # Module name -> its facts, made on first use; None when there is no such module.
        self._loader = loader
        self._importers = importers
        self._canonical = canonical
        self._tried: set[str] = set()
        # The modules the loader brought in (their own rules are not run; a finding whose
        # activation lies there is still reported there).
        self.loaded: dict[str, ModuleFacts] = {}
        self._subclasses: dict[str, list[str]] = {}
        self._known_subclasses: dict[str, tuple[int, list[str]]] = {}

    def add(self, facts: ModuleFacts) -> None:
        self.by_module.setdefault(facts.module_name, facts)
        self.by_path[facts.path] = facts

    def module(self, module_name: str) -> ModuleFacts | None:
        facts = self.by_module.get(module_name)
        if facts is None and self._loader is not None and module_name not in self._tried:
            self._tried.add(module_name)
            facts = self._loader(module_name)
            if facts is not None:
                self.add(facts)
                self.loaded[facts.path] = facts
        return facts

    def load_importers(self, module_name: str) -> None:
        """Read every module that imports `module_name`, a few imports back: a fix that
        changes a model's output must see all of its readers, in a check as in `--fix`."""
        if self._importers is None:
            return
        for importer in self._importers(module_name):
            self.module(importer)

    def flow_of(self, module_name: str) -> ModuleFlow | None:
        facts = self.module(module_name)
        return None if facts is None else facts.uninterpreted_flow

    def facts_of_path(self, path: str) -> ModuleFacts | None:
        return self.by_path.get(path)

    def module_flow(self, module: str, from_module: str) -> ModuleFlow | None:
        for candidate in import_candidates(self._absolute(module, from_module), from_module):
            facts = self.module(candidate)
            if facts is None and self._canonical is not None:
                canonical = self._canonical(candidate)
                facts = self.module(canonical) if canonical is not None else None
            if facts is not None:
                return facts.uninterpreted_flow
        return None

    def decorated_with(self, module: str, functions: set[str]) -> list[tuple[ModuleFlow, str]]:
        # A project registry's importers hold the registered classes. A module imported
        # everywhere (a library's own registry) is not read whole: only what is loaded.
        importers = self._importers(module) if self._importers is not None else []
        if len(importers) <= MAX_REGISTRY_IMPORTERS:
            for importer in importers:
                self.module(importer)
        wanted = {f"{module}.{name}" for name in functions}
        found: list[tuple[ModuleFlow, str]] = []
        for facts in list(self.by_module.values()):
            flow = facts.uninterpreted_flow
            for statement in facts.tree.body:
                if not isinstance(statement, (ast.ClassDef, ast.FunctionDef)):
                    continue
                for decorator in statement.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    qualified = flow.qualify(target)
                    if qualified is None:
                        continue
                    if qualified.startswith(LOCAL_PREFIX):
                        local = qualified[len(LOCAL_PREFIX) :]
                        resolved: tuple[ModuleFlow, str] | None = (flow, local)
                    else:
                        resolved = self.resolve(qualified, facts.module_name)
                    if resolved is None:
                        continue
                    if f"{resolved[0].module_name}.{resolved[1]}" in wanted:
                        found.append((flow, statement.name))
                        break
        return found

    def known_subclasses_of(self, class_key: str) -> list[str]:
        """`subclasses_of` among the modules read already: none is read for it (a base
        class's attribute is checked on every read; reading importers there cost a check of
        five large trees three times its time)."""
        scanned, found = self._known_subclasses.get(class_key, (0, []))
        if scanned < len(self.by_module):  # only the modules read since the last look
            modules = list(self.by_module.values())
            found = found + self._subclasses_among(modules[scanned:], class_key)
            self._known_subclasses[class_key] = (len(modules), found)
        return found

    def subclasses_of(self, class_key: str) -> list[str]:
        """The project classes whose direct base is `class_key` (a mixin's or an abstract
        base's subclasses). Its importers are read first, unless it is imported everywhere
        (a library's base class): then only the modules loaded already are searched."""
        known = self._subclasses.get(class_key)
        if known is not None:
            return known
        module_name = class_key.rpartition(".")[0]
        importers = self._importers(module_name) if self._importers is not None else []
        if len(importers) <= MAX_REGISTRY_IMPORTERS:
            for importer in importers:
                self.module(importer)
        found = self._subclasses_among(list(self.by_module.values()), class_key)
        self._subclasses[class_key] = found
        return found

    @staticmethod
    def _subclasses_among(modules: list[ModuleFacts], class_key: str) -> list[str]:
        found: list[str] = []
        class_name = class_key.rpartition(".")[2]
        for facts in modules:
            flow = facts.uninterpreted_flow
            for name, info in flow.classes.items():
                for base in info.node.bases:
                    # Only a base spelt with the class's name is resolved (resolving every
                    # base would read the modules they come from).
                    spelt = base.attr if isinstance(base, ast.Attribute) else None
                    spelt = base.id if isinstance(base, ast.Name) else spelt
                    if spelt != class_name and not _aliased(flow, spelt, class_name):
                        continue
                    reference = flow.global_reference(flow.qualify(base))
                    if getattr(reference, "class_key", None) == class_key:
                        found.append(flow.key(name))
                        break
        return found

    def resolve(self, qualified: str, from_module: str) -> tuple[ModuleFlow, str] | None:
        for candidate in import_candidates(self._absolute(qualified, from_module), from_module):
            found = self._resolve(candidate, 0)
            if found is not None:
                return found
        return None

    def _absolute(self, qualified: str, from_module: str) -> str:
        if not qualified.startswith("."):
            return qualified
        level = len(qualified) - len(qualified.lstrip("."))
        importer = self.by_module.get(from_module)
        is_package = importer is not None and importer.path.endswith("__init__.py")
        return absolute_module(qualified[level:], level, from_module, is_package)

    def _resolve(self, qualified: str, depth: int) -> tuple[ModuleFlow, str] | None:
        if depth > MAX_REEXPORT_DEPTH:
            return None
        module_name, _, name = qualified.rpartition(".")
        facts = self.module(module_name) if name else None
        if facts is None and name and self._canonical is not None:
            canonical = self._canonical(module_name)
            facts = self.module(canonical) if canonical is not None else None
        if facts is None:
            return None
        flow = facts.uninterpreted_flow
        if name in flow.classes or name in flow.functions:
            return flow, name
        # A re-export: `from .model import Net` in a package `__init__`.
        imported = facts.imports.names.get(name)
        if imported is None:
            # Or through `from .model import *`, one star deep (chains of star imports, as
            # in a large library's packages, would read half of it for every name).
            if depth > 0:
                return None
            for star in facts.imports.star_modules:
                for candidate in import_candidates(self._absolute(star, module_name), module_name):
                    found = self._resolve(f"{candidate}.{name}", depth + 1)
                    if found is not None:
                        return found
            return None
        if imported.startswith(LOCAL_PREFIX):
            return None
        for candidate in import_candidates(self._absolute(imported, module_name), module_name):
            found = self._resolve(candidate, depth + 1)
            if found is not None:
                return found
        return None


def _aliased(flow: ModuleFlow, spelt: str | None, class_name: str) -> bool:
    """`from models import Base as B` then `class Net(B)`: `B` imports `class_name`."""
    if spelt is None:
        return False
    imported = flow.imports.names.get(spelt)
    return imported is not None and imported.rpartition(".")[2] == class_name
