"""One run, in the order data flows: discover -> read -> rules and fixes -> write -> verify.

The CLI builds `RunOptions`, calls `run`, and hands the `RunResult` to the report.
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import ctypes.util
import fnmatch
import multiprocessing
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from migrate import cache
from migrate.analysis.graph import ProjectGraph
from migrate.analysis.selection import (
    IMPORT_DEPTH,
    callers_of,
    collection_paused,
    is_small_project,
    select_files,
    speaks,
)
from migrate.batches import plan_batches
from migrate.config import Config, ConfigError, find_pyproject, load_config
from migrate.discovery import (
    ReadFailure,
    SourceFile,
    discover,
    encode_source,
    packages_on_disk,
    read_source,
)
from migrate.engine import (
    ModuleInput,
    check_project,
    diagnostic,
    parse_python,
    reraise_interrupt,
)
from migrate.findings import FileOutcome, Finding
from migrate.fixing.units import RefusedUnit, UnitPlan, gate_units
from migrate.registry import known_prefix, rule_by_code, select_rules
from migrate.rule import Applicability, ModelRelation, Rule, Violation
from migrate.writer import PlannedWrite, UnitWriteFailure, unified_diff, write_unit

if TYPE_CHECKING:
    from migrate.verify import VerifyResult

CHECK_DEFAULT = ("MC2",)
MIGRATE_DEFAULT = ("MC1", "MC2")


@dataclass(frozen=True)
class RunOptions:
    paths: list[Path]
    default_select: tuple[str, ...] = CHECK_DEFAULT
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    fix: Applicability | None = None
    write: bool = False
    verify: bool = False
    config_path: Path | None = None
    # Source given on standard input, analyzed as if it were this file.
    stdin_source: str | None = None
    stdin_filename: str | None = None
    # Plan fixes that hold only for some data (one-hot targets taken by argmax).
    data_dependent_fixes: bool = False
    # Write files that have uncommitted changes in their git work tree.
    allow_dirty: bool = False
    # Plan as for a write without writing (`--interactive` writes what the user accepts
    # afterwards): read-only files and files with uncommitted changes refuse their unit.
    will_write: bool = False
    # Write even when the verification (which runs before any write) fails.
    force: bool = False
    # The project's interpreter for the verification child (None: `verify` picks it).
    python: Path | None = None
    # Strict mode: a check that could not run (not verified) blocks the write as a failure
    # does. True: `--strict`; False: as `strict` in `[tool.ml2mc]` says; None: strict mode does
    # not apply (`check --fix`).
    strict: bool | None = None
    # Answer an unchanged run that writes and verifies nothing from the persistent cache
    # (`migrate.cache`); the command line turns it on, `--no-cache` off.
    cache: bool = False


@dataclass
class FileReport:
    path: Path
    display: str
    outcome: FileOutcome
    source: SourceFile | None = None
    write_error: str | None = None
    written: bool = False

    @property
    def diff(self) -> str:
        if not self.outcome.changed:
            return ""
        return unified_diff(self.display, self.outcome.original, self.outcome.fixed)


@dataclass(frozen=True)
class Comparison:
    """What `verify` compared: the git ref against the working tree, and how many Python
    files under the given paths differ (the report counts the checks by kind)."""

    ref: str
    changed_files: int


@dataclass
class RunResult:
    files: list[FileReport]
    config: Config
    verification: list[VerifyResult] = field(default_factory=list)
    verification_error: str | None = None
    # Said to the user about the run itself (writing outside git, ...).
    notices: list[str] = field(default_factory=list)
    # Warnings about the input (no Python files under the given paths); the run goes on.
    warnings: list[str] = field(default_factory=list)
    # `verify`: what was compared with what (None for `check` and `migrate`).
    comparison: Comparison | None = None
    # Migration units left whole as they were, each with what blocked it (`migrate.fixing.units`).
    refused_units: list[RefusedUnit] = field(default_factory=list)
    # The migration units to write, each the display paths of the files it changes, written
    # together or not at all (`--interactive` asks about each unit as one).
    units: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def findings(self) -> list[tuple[FileReport, Finding]]:
        return [(report, finding) for report in self.files for finding in report.outcome.findings]

    @property
    def changed_files(self) -> list[FileReport]:
        return [report for report in self.files if report.outcome.changed]

    @property
    def remaining(self) -> int:
        return sum(len(report.outcome.remaining) for report in self.files)

    @property
    def errors(self) -> int:
        tool_errors = sum(
            1 for _, finding in self.findings if finding.violation.code.startswith("MC0")
        )
        return tool_errors + sum(1 for report in self.files if report.write_error)


def display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def resolve_config(options: RunOptions) -> Config:
    if options.config_path is not None:
        return load_config(options.config_path)
    start = options.paths[0] if options.paths else Path.cwd()
    return load_config(find_pyproject(start))


def run(
    options: RunOptions, on_progress: Callable[[str, int, int], None] | None = None
) -> RunResult:
    if options.verify and options.stdin_source is None:
        from migrate import verify

        verify.set_interpreter(str(options.python) if options.python else None)
        # The child imports torch while the rules run; it is stopped if nothing needs it.
        verify.start_early()
    config = resolve_config(options)
    _check_config_codes(config)
    select = options.select if options.select is not None else config.select
    ignore = [*config.ignore, *options.ignore]
    if select is not None:
        select = [*select, *config.extend_select]
    rules = select_rules(select, ignore, options.default_select)
    if select is None and config.extend_select:
        # Added to the command's default selection (which keeps its opt-in rules off).
        chosen = {rule.code for rule in rules}
        extra = select_rules(config.extend_select, ignore)
        rules = sorted(
            [*rules, *(rule for rule in extra if rule.code not in chosen)],
            key=lambda rule: rule.code,
        )
    if options.stdin_source is not None:
        name = options.stdin_filename or "stdin.py"
        ignored = tuple(_per_file_ignores(config, Path(name)))
        module = ModuleInput(options.stdin_source, ignored=ignored)
        outcome = check_project({name: module}, rules, options.fix)[name]
        return RunResult([FileReport(Path(name), name, outcome)], config)
    # Globs are relative to the scanned folder, the current folder and the config's folder.
    anchors = [Path.cwd(), *([config.root] if config.root is not None else [])]
    files = discover(options.paths, [*config.exclude, *options.exclude], anchors)
    if not files:
        return RunResult([], config, warnings=[NO_PYTHON_FILES])
    key = None
    if options.cache and not (options.write or options.will_write) and not options.verify:
        settings = (sorted(rule.code for rule in rules), options.fix, options.data_dependent_fixes)
        key = cache.run_key(files, (settings, config))
        cached = cache.load(cache.folder(), key) if key is not None else None
        if cached is not None:
            reports = [FileReport(Path(item.path), item.display, item.outcome) for item in cached]
            return RunResult(reports, config)
    sources: dict[Path, SourceFile | ReadFailure] = {}
    for number, path in enumerate(files, start=1):
        sources[path] = read_source(path)
        if on_progress is not None:
            on_progress("reading", number, len(files))
    protected: set[Path] = set()
    notices: list[str] = []
    if options.write or options.will_write:
        protected, notices = _protected_by_git(files, options.allow_dirty)
    reports, plan = _analyze(files, sources, config, rules, options, protected, on_progress)
    refused = list(plan.refused) if plan is not None else []
    if key is not None and not refused:
        entries = [cache.CachedFile(str(r.path), r.display, r.outcome) for r in reports]
        cache.store(cache.folder(), key, entries)
    units = list(plan.written) if plan is not None else []
    result = RunResult(reports, config, notices=notices, refused_units=refused, units=units)
    if options.verify:
        # Before any write: a migration that fails its proof is not written (unless --force).
        _verify(result, options)
    if options.write:
        strict = options.strict is not None and (options.strict or config.strict)
        blocked = not_written_reason(result, strict, by_flag=options.strict is True)
        if blocked is not None and not options.force:
            for report in result.changed_files:
                report.write_error = blocked
        else:
            _write_units(result, plan)
    return result


NO_PYTHON_FILES = "no Python files found under the given path(s)"

VERIFICATION_FAILED = "the verification failed; fix the code or rerun with --force to write anyway"


def _verification_failed(result: RunResult) -> bool:
    """A check that ran and failed; a verification that could not run is *not verified*."""
    return any(item.status == "fail" for item in result.verification)


def unverified_count(result: RunResult) -> int:
    """The checks that could not run (`skip`), counting a verification that could not start
    at all as one."""
    skipped = sum(1 for item in result.verification if item.status == "skip")
    return skipped + (1 if result.verification_error else 0)


def not_written_reason(result: RunResult, strict: bool, by_flag: bool = True) -> str | None:
    """Why the migration must not be written (None: it may be): a check failed, or, in strict
    mode, a check could not run. `--force` writes anyway."""
    if _verification_failed(result):
        return VERIFICATION_FAILED
    unverified = unverified_count(result)
    if strict and unverified:
        source = "--strict is on" if by_flag else "strict = true in [tool.ml2mc]"
        return (
            f"{unverified} check(s) not verified and {source} (each skip says why); make "
            "them run, or rerun with --force to write anyway"
        )
    return None


def _analyze(
    files: list[Path],
    sources: dict[Path, SourceFile | ReadFailure],
    config: Config,
    rules: list[Rule],
    options: RunOptions,
    protected: set[Path],
    on_progress: Callable[[str, int, int], None] | None = None,
) -> tuple[list[FileReport], UnitPlan | None]:
    """Run the engine on the files that can matter (`migrate.analysis.selection`), all together so
    that fixes and flows can span files; a large check without fixes runs in batches. A
    migration's fixes then pass the unit gate (`migrate.fixing.units`): a unit is kept whole or
    reset whole."""
    readable = {path: source for path, source in sources.items() if isinstance(source, SourceFile)}
    graph = ProjectGraph(
        {
            path: source.text if isinstance(source, SourceFile) else ""
            for path, source in sources.items()
        },
        packages_on_disk(sources),
    )
    candidates = select_files(readable, rules, options.fix is not None, graph)
    whole = is_small_project(readable)
    trees: dict[Path, ast.Module] = {}
    if whole:
        # The rest of a small tree joins the analysis, so what it wires together (a script
        # handing a model to a coordinator that hands it to a client) is followed. A file
        # among them that does not parse could hold no finding: it is left out, unreported.
        trees = _parsed(readable, set(readable) - candidates)
        candidates |= set(trees)
    displays = {path: display_path(path) for path in files}
    modules = {
        displays[path]: ModuleInput(
            readable[path].text,
            graph.module_name(path),
            tuple(_per_file_ignores(config, path)),
            writable=not (options.write or options.will_write)
            or (_writable(path) and path not in protected),
            tree=trees.get(path),
        )
        for path in files
        if path in candidates
    }
    context = _context_files(graph, readable, candidates, displays, config)
    # Functions whose callers decide what reaches a loss (a check reads those callers next,
    # unless the whole tree is in the analysis already).
    sites: dict[str, set[str]] | None = {} if options.fix is None and not whole else None
    if on_progress is not None:  # the stage starts now: a bar can show it during a long file
        on_progress("analysing", 0, len(modules))
    batched = options.fix is None and sum(len(m.source) for m in modules.values()) > BATCH_BYTES
    # The files that can be a helper's callers in a check's second look (`callers_of`).
    speaking = (
        {path for path, source in readable.items() if speaks(source.text)}
        if sites is not None
        else set()
    )
    released = _release_texts(sources, readable, candidates, graph) if batched else set()

    def text_of(path: Path) -> str | None:
        source = readable.get(path) or (read_source(path) if path in released else None)
        return source.text if isinstance(source, SourceFile) else None

    with contextlib.ExitStack() as stack:
        if batched:
            # One pool for both stages: the second look's groups run in workers too.
            pool = _worker_pool(stack)
            outcomes = _check_in_batches(modules, rules, context, sites, on_progress, pool)
            _return_freed_memory()  # what the batches' results were unpickled through
        else:
            pool = None
            context.texts = {displays[path]: source.text for path, source in readable.items()}
            analysed = partial(on_progress, "analysing") if on_progress is not None else None
            outcomes = check_project(
                modules, rules, options.fix, options.data_dependent_fixes, context, sites, analysed
            )
        if sites:
            _check_callers(
                outcomes,
                sites,
                modules,
                text_of,
                speaking,
                graph,
                displays,
                config,
                rules,
                context,
                pool,
                CONTEXT_BUDGET_BYTES if batched else None,
            )
    plan: UnitPlan | None = None
    if options.fix is not None and any(rule.code.startswith("MC1") for rule in rules):
        texts = {displays[path]: source.text for path, source in readable.items()}
        names = {displays[path]: graph.module_name(path) for path in readable}
        unwritable = {
            displays[path]: (
                "has uncommitted changes (commit or stash first, or pass --allow-dirty)"
                if path in protected
                else "is read-only"
            )
            for path in candidates
            if not modules[displays[path]].writable
        }
        plan = gate_units(outcomes, texts, names, unwritable)
    # A file that a refused unit needed but `--write` may not touch is a write that failed.
    needed = {file for unit in plan.refused for file in unit.unwritable} if plan else set()
    reports: list[FileReport] = []
    for path in files:
        display = displays[path]
        if path in released:  # nothing is written: like a cached run's file, without its text
            outcome = outcomes.get(display) or FileOutcome(display, "", "")
            reports.append(FileReport(path, display, outcome))
            continue
        source = sources[path]
        if isinstance(source, ReadFailure):
            failure = FileOutcome(display, "", "")
            violation = diagnostic("MC001", f"cannot analyze: {source.reason}")
            failure.findings = [Finding(violation)]
            failure.remaining = [violation]
            reports.append(FileReport(path, display, failure))
            continue
        outcome = outcomes.get(display) or FileOutcome(display, source.text, source.text)
        report = FileReport(path, display, outcome, source)
        module = modules.get(display)
        if module is not None and not module.writable:
            # Only a fix this run would have applied was held back (`check --fix` leaves the
            # unsafe ones out anyway).
            allowed = options.fix or Applicability.UNSAFE
            blocked = display in needed or any(
                f.violation.fix is not None
                and not f.fixed
                and allowed.allows(f.violation.fix.applicability)
                for f in outcome.findings
            )
            if blocked and path in protected:
                report.write_error = (
                    "file has uncommitted changes; its fixes (and any fix that also edits it) "
                    "were not applied: commit or stash first, or pass --allow-dirty"
                )
            elif blocked:
                report.write_error = (
                    "file is read-only; its fixes (and any fix that also edits it) were not applied"
                )
        reports.append(report)
    return reports, plan


def _parsed(readable: dict[Path, SourceFile], paths: set[Path]) -> dict[Path, ast.Module]:
    """The syntax trees of the files among `paths` that parse."""
    trees: dict[Path, ast.Module] = {}
    for path in sorted(paths):
        tree = parse_python(readable[path].text)
        if not isinstance(tree, Violation):
            trees[path] = tree
    return trees


def _size_of(path: Path, module: ModuleInput | None) -> int:
    if module is not None:
        return len(module.source)
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _release_texts(
    sources: dict[Path, SourceFile | ReadFailure],
    readable: dict[Path, SourceFile],
    keep: set[Path],
    graph: ProjectGraph,
) -> set[Path]:
    """A large check without fixes keeps only the texts of the files it analyses: the others
    (on torch's tree and four others, 80% of 190 MB of text) are read again from disk when
    the second look needs them, and are reported without their text, as a cached run
    reports a file without findings. The graph learns every file's imports first."""
    graph.release_texts()
    released = {path for path in readable if path not in keep}
    for path in released:
        del readable[path]
        del sources[path]
    _return_freed_memory()
    return released


def _return_freed_memory() -> None:
    """Give the memory just freed back to the system. The C library keeps freed blocks for
    reuse, so without this the released texts would still count against this process while
    the workers run."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _protected_by_git(files: list[Path], allow_dirty: bool) -> tuple[set[Path], list[str]]:
    """Files with uncommitted changes, which `--write` leaves alone so that every migration is
    one `git diff` from review and one `git checkout` from undo."""
    roots: set[Path] = set()
    outside = False
    for folder in sorted({path.resolve().parent for path in files}):
        root = _git_toplevel(folder)
        if root is None:
            outside = True
        else:
            roots.add(root)
    dirty: set[Path] = set()
    for root in roots:
        completed = subprocess.run(
            ["git", "status", "--porcelain", "-z", "--untracked-files=all"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        for entry in completed.stdout.split("\0"):
            if len(entry) > 3:
                dirty.add((root / entry[3:]).resolve())
    notices = []
    if outside:
        notices.append("not inside a git work tree: files are written without a way back")
    if allow_dirty:
        return set(), notices
    return {path for path in files if path.resolve() in dirty}, notices


def _git_toplevel(folder: Path) -> Path | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # git is not installed
        return None
    if completed.returncode != 0:
        return None
    return Path(completed.stdout.strip()).resolve()


def _writable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IWUSR) and os.access(path.parent, os.W_OK)


def _check_config_codes(config: Config) -> None:
    for key, codes in (
        ("select", config.select or []),
        ("ignore", config.ignore),
        ("extend-select", config.extend_select),
        *(("per-file-ignores", codes) for codes in config.per_file_ignores.values()),
    ):
        for code in codes:
            if not known_prefix(code):
                where = config.root / "pyproject.toml" if config.root else "configuration"
                raise ConfigError(f"{where}: unknown rule code or prefix in {key}: {code!r}")


BATCH_BYTES = 600_000
# A function whose callers are read in the second look of a check, called from more modules
# than this, is a library's plumbing (a compiler's IR helpers, called from a hundred modules),
# not a training step: reading all of them at once took gigabytes of syntax trees.
MAX_SITE_CALLERS = 40
# The source a batch or a second-look group may read beyond its members (`ContextFiles`).
CONTEXT_BUDGET_BYTES = 800_000


def _context_files(
    graph: ProjectGraph,
    readable: dict[Path, SourceFile],
    candidates: set[Path],
    displays: dict[Path, str],
    config: Config,
) -> ContextFiles:
    """The files outside the selection, one per module name (the graph's choice: the first
    in path order), and who imports whom, for the analysis to read on demand."""
    return ContextFiles(
        {
            module_name: (
                displays[Path(path)],
                str(path),
                tuple(_per_file_ignores(config, Path(path))),
            )
            for module_name, path in graph.paths_by_module.items()
            if Path(path) in readable and Path(path) not in candidates
        },
        {
            graph.module_name(path): tuple(
                sorted(graph.module_name(importer) for importer in graph.importers_of(path))
            )
            for path in readable
        },
        aliases=graph.aliases,
    )


def _check_callers(
    outcomes: dict[str, FileOutcome],
    sites: dict[str, set[str]],
    modules: dict[str, ModuleInput],
    text_of: Callable[[Path], str | None],
    speaking: set[Path],
    graph: ProjectGraph,
    displays: dict[Path, str],
    config: Config,
    rules: list[Rule],
    context: ContextFiles,
    pool: ProcessPoolExecutor | None = None,
    budget: int | None = None,
) -> None:
    """The second look of a check: the modules whose functions let their callers decide what
    reaches a loss are analysed again, together with those callers (one analysis, so each
    file is read once), and what that finds is merged. A batched check runs the groups in
    its workers, so this process holds the first pass's outcomes and no group's analysis.
    One round only: the callers' own callers are not read (a model handed `main` ->
    `Coordinator(model)` -> `Client(model)` is not followed; a second round doubled the time
    of a check of five large trees)."""
    shared = _with_selected(context, modules)
    codes = [rule.code for rule in rules]
    # Sites with their callers, gathered into groups of about a batch's size: a file is read
    # once per group, and memory stays that of one group.
    by_display = {display: path for path, display in displays.items()}
    sizes: dict[Path, int] = {}
    groups: list[set[Path]] = [set()]
    for display, functions in sorted(sites.items()):
        path = by_display[display]
        callers = callers_of(path, functions, text_of, graph, speaking, MAX_SITE_CALLERS)
        if not callers or len(callers) > MAX_SITE_CALLERS:
            continue
        for member in (path, *callers):
            if member not in sizes:
                sizes[member] = _size_of(member, modules.get(displays[member]))
        if sum(sizes[member] for member in groups[-1]) > BATCH_BYTES:
            groups.append(set())
        groups[-1] |= {path, *callers}
    jobs: list[BatchJob] = []
    for members in groups:
        if not members:
            continue
        ordered = sorted(members)
        # The modules the first pass analysed are sent; the callers it did not are read by
        # the worker (this process need not hold their texts).
        together = {displays[m]: modules[displays[m]] for m in ordered if displays[m] in modules}
        to_read = {
            displays[member]: (
                str(member),
                graph.module_name(member),
                tuple(_per_file_ignores(config, member)),
            )
            for member in ordered
            if displays[member] not in modules
        }
        # The selected modules outside the group (the model class a caller builds) are read
        # when a flow reaches them, as in a batch.
        in_group = frozenset([*together, *to_read])
        job_context = _job_context(shared, in_group, budget)
        jobs.append((together, codes, in_group, job_context, False, to_read))
    for _, found, _ in _run_jobs(jobs, pool):
        _share_texts(found, modules)
        for found_path, outcome in found.items():
            if found_path in outcomes:
                _merge_findings(outcomes[found_path], outcome)
            elif outcome.findings:  # a caller without findings is reported as before
                outcomes[found_path] = outcome


@dataclass
class ContextFiles:
    """The files of the run outside the selection, by module name: the analysis reads one
    when a flow reaches it (`migrate.engine.Context`). Picklable, so that batch workers read
    the files themselves instead of receiving every text."""

    # module name -> (display path, path on disk, codes ignored there)
    files: dict[str, tuple[str, str, tuple[str, ...]]]
    # module name -> the modules that import it directly (from the project graph)
    importers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # display path -> text, when the caller has read the files already
    texts: dict[str, str] | None = None
    # dotted path -> module name, for imports of namespace packages (`ProjectGraph.aliases`)
    aliases: dict[str, str] = field(default_factory=dict)
    # Bytes of source this analysis may still read (None: no limit). A module's tree takes
    # about 35 times its source, and a library's modules reach each other without end: one
    # group of torch's tree read 148 modules (9 MB) and held 380 MB.
    budget: int | None = None
    # Display paths never read from here (the members of the job, which it has already).
    excluded: frozenset[str] = frozenset()

    def canonical(self, module_name: str) -> str | None:
        return self.aliases.get(module_name)

    def importers_of(self, module_name: str) -> list[str]:
        found: list[str] = []
        frontier = [module_name]
        for _ in range(IMPORT_DEPTH):
            frontier = [
                importer
                for module in frontier
                for importer in self.importers.get(module, ())
                if importer != module_name and importer not in found
            ]
            found.extend(dict.fromkeys(frontier))
        return found

    def find(self, module_name: str) -> tuple[str, ModuleInput] | None:
        entry = self.files.get(module_name)
        if entry is None or entry[0] in self.excluded:
            return None
        display, location, ignored = entry
        text = self.texts.get(display) if self.texts is not None else None
        if text is None:
            source = read_source(Path(location))
            if not isinstance(source, SourceFile):
                return None
            text = source.text
        if self.budget is not None:
            if len(text) > self.budget:
                return None
            self.budget -= len(text)
        return display, ModuleInput(text, module_name, ignored, writable=False)


def _check_in_batches(
    modules: dict[str, ModuleInput],
    rules: list[Rule],
    context: ContextFiles,
    parameter_sites: dict[str, set[str]] | None,
    on_progress: Callable[[str, int, int], None] | None = None,
    pool: ProcessPoolExecutor | None = None,
) -> dict[str, FileOutcome]:
    """A large check without fixes: batches of folders on every core, each reading the other
    modules its flows reach. Memory stays that of one batch per worker, not of the tree."""
    plan = plan_batches({path: len(module.source) for path, module in modules.items()}, BATCH_BYTES)
    codes = [rule.code for rule in rules]
    # Each batch sees the other selected modules as context too (read when reached).
    shared = _with_selected(context, modules)
    jobs: list[BatchJob] = [
        (
            {path: modules[path] for path in sorted(members)},
            codes,
            members,
            _job_context(shared, members, CONTEXT_BUDGET_BYTES),
            parameter_sites is not None,
            {},
        )
        for members in plan
    ]
    outcomes: dict[str, FileOutcome] = {}
    results = []
    total = sum(len(job[2]) for job in jobs)
    done = 0
    for result in _run_jobs(jobs, pool if len(jobs) > 1 else None):
        _share_texts(result[1], modules)
        results.append(result)
        done += len(result[0])
        if on_progress is not None:
            on_progress("analysing", done, total)
    for members, reported, sites in results:
        if parameter_sites is not None:
            parameter_sites.update(sites)
        for path, outcome in reported.items():
            if path in members:
                _merge_findings(outcome, outcomes.get(path))
                outcomes[path] = outcome
    # A finding that starts in a module outside the batch (a model's forward, read by a
    # member's loss) is reported there, by the batch of the member that saw it.
    for members, reported, _ in results:
        for path, outcome in reported.items():
            if path not in members:
                if path in outcomes:
                    _merge_findings(outcomes[path], outcome)
                else:
                    outcomes[path] = outcome
    return outcomes


def _share_texts(reported: dict[str, FileOutcome], modules: dict[str, ModuleInput]) -> None:
    """A worker sends the outcomes of the modules it was sent without their text
    (`_check_batch`), and may send others' with a copy of it: an unchanged outcome gets
    this process's text (a check of a large tree would otherwise hold it twice)."""
    for path, outcome in reported.items():
        module = modules.get(path)
        if module is None or outcome.fixed != outcome.original:
            continue
        if outcome.original in ("", module.source):
            outcome.original = outcome.fixed = module.source


