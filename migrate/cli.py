"""The `ml2mc` command line: parses arguments, runs the pipeline, hands the result to the report.

Exit codes: 0 clean / passed, 1 findings / changes under --check / verification failed,
2 usage or configuration error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
import typer.completion
from typer._completion_classes import completion_init
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from migrate.config import ConfigError
from migrate.discovery import DiscoveryError
from migrate.output import report
from migrate.output.docs import TOOL_DIAGNOSTICS, diagnostic_by_code, diagnostic_markdown
from migrate.pipeline import (
    CHECK_DEFAULT,
    DEFAULT_TIMEOUT_SECONDS,
    MIGRATE_DEFAULT,
    RunOptions,
    RunResult,
    VerifyError,
    run,
    unverified_count,
    verify_working_tree,
)
from migrate.registry import (
    all_rules,
    code_completions,
    known_prefix,
    rule_by_code,
    selected_by_default,
)
from migrate.rule import Applicability
from migrate.version import __version__

if TYPE_CHECKING:
    # Typer vendors click here; only the types are read from it.
    from typer._click import Context, Parameter


class _PlainArgument(TyperArgument):
    """An argument shown by its name alone (`PATH`, not `paths... <list[Path]>`)."""

    def display_type_rich(self, ctx: Context) -> str | None:
        return None


class _PlainOption(TyperOption):
    """A flag shown without a type label (`--fix`, not `--fix <bool>`); an option that takes a
    value shown with its metavar (`--select CODES`)."""

    def display_type_rich(self, ctx: Context) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar or (self.name or "value").upper()


def _without_type_labels(params: list[Parameter]) -> None:
    # Typer labels every parameter with its Python type (`<bool>`, `<list[Path]>`); the classes
    # above differ only in how the help names them.
    for param in params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument
        elif type(param) is TyperOption:
            param.__class__ = _PlainOption


class _PlainHelp:
    """Mixed into a command or a group: its parameters are shown without type labels."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        params: list[Parameter] = super().get_params(ctx)  # type: ignore[misc]
        _without_type_labels(params)
        return params


class _PlainHelpCommand(_PlainHelp, TyperCommand):
    pass


class _PlainHelpGroup(_PlainHelp, TyperGroup):
    pass


app = typer.Typer(
    name="ml2mc",
    help="Migrate PyTorch multi-label classifiers to multi-class, and find activation/loss bugs.",
    no_args_is_help=True,
    # `--show-completion SHELL` and `--install-completion SHELL` are declared below: Typer's
    # own flags take no shell and print the script of the shell they detect.
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help paragraphs wrap to the terminal, as pip's and ruff's do, `code` reads as code, and
    # `[tool.ml2mc]` stays text (rich markup took it for a style tag: "read  from").
    rich_markup_mode="markdown",
    cls=_PlainHelpGroup,
)
# What `add_completion=True` does besides adding its flags: register the shells the
# completion protocol (`_ML2MC_COMPLETE=complete_zsh ml2mc`) answers for.
completion_init()


def _complete_codes(incomplete: str) -> list[tuple[str, str]]:
    return code_completions(incomplete)


def _complete_explain(incomplete: str) -> list[tuple[str, str]]:
    upper = incomplete.upper()
    tool_codes = [
        (item.code, item.name) for item in TOOL_DIAGNOSTICS if item.code.startswith(upper)
    ]
    return code_completions(incomplete, prefixes=False) + tool_codes


class OutputFormat(str, Enum):
    rich = "rich"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    github = "github"


