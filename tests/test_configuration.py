"""docs/configuration.md against the code: every key the reader knows is documented there, no
other key is, and every example on the page is configuration ml2mc accepts. Also the keys
whose behaviour the page promises and nothing else tested (`extend-select` alone, typos in
`[tool.ml2mc.verify]`)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from migrate.config import (
    KNOWN_KEYS,
    VERIFY_HOOK_KEYS,
    VERIFY_MODEL_KEYS,
    ConfigError,
    parse_table,
)
from migrate.verify import settings_from_config
from tests.conftest import CliInvoker

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
SECTION = re.compile(r"^## `\[(tool\.ml2mc(?:\.verify)?)\]`$", re.MULTILINE)
KEY_HEADING = re.compile(r"^#{3,4} `([^`]+)`$", re.MULTILINE)
TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def documented_keys(text: str) -> dict[str, set[str]]:
    """The keys with a heading of their own, per table (`tool.ml2mc`, `tool.ml2mc.verify`)."""
    found: dict[str, set[str]] = {}
    sections = list(SECTION.finditer(text))
    for number, section in enumerate(sections):
        end = sections[number + 1].start() if number + 1 < len(sections) else len(text)
        body = text[section.end() : end]
        found[section.group(1)] = set(KEY_HEADING.findall(body))
    return found


def examples(text: str) -> list[tuple[str, str]]:
    """Each TOML example with the key heading it stands under ("" before the first, or under a
    heading that names no key, such as the complete example's)."""
    found: list[tuple[str, str]] = []
    for block in TOML_BLOCK.finditer(text):
        headings = re.findall(r"^#{2,4} .*$", text[: block.start()], re.MULTILINE)
        key = KEY_HEADING.fullmatch(headings[-1]) if headings else None
        found.append((key.group(1) if key else "", block.group(1)))
    return found


def test_every_key_of_the_code_is_documented_and_no_other() -> None:
    keys = documented_keys(DOC.read_text(encoding="utf-8"))
    assert keys.get("tool.ml2mc") == set(KNOWN_KEYS)
    assert keys.get("tool.ml2mc.verify") == {*VERIFY_HOOK_KEYS, *VERIFY_MODEL_KEYS}


EXAMPLES = examples(DOC.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("key", "example"),
    EXAMPLES,
    ids=[f"{key or 'intro'}-{number}" for number, (key, _) in enumerate(EXAMPLES)],
)
def test_every_example_is_accepted_and_sets_its_key(key: str, example: str) -> None:
    table = tomllib.loads(example)["tool"]["ml2mc"]
    config = parse_table(table, Path("."), "docs/configuration.md")
    settings = settings_from_config(config.verify, Path("."))
    if key in KNOWN_KEYS:
        assert key in table, f"the example of `{key}` does not set it"
    elif key in VERIFY_HOOK_KEYS:
        assert key in config.verify, f"the example of `{key}` does not set it"
    elif key in VERIFY_MODEL_KEYS:
        specs = settings.model_specs.values()
        assert any(key in spec for spec in specs), f"the example of `{key}` does not set it"


def test_every_example_key_heading_is_known() -> None:
    """Examples stand under a key they illustrate (or the page's introduction)."""
    for key, _ in EXAMPLES:
        assert key in {
            "",
            '"package.module:Class"',
            *KNOWN_KEYS,
            *VERIFY_HOOK_KEYS,
            *VERIFY_MODEL_KEYS,
        }


def test_an_unknown_key_of_a_model_table_is_an_error() -> None:
    table = {"verify": {"pkg.model:Net": {"kwarg": {"n": 1}}}}
    with pytest.raises(ConfigError, match=r'"pkg.model:Net": kwarg \(known: factory'):
        parse_table(table, Path("."), "pyproject.toml")


def test_an_unknown_hook_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"\[tool.ml2mc.verify\]: bulid \(known: build"):
        parse_table({"verify": {"bulid": "pkg.train:build"}}, Path("."), "pyproject.toml")


def test_a_typo_in_the_verify_table_is_a_usage_error(project: Path, cli: CliInvoker) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.ml2mc.verify]\n"model:Net" = { kwarg = { n = 1 } }\n'
    )
    (project / "model.py").write_text("x = 1\n")
    result = cli("migrate", "--no-verify", ".")
    assert result.exit_code == 2
    assert "kwarg" in result.output


def test_an_unknown_top_level_key_is_a_usage_error(project: Path, cli: CliInvoker) -> None:
    (project / "pyproject.toml").write_text('[tool.ml2mc]\nselct = ["MC2"]\n')
    (project / "a.py").write_text("x = 1\n")
    result = cli("check", ".")
    assert result.exit_code == 2
    assert "selct" in result.output
    with pytest.raises(ConfigError):
        parse_table({"selct": ["MC2"]}, project, "pyproject.toml")


OPT_IN_BUG = """\
import torch
import torch.nn.functional as F
loss = F.binary_cross_entropy(torch.sigmoid(z), y)
"""


def test_extend_select_alone_adds_to_the_default(project: Path, cli: CliInvoker) -> None:
    (project / "a.py").write_text(OPT_IN_BUG)
    assert "MC206" not in cli("check", "--no-cache", ".").stdout
    (project / "pyproject.toml").write_text('[tool.ml2mc]\nextend-select = ["MC206"]\n')
    result = cli("check", "--no-cache", ".")
    assert "MC206" in result.stdout
    assert result.exit_code == 1


def test_extend_select_keeps_opt_in_rules_off(project: Path, cli: CliInvoker) -> None:
    """Extending the default with MC104 does not turn the opt-in MC206 on."""
    (project / "a.py").write_text(OPT_IN_BUG)
    (project / "pyproject.toml").write_text('[tool.ml2mc]\nextend-select = ["MC104"]\n')
    assert "MC206" not in cli("check", "--no-cache", ".").stdout


EXAMPLE_PROJECT = DOC.parent.parent / "fixtures" / "projects" / "example" / "before"


def test_the_complete_example_names_the_bundled_example_project() -> None:
    """The page's complete example is for `fixtures/projects/example/before`: every
    `module:name` it gives (hooks, model tables) is a function or class of that project, so the
    example can be tried there as written."""
    text = DOC.read_text(encoding="utf-8")
    complete = text[text.index("## A complete example") :]
    (block,) = TOML_BLOCK.findall(complete)
    verify = tomllib.loads(block)["tool"]["ml2mc"]["verify"]
    references = [
        *(value for value in verify.values() if isinstance(value, str)),
        *(key for key, value in verify.items() if isinstance(value, dict)),
        *(
            value["factory"]
            for value in verify.values()
            if isinstance(value, dict) and "factory" in value
        ),
    ]
    assert references
    for reference in references:
        module, name = reference.split(":")
        source = EXAMPLE_PROJECT / (module.replace(".", "/") + ".py")
        assert source.is_file(), reference
        assert re.search(rf"^(def|class) {name}\b", source.read_text(), re.MULTILINE), reference