def _with_selected(context: ContextFiles, modules: dict[str, ModuleInput]) -> ContextFiles:
    """The run's context with the selected modules added: a batch or a group reads the
    ones outside it when a flow reaches them. One for all jobs of a stage."""
    files = dict(context.files)
    for path, module in modules.items():
        # A display path is relative to the working folder, which the workers share.
        files[module.module_name] = (path, path, module.ignored)
    return ContextFiles(files, context.importers, context.texts, context.aliases)


def _job_context(shared: ContextFiles, members: frozenset[str], budget: int | None) -> ContextFiles:
    """A job's view of the shared context (the same tables): its own members are not read
    from it, and it has a budget of its own. Only a large check is cut short: a fix must see
    every reader it changes, and a small project's context is small."""
    return replace(shared, budget=budget, excluded=members)


def _merge_findings(into: FileOutcome, other: FileOutcome | None) -> None:
    if other is None:
        return
    seen = {(v.code, v.span, v.message) for v in into.remaining}
    for finding in other.findings:
        violation = finding.violation
        key = (violation.code, violation.span, violation.message)
        if key not in seen:
            seen.add(key)
            into.findings.append(finding)
            into.remaining.append(violation)
    into.findings.sort(key=lambda f: (f.violation.span, f.violation.code))
    into.remaining.sort(key=lambda v: (v.span, v.code))