PathsArgument = Annotated[
    Optional[list[Path]],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Argument(
        metavar="PATH",
        help="Files or folders to scan (default: the current folder); `-` reads stdin.",
        show_default=False,
    ),
]
SelectOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--select",
        metavar="CODES",
        help="Rule codes or prefixes to run, comma-separated (default: MC2 for check, MC1,MC2 "
        "for migrate).",
        autocompletion=_complete_codes,
    ),
]
IgnoreOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--ignore",
        metavar="CODES",
        help="Rule codes or prefixes to skip, comma-separated.",
        autocompletion=_complete_codes,
    ),
]
ExcludeOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--exclude", metavar="GLOB", help="Glob pattern of files or folders to skip; repeatable."
    ),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output-format",
        metavar="FORMAT",
        help="How to print the results: rich, concise, json, sarif or github.",
    ),
]
ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--config",
        metavar="FILE",
        help="A pyproject.toml to read [tool.ml2mc] from (default: the scanned project's).",
    ),
]
AllowDirtyOption = Annotated[
    bool,
    typer.Option(
        "--allow-dirty",
        help="Also write files that have uncommitted changes in their git work tree.",
    ),
]
StdinOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--stdin-filename",
        metavar="NAME",
        help="The file name to report for source read from stdin.",
    ),
]
PythonOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--python",
        metavar="FILE",
        help="The project's interpreter, which runs the verification (it needs torch). "
        "Default: the active virtual environment, else the one running ml2mc.",
        exists=True,
        dir_okay=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bar and no summary line: only findings and diffs (the bar shows "
        "on a terminal once a run has taken about a second).",
    ),
]
NoCacheOption = Annotated[
    bool,
    typer.Option(
        "--no-cache",
        help="Analyse again even if nothing changed since the last run (the cache is in "
        "$ML2MC_CACHE_DIR, else ~/.cache/ml2mc).",
    ),
]
ReportPathOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--report",
        metavar="FILE",
        help="Also save the report to this file, as HTML, Markdown or text by its extension "
        "(.html, .md, .txt): to attach to a pull request.",
        dir_okay=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        report.print_version(__version__)
        raise typer.Exit(0)


SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


COMPLETION_FLAGS: dict[str, tuple[Callable[..., object], str]] = {
    "--install-completion": (
        typer.completion.install_callback,
        "Install completion for SHELL: bash, zsh, fish or powershell.",
    ),
    "--show-completion": (
        typer.completion.show_callback,
        "Print the completion script for SHELL, to read or install it by hand.",
    ),
}


