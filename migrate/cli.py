"""The `ml2mc` command line: parses arguments, runs the pipeline, hands the result to the report.

Exit codes: 0 clean / passed, 1 findings / changes under --check / verification failed,
2 usage or configuration error.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from migrate import __version__, report
from migrate.config import ConfigError
from migrate.discovery import DiscoveryError
from migrate.pipeline import (
    CHECK_DEFAULT,
    MIGRATE_DEFAULT,
    RunOptions,
    RunResult,
    VerifyError,
    run,
    verify_working_tree,
)
from migrate.registry import all_rules, known_prefix, rule_by_code
from migrate.rule import Applicability

app = typer.Typer(
    name="ml2mc",
    help="Migrate PyTorch multi-label classifiers to multi-class, and find activation/loss bugs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    rich = "rich"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    github = "github"


PathsArgument = Annotated[
    Optional[list[Path]],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Argument(help="Files or folders to scan (default: the current folder); `-` reads stdin."),
]
SelectOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--select", help="Rule codes or prefixes to run (comma-separated, repeatable)."),
]
IgnoreOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--ignore", help="Rule codes or prefixes to skip."),
]
ExcludeOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--exclude", help="Glob patterns of files or folders to skip."),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--output-format", help="How to print the results.")
]
ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", help="A pyproject.toml to read [tool.ml2mc] from."),
]
StdinOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--stdin-filename", help="The file name to report for source read from stdin."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ml2mc {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """ml2mc: multi-label to multi-class migration for PyTorch, checked numerically."""


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    codes = [code.strip() for value in values for code in value.split(",") if code.strip()]
    for code in codes:
        if not known_prefix(code):
            report.error(f"unknown rule code or prefix: {code!r} (see `ml2mc rules`)")
            raise typer.Exit(2)
    return codes


def _options(
    paths: list[Path] | None,
    select: list[str] | None,
    ignore: list[str] | None,
    exclude: list[str] | None,
    config: Path | None,
    stdin_filename: str | None,
    **rest: object,
) -> RunOptions:
    targets = paths or [Path(".")]
    stdin_source = None
    if any(str(path) == "-" for path in targets):
        stdin_source = sys.stdin.read()
        targets = [path for path in targets if str(path) != "-"]
    return RunOptions(
        paths=targets,
        select=_split(select),
        ignore=_split(ignore) or [],
        exclude=exclude or [],
        config_path=config,
        stdin_source=stdin_source,
        stdin_filename=stdin_filename,
        **rest,  # type: ignore[arg-type]
    )


def _run(options: RunOptions) -> RunResult:
    try:
        with report.progress() as on_progress:
            return run(options, on_progress)
    except (ConfigError, DiscoveryError) as error:
        report.error(str(error))
        raise typer.Exit(2) from error


@app.command()
def check(
    paths: PathsArgument = None,
    fix: Annotated[bool, typer.Option("--fix", help="Apply safe fixes.")] = False,
    unsafe_fixes: Annotated[
        bool, typer.Option("--unsafe-fixes", help="Also apply unsafe fixes (with --fix or --diff).")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print the fixes as a unified diff; write nothing.")
    ] = False,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Verify rewritten models with torch.")
    ] = True,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    exclude: ExcludeOption = None,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
    stdin_filename: StdinOption = None,
) -> None:
    """Report activation/loss bugs (MC2xx by default). Exit 0 clean, 1 findings."""
    fixing = fix or diff
    applicability = None
    if fixing:
        applicability = Applicability.UNSAFE if unsafe_fixes else Applicability.SAFE
    options = _options(
        paths,
        select,
        ignore,
        exclude,
        config,
        stdin_filename,
        default_select=CHECK_DEFAULT,
        fix=applicability,
        write=fix and not diff,
        verify=verify and fix and not diff,
    )
    result = _run(options)
    style = report.ReportStyle(
        output_format.value,
        "check",
        fixing=fixing,
        writing=options.write,
        diff_only=diff,
        verifying=options.verify,
        unsafe_fixes=unsafe_fixes,
    )
    report.print_run(result, style)
    failed = any(item.status == "fail" for item in result.verification)
    would_change = diff and bool(result.changed_files)
    raise typer.Exit(1 if result.remaining or failed or result.errors or would_change else 0)


@app.command()
def migrate(
    paths: PathsArgument = None,
    write: Annotated[bool, typer.Option("--write", help="Apply the migration.")] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print a plain unified diff (git apply-able).")
    ] = False,
    check_only: Annotated[
        bool, typer.Option("--check", help="Exit 1 if anything would change; write nothing.")
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the torch equivalence check.")
    ] = False,
    unsafe_fixes: Annotated[
        bool, typer.Option("--unsafe-fixes", help="Also rewrite data-dependent code (MC106).")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="A skipped verification fails.")] = False,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    exclude: ExcludeOption = None,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
    stdin_filename: StdinOption = None,
) -> None:
    """Migrate multi-label code to multi-class (MC1xx + MC2xx). Dry run unless --write."""
    writing = write and not diff and not check_only
    options = _options(
        paths,
        select,
        ignore,
        exclude,
        config,
        stdin_filename,
        default_select=MIGRATE_DEFAULT,
        fix=Applicability.UNSAFE,
        write=writing,
        verify=not no_verify and not check_only and not diff,
    )
    result = _run(options)
    style = report.ReportStyle(
        output_format.value,
        "migrate",
        fixing=True,
        writing=writing,
        diff_only=diff,
        verifying=options.verify,
        unsafe_fixes=unsafe_fixes,
    )
    report.print_run(result, style)
    statuses = {item.status for item in result.verification}
    failed = "fail" in statuses or (strict and "skip" in statuses)
    would_change = check_only and bool(result.changed_files)
    raise typer.Exit(1 if failed or would_change or result.errors else 0)


@app.command("verify")
def verify_command(
    paths: PathsArgument = None,
    against: Annotated[
        str, typer.Option("--against", help="The git ref to compare with.")
    ] = "HEAD",
    strict: Annotated[bool, typer.Option("--strict", help="A skipped verification fails.")] = False,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
) -> None:
    """Check numerically that models changed since a git ref still compute what they did."""
    try:
        result = verify_working_tree(paths or [Path(".")], against, config)
    except (ConfigError, DiscoveryError, VerifyError) as error:
        report.error(str(error))
        raise typer.Exit(2) from error
    report.print_run(result, report.ReportStyle(output_format.value, "verify", verifying=True))
    statuses = {item.status for item in result.verification}
    raise typer.Exit(1 if "fail" in statuses or (strict and "skip" in statuses) else 0)


@app.command("rules")
def list_rules() -> None:
    """List every rule."""
    report.print_rules(all_rules())


@app.command()
def explain(code: Annotated[str, typer.Argument(help="A rule code such as MC201.")]) -> None:
    """Show one rule's documentation."""
    rule = rule_by_code(code)
    if rule is None:
        report.error(f"no rule {code!r} (see `ml2mc rules`)")
        raise typer.Exit(2)
    report.print_explain(rule)


def main() -> None:
    app()