# The modules of a batch (or of a second-look group), the rule codes, the members, the other
# files to read when reached, whether to collect the functions whose callers decide, and the
# members to read from disk (display path -> path on disk, module name, codes ignored).
BatchJob = tuple[
    dict[str, ModuleInput],
    list[str],
    frozenset[str],
    ContextFiles,
    bool,
    dict[str, tuple[str, str, tuple[str, ...]]],
]
BatchResult = tuple[frozenset[str], dict[str, FileOutcome], dict[str, set[str]]]


def _worker_pool(stack: contextlib.ExitStack) -> ProcessPoolExecutor | None:
    """The batch workers, one per core; none on a single core (the batches run here).

    Each batch gets a fresh process, started from a server that has imported only the
    engine: a worker that ran several batches kept their memory (on torch's tree one grew
    from 100 to 290 MB between batches and peaked at 450 MB in its last one), and a worker
    forked from this process would start with the sources this process holds."""
    workers = os.cpu_count() or 1
    if workers < 2:
        return None
    if "forkserver" in multiprocessing.get_all_start_methods():
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload([__name__])
        context: multiprocessing.context.BaseContext = server
    else:
        context = multiprocessing.get_context("spawn")
    if sys.version_info >= (3, 11):
        pool = ProcessPoolExecutor(workers, context, max_tasks_per_child=1)
    else:  # Python 3.10 cannot replace a worker: each keeps what its batches left
        pool = ProcessPoolExecutor(workers, context)
    return stack.enter_context(pool)