def _completion_option(flag: str) -> Any:
    """`--show-completion SHELL` / `--install-completion SHELL`. The shell is named, not
    detected: Typer's own flags take no value, so `--show-completion zsh` printed the script of
    the shell they detected and ignored `zsh`."""

    def callback(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> None:
        if value is None or ctx.resilient_parsing:
            return
        if value not in SHELLS:
            raise typer.BadParameter(f"{value!r}: use bash, zsh, fish or powershell")
        action(ctx, param, value)

    action, help_text = COMPLETION_FLAGS[flag]
    return typer.Option(
        flag, metavar="SHELL", callback=callback, is_eager=True, expose_value=False, help=help_text
    )


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    install_completion: Annotated[
        Optional[str], _completion_option("--install-completion")  # noqa: UP045
    ] = None,
    show_completion: Annotated[
        Optional[str], _completion_option("--show-completion")  # noqa: UP045
    ] = None,
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
    _refuse_conflicts(
        [
            (
                stdin_filename is not None and all(str(path) != "-" for path in targets),
                "--stdin-filename names the source read from stdin, and no path is `-`: add `-` "
                "to read stdin, or drop --stdin-filename",
            )
        ]
    )
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


def _check_report_path(path: Path | None) -> None:
    if path is None:
        return
    if report.report_kind(path) is None:
        report.error(f"--report {path}: unknown extension; use .html, .md or .txt")
        raise typer.Exit(2)
    if not path.resolve().parent.is_dir():
        report.error(f"--report {path}: no such folder: {path.parent}")
        raise typer.Exit(2)


def _print(
    result: RunResult, style: report.ReportStyle, options: RunOptions, path: Path | None
) -> bool:
    """Print the run (the fixed source itself for stdin with a write), then save the report
    when asked; False when the report could not be saved."""
    if options.stdin_source is not None and options.write:
        report.print_fixed_source(result, style)
    else:
        report.print_run(result, style)
    return _save_report(result, style, path)


def _save_report(result: RunResult, style: report.ReportStyle, path: Path | None) -> bool:
    """Save the report when asked; False when it could not be written (exit 1)."""
    if path is None:
        return True
    try:
        report.save_report(result, style, path)
    except OSError as error:
        report.error(f"cannot save the report to {path}: {error.strerror or error}")
        return False
    return True


def _refuse_conflicts(conflicts: list[tuple[bool, str]]) -> None:
    """Exit 2 on the first combination of flags that would be silently ignored; each entry is
    (given, a message naming the flags and what to use instead)."""
    for given, message in conflicts:
        if given:
            report.error(message)
            raise typer.Exit(2)


def _verification_off(verify: bool, diff: bool) -> str:
    """The flag that turns `migrate`'s verification off."""
    return "--no-verify" if not verify else "--diff" if diff else "--check"


def _run(options: RunOptions, quiet: bool = False, output_format: str = "rich") -> RunResult:
    # Machine and one-line formats are read by programs and editors; a bar would clutter them.
    shown = not quiet and output_format == OutputFormat.rich.value
    try:
        with report.progress(shown) as on_progress:
            return run(options, on_progress)
    except (ConfigError, DiscoveryError) as error:
        report.error(str(error))
        raise typer.Exit(2) from error


@app.command(cls=_PlainHelpCommand)
def check(
    paths: PathsArgument = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Apply safe fixes (and unsafe ones with --unsafe-fixes).")
    ] = False,
    allow_dirty: AllowDirtyOption = False,
    unsafe_fixes: Annotated[
        bool, typer.Option("--unsafe-fixes", help="Also apply unsafe fixes (with --fix or --diff).")
    ] = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print the fixes as a unified diff; write nothing.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify/--no-verify", help="With --fix: verify rewritten code with torch."),
    ] = True,
    python: PythonOption = None,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    exclude: ExcludeOption = None,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
    stdin_filename: StdinOption = None,
    report_path: ReportPathOption = None,
    no_cache: NoCacheOption = False,
    quiet: QuietOption = False,
) -> None:
    """Report activation/loss bugs (MC2xx by default). Exit 0 clean, 1 findings.

    With `-` (stdin) and --fix, the fixed source goes to stdout and the findings to stderr."""
    _refuse_conflicts(
        [
            (
                fix and diff,
                "--fix and --diff cannot be combined: --diff prints the fixes and writes nothing, "
                "--fix writes them; use one of them",
            )
        ]
    )
    _check_report_path(report_path)
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
        allow_dirty=allow_dirty,
        verify=verify and fix and not diff,
        python=python,
        cache=not no_cache,
    )
    result = _run(options, quiet, output_format.value)
    style = report.ReportStyle(
        output_format.value,
        "check",
        fixing=fixing,
        writing=options.write,
        diff_only=diff,
        verifying=options.verify,
        unsafe_fixes=unsafe_fixes,
        quiet=quiet,
    )
    saved = _print(result, style, options, report_path)
    failed = any(item.status == "fail" for item in result.verification) or not saved
    would_change = diff and bool(result.changed_files)
    raise typer.Exit(1 if result.remaining or failed or result.errors or would_change else 0)


