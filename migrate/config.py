"""`[tool.ml2mc]` in the scanned project's pyproject.toml, merged with the command line."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

# The keys of `[tool.ml2mc]`; docs/configuration.md documents each one (a test holds it to this).
KNOWN_KEYS = frozenset(
    {"select", "ignore", "extend-select", "exclude", "per-file-ignores", "verify", "strict"}
)
# The keys of `[tool.ml2mc.verify]`: the project-wide hooks, and those of one model class's
# table (`"package.module:Class" = { ... }`), read by `migrate.verify`.
VERIFY_HOOK_KEYS = ("build", "inputs")
VERIFY_MODEL_KEYS = ("factory", "args", "kwargs", "input", "shape", "dtype", "low", "high")


class ConfigError(Exception):
    """The configuration cannot be used (a usage error: exit 2)."""


@dataclass(frozen=True)
class Config:
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    verify: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    # The folder holding the pyproject.toml it came from (None: no configuration found).
    root: Path | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.ml2mc] table, from `start` upward."""
    try:
        directory = start.resolve()
    except (OSError, RuntimeError):  # a symlink loop: look from where it stands
        directory = start.absolute()
    if not directory.is_dir():
        directory = directory.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.ml2mc" in _read_text(pyproject):
            return pyproject
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error
    table = data.get("tool", {}).get("ml2mc", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.ml2mc] must be a table")
    return parse_table(table, path.parent, str(path))


def parse_table(table: Mapping[str, Any], root: Path, origin: str) -> Config:
    unknown = sorted(set(table) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key(s) in [tool.ml2mc]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict) or not all(
        isinstance(codes, list) for codes in per_file.values()
    ):
        raise ConfigError(f"{origin}: per-file-ignores must map a glob to a list of codes")
    verify = table.get("verify", {})
    if not isinstance(verify, dict):
        raise ConfigError(f"{origin}: [tool.ml2mc.verify] must be a table")
    _check_verify_keys(verify, origin)
    strict = table.get("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"{origin}: strict must be true or false")
    return Config(
        select=_codes(table, "select", origin) if "select" in table else None,
        ignore=_codes(table, "ignore", origin),
        extend_select=_codes(table, "extend-select", origin),
        exclude=_codes(table, "exclude", origin),
        per_file_ignores={glob: [str(code) for code in codes] for glob, codes in per_file.items()},
        verify=dict(verify),
        strict=strict,
        root=root,
    )


def _codes(table: Mapping[str, Any], key: str, origin: str) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{origin}: {key} must be a list of strings")
    return list(value)


def _check_verify_keys(verify: Mapping[str, Any], origin: str) -> None:
    """A key of `[tool.ml2mc.verify]` is a hook or names a model class whose table has known
    keys: a typo would otherwise be ignored, and the check skipped for a reason that hides it."""
    for key, value in verify.items():
        if key in VERIFY_HOOK_KEYS:
            continue
        if not isinstance(value, dict):
            raise ConfigError(
                f"{origin}: unknown key in [tool.ml2mc.verify]: {key} (known: "
                f'{", ".join(VERIFY_HOOK_KEYS)}, or "package.module:Class" = {{ ... }})'
            )
        unknown = sorted(set(value) - set(VERIFY_MODEL_KEYS))
        if unknown:
            raise ConfigError(
                f'{origin}: unknown key(s) in [tool.ml2mc.verify] "{key}": {", ".join(unknown)} '
                f"(known: {', '.join(VERIFY_MODEL_KEYS)})"
            )