def _run_jobs(jobs: list[BatchJob], pool: ProcessPoolExecutor | None) -> Iterator[BatchResult]:
    """The jobs' results in order: in the workers, or here when there are none or they
    cannot start (a fork server needs a writable temporary folder; a worker may be killed).
    A job whose worker failed runs here again, with those after it."""
    if pool is None:
        yield from map(_check_batch, jobs)
        return
    done = 0
    try:
        for result in pool.map(_check_batch, jobs):
            done += 1
            yield result
    except (OSError, BrokenProcessPool):
        yield from map(_check_batch, jobs[done:])


def _check_batch(job: BatchJob) -> BatchResult:
    """The outcomes of a batch's modules: its members', and those of the modules its flows
    reached (a finding may start there); and its functions whose callers decide."""
    modules, codes, members, context, collect_sites, to_read = job
    sent = set(modules)
    for display, (location, module_name, ignored) in to_read.items():
        source = read_source(Path(location))
        if isinstance(source, SourceFile):  # one that cannot be read now is left out
            modules[display] = ModuleInput(source.text, module_name, ignored)
    rules = [rule() for code in codes if (rule := rule_by_code(code)) is not None]
    sites: dict[str, set[str]] | None = {} if collect_sites else None
    with collection_paused():
        outcomes = check_project(modules, rules, context=context, parameter_sites=sites)
    # The texts of the modules it was sent go back without them: the sender has them
    # (`_share_texts`), and a large tree's would otherwise be pickled twice.
    for path in sent:
        outcome = outcomes.get(path)
        if outcome is not None and not outcome.changed:
            outcome.original = outcome.fixed = ""
    return members, outcomes, sites or {}