@app.command(cls=_PlainHelpCommand)
def migrate(
    paths: PathsArgument = None,
    write: Annotated[bool, typer.Option("--write", help="Apply the migration.")] = False,
    allow_dirty: AllowDirtyOption = False,
    diff: Annotated[
        bool, typer.Option("--diff", help="Print a plain unified diff (git apply-able).")
    ] = False,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Exit 1 if anything would change or a migration unit is refused; write nothing.",
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Run the torch equivalence check (not with --diff or --check, which run none).",
        ),
    ] = True,
    python: PythonOption = None,
    unsafe_fixes: Annotated[
        bool, typer.Option("--unsafe-fixes", help="Also rewrite data-dependent code (MC106).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="With --write: write even when the verification fails."),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="A skipped verification fails.")] = False,
    interactive: Annotated[
        bool,
        typer.Option(
            "--interactive",
            "-i",
            help="Review the migration unit by unit (all of a unit's hunks, then accept, skip, "
            "accept all, quit) and write the accepted units, each whole.",
        ),
    ] = False,
    select: SelectOption = None,
    ignore: IgnoreOption = None,
    exclude: ExcludeOption = None,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
    stdin_filename: StdinOption = None,
    report_path: ReportPathOption = None,
    no_cache: NoCacheOption = False,
    quiet: QuietOption = False,
) -> None:
    """Migrate multi-label code to multi-class (MC1xx + MC2xx). Dry run unless --write.

    With `-` (stdin) and --write, the migrated source goes to stdout and the findings to
    stderr."""
    _refuse_conflicts(
        [
            (
                write and diff,
                "--write and --diff cannot be combined: --diff prints the migration as a patch "
                "and writes nothing; use --write to apply it, or --diff to see it",
            ),
            (
                write and check_only,
                "--write and --check cannot be combined: --check writes nothing and exits 1 if "
                "anything would change; use --write to apply the migration, or --check in CI",
            ),
            (
                force and not write,
                "--force needs --write: it writes the migration even when the verification "
                "fails; add --write, or drop --force",
            ),
            (
                strict and not (verify and not diff and not check_only),
                f"--strict and {_verification_off(verify, diff)} cannot be combined: no "
                "verification runs, so none can be skipped; drop one of them",
            ),
        ]
    )
    _check_report_path(report_path)
    if interactive:
        _refuse_conflicts(
            [
                (given, f"--interactive cannot be combined with {name}")
                for name, given in (
                    ("--diff", diff),
                    ("--check", check_only),
                    # The review runs no verification, so none can be skipped.
                    ("--strict", strict),
                    ("--output-format", output_format is not OutputFormat.rich),
                    ("-", any(str(path) == "-" for path in paths or [])),
                )
            ]
        )
        options = _options(
            paths,
            select,
            ignore,
            exclude,
            config,
            stdin_filename,
            default_select=MIGRATE_DEFAULT,
            fix=Applicability.UNSAFE,
            data_dependent_fixes=unsafe_fixes,
            allow_dirty=allow_dirty,
            will_write=True,
        )
        _migrate_interactively(options, report_path)
    options = _options(
        paths,
        select,
        ignore,
        exclude,
        config,
        stdin_filename,
        default_select=MIGRATE_DEFAULT,
        fix=Applicability.UNSAFE,
        write=write,
        allow_dirty=allow_dirty,
        data_dependent_fixes=unsafe_fixes,
        verify=verify and not check_only and not diff,
        force=force,
        python=python,
        cache=not no_cache,
        strict=strict,
    )
    result = _run(options, quiet, output_format.value)
    strict = options.verify and (strict or result.config.strict)
    style = report.ReportStyle(
        output_format.value,
        "migrate",
        fixing=True,
        writing=write,
        diff_only=diff,
        verifying=options.verify,
        unsafe_fixes=unsafe_fixes,
        quiet=quiet,
        strict=strict,
    )
    saved = _print(result, style, options, report_path)
    statuses = {item.status for item in result.verification}
    failed = "fail" in statuses or (strict and unverified_count(result) > 0) or not saved
    # A refused unit is multi-label code left as it was: under --check it fails as a change
    # would (a tree left half-migrated by hand shows up as one).
    would_change = check_only and bool(result.changed_files or result.refused_units)
    raise typer.Exit(1 if failed or would_change or result.errors else 0)


def _migrate_interactively(options: RunOptions, report_path: Path | None) -> None:
    """Dry run, then one question per migration unit; write the accepted units, each whole.
    Verification does not run here: the closing line points to `verify --against HEAD`."""
    from migrate.output.interactive import review

    result = _run(options)
    report.print_review_start(result)
    outcome = review(result, report.unit_prompt())
    report.print_review(outcome)
    style = report.ReportStyle("rich", "migrate", fixing=True, writing=True)
    saved = _save_report(result, style, report_path)
    raise typer.Exit(1 if result.errors or not saved else 0)


@app.command("verify", cls=_PlainHelpCommand)
def verify_command(
    paths: PathsArgument = None,
    against: Annotated[
        str, typer.Option("--against", metavar="REF", help="The git ref to compare with.")
    ] = "HEAD",
    run_commands: Annotated[
        list[str] | None,
        typer.Option(
            "--run",
            metavar="CMD",
            help="A smoke command (a short training run, your tests) to run on both trees "
            "with torch instrumented; repeatable.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            help="Seconds allowed per model check and per --run command.",
        ),
    ] = DEFAULT_TIMEOUT_SECONDS,
    python: PythonOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="A skipped verification fails.")] = False,
    output_format: FormatOption = OutputFormat.rich,
    config: ConfigOption = None,
    report_path: ReportPathOption = None,
) -> None:
    """Check with torch what changed since a git ref. Exit 0 pass, 1 fail.

    Runs both trees: models still compute what they did, loss sites get logits and class
    indices, readers return softmax/argmax; with --run, your own command trains the migrated
    code correctly."""
    _check_report_path(report_path)
    try:
        result = verify_working_tree(
            paths or [Path(".")], against, config, run_commands or [], timeout, python
        )
    except (ConfigError, DiscoveryError, VerifyError) as error:
        report.error(str(error))
        raise typer.Exit(2) from error
    style = report.ReportStyle(output_format.value, "verify", verifying=True)
    report.print_run(result, style)
    saved = _save_report(result, style, report_path)
    statuses = {item.status for item in result.verification}
    # A finding in a changed file is a bug the migration left; with --strict, a run that
    # verified nothing is not a pass either.
    unverified = (strict or result.config.strict) and (unverified_count(result) > 0 or not statuses)
    if unverified:
        report.strict_failure(result)
    failed = "fail" in statuses or unverified or bool(result.findings) or not saved
    raise typer.Exit(1 if failed else 0)