def _per_file_ignores(config: Config, path: Path) -> list[str]:
    """Codes ignored for `path`: globs match the path relative to the configuration's folder
    (and, for configurations given by hand, relative to the current folder)."""
    candidates = {display_path(path), path.name}
    if config.root is not None:
        try:
            candidates.add(path.resolve().relative_to(config.root.resolve()).as_posix())
        except ValueError:
            pass
    codes: list[str] = []
    for pattern, ignored in config.per_file_ignores.items():
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
            codes.extend(ignored)
    return codes


def _write_units(result: RunResult, plan: UnitPlan | None) -> None:
    """Write each unit's files together (`migrate.writer.write_unit`). Without a unit gate
    (`check --fix`), a fix may still span files, so the run's changes are one unit."""
    changed = {report.display: report for report in result.changed_files}
    units = [tuple(changed)] if plan is None else list(plan.written)
    placed = {display for unit in units for display in unit}
    units.extend((display,) for display in changed if display not in placed)
    for unit in units:
        reports = [changed[display] for display in unit if display in changed]
        if reports:
            write_unit_reports(reports)


def write_unit_reports(reports: list[FileReport]) -> None:
    """Write the files of one unit together, each to its planned text; on a failure none is
    written and each says why (`migrate.writer.write_unit`)."""
    writes: list[PlannedWrite] = []
    for report in reports:
        assert report.source is not None
        try:
            data = encode_source(report.source, report.outcome.fixed)
        except UnicodeEncodeError as error:
            encoding = report.source.encoding
            _unit_not_written(
                reports, report, f"the fixed code cannot be encoded as {encoding}: {error}"
            )
            return
        original = encode_source(report.source, report.source.text)
        writes.append(PlannedWrite(report.path, data, original))
    try:
        write_unit(writes)
    except UnitWriteFailure as failure:
        failed = next(report for report in reports if report.path == failure.path)
        _unit_not_written(reports, failed, failure.reason, failure.left_half_done)
        return
    for report in reports:
        report.written = True


def _unit_not_written(
    reports: list[FileReport],
    failed: FileReport,
    reason: str,
    left_half_done: tuple[Path, ...] = (),
) -> None:
    """Every file of the unit says why it was not written; a file that a failed rollback left
    with the new text says so (the only way a unit is left half-done)."""
    failed.write_error = reason
    for report in reports:
        if report is failed:
            continue
        if report.path in left_half_done:
            report.written = True
            report.write_error = (
                f"written, but its unit is incomplete: {failed.display} could not be written "
                f"({reason}) and this file could not be put back"
            )
        else:
            report.write_error = (
                f"not written: it belongs to one unit with {failed.display}, "
                f"which could not be written ({reason})"
            )


def _verify(result: RunResult, options: RunOptions) -> None:
    """Prove every model rewrite numerically (torch is imported only in the child process)."""
    from migrate import verify

    targets: list[verify.VerifyTarget] = []
    for report in result.changed_files:
        relations: dict[tuple[str, str], ModelRelation] = {}  # one check per class and relation
        for relation in report.outcome.model_relations:
            relations[(relation.class_name, relation.relation)] = relation
        for relation in relations.values():
            targets.append(
                verify.VerifyTarget(
                    file=report.path.resolve(),
                    display_file=report.display,
                    class_name=relation.class_name,
                    original_source=report.outcome.original,
                    rewritten_source=report.outcome.fixed,
                    relation=relation.relation,
                    dim=relation.dim,
                    output_key=relation.output_key,
                    feeds_loss="cross_entropy",
                )
            )
    planned = [
        (report.path.resolve(), report.outcome.original, report.outcome.fixed)
        for report in result.changed_files
    ]
    if not targets and not planned:
        verify.cancel_early()
        return
    config = result.config
    root = Path(config.root or (options.paths[0] if options.paths else Path.cwd())).resolve()
    if root.is_file():
        root = root.parent
    try:
        settings = verify.settings_from_config(config.verify, root)
        result.verification = verify.verify_planned(targets, planned, root, settings)
    except Exception as error:  # the run's other results stay valid
        reraise_interrupt(error)
        result.verification_error = f"verification could not run: {type(error).__name__}: {error}"