class RulesFormat(str, Enum):
    rich = "rich"
    concise = "concise"
    json = "json"


@app.command("rules", cls=_PlainHelpCommand)
def list_rules(
    output_format: Annotated[
        RulesFormat,
        typer.Option(
            "--output-format",
            metavar="FORMAT",
            help="rich (a table; plain lines when not on a terminal), concise or json.",
        ),
    ] = RulesFormat.rich,
) -> None:
    """List every rule."""
    defaults = {
        "check": selected_by_default(CHECK_DEFAULT),
        "migrate": selected_by_default(MIGRATE_DEFAULT),
    }
    report.print_rules(all_rules(), output_format.value, defaults)


@app.command(cls=_PlainHelpCommand)
def explain(
    code: Annotated[
        str,
        typer.Argument(
            metavar="CODE", help="A rule code such as MC201.", autocompletion=_complete_explain
        ),
    ],
) -> None:
    """Show one rule's documentation."""
    rule = rule_by_code(code)
    if rule is None:
        diagnostic = diagnostic_by_code(code)
        if diagnostic is not None:
            report.print_markdown(diagnostic_markdown(diagnostic))
            return
        report.error(f"no rule {code!r} (see `ml2mc rules`)")
        raise typer.Exit(2)
    report.print_explain(rule)


def main() -> None:
    try:
        # One name however it was started (`python -m migrate` too): the completion scripts
        # complete the `ml2mc` command, and the help names the command users type.
        app(prog_name="ml2mc")
    except KeyboardInterrupt:
        report.error("interrupted; each migration unit is either fully written or untouched")
        raise SystemExit(130) from None
    except Exception as error:  # a bug of ours must end with a message, not a traceback
        report.internal_error(error)
        raise SystemExit(2) from None