class VerifyError(Exception):
    """`verify --against` cannot run (not a git repository, unknown ref)."""


# Per verification target, and per run of a `--run` command.
DEFAULT_TIMEOUT_SECONDS = 60.0


def verify_working_tree(
    paths: list[Path],
    ref: str,
    config_path: Path | None,
    run_commands: Sequence[str] = (),
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    python: Path | None = None,
) -> RunResult:
    """`ml2mc verify --against REF`: the models that changed since REF, checked with torch;
    with `--run CMD`, also the user's command run on both trees under the sanitizer. The
    changed files also get the static check (`check`'s default rules): a migration that left
    an activation/loss bug behind is reported as a finding."""
    from migrate import verify

    verify.set_interpreter(str(python) if python else None)
    config = resolve_config(RunOptions(paths=paths, config_path=config_path))
    files = discover(paths, config.exclude)
    if not files:
        # Not a git question at all: an empty search would otherwise mean the whole repository.
        return RunResult([], config, warnings=[NO_PYTHON_FILES], comparison=Comparison(ref, 0))
    root = Path(config.root or Path.cwd()).resolve()
    repo_root = _git_root(paths[0] if paths else Path.cwd())
    resolved = [path.resolve() for path in files]
    try:
        settings = verify.settings_from_config(config.verify, root, timeout_seconds)
        changed = verify.changed_since(resolved, ref, repo_root)
        results = verify.verify_against(resolved, ref, settings, repo_root, changed)
        for command in run_commands:
            results.append(verify.verify_run(command, ref, repo_root, Path.cwd(), timeout_seconds))
    except verify.VerifyError as error:
        raise VerifyError(str(error)) from error
    reports: list[FileReport] = []
    if changed:
        static = RunOptions(paths=[item.file for item in changed], config_path=config_path)
        reports = run(static).files
    return RunResult(
        reports, config, verification=results, comparison=Comparison(ref, len(changed))
    )


def _git_root(start: Path) -> Path:
    folder = start.resolve()
    folder = folder if folder.is_dir() else folder.parent
    completed = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise VerifyError(f"{start}: not inside a git work tree (verify --against needs git)")
    return Path(completed.stdout.strip())
