"""Speed and memory of `ml2mc` on real trees, side by side with ruff (parse only) and TorchFix.

For each corpus (see corpora.py) and for all of them together, this runs, alternating, N times:

    ruff check --isolated --no-respect-gitignore --select E9 --no-cache <tree>   (parse only)
    ml2mc check <tree> --no-cache --output-format json     (cold)
    ml2mc check <tree> --output-format json                (unchanged re-run, from the cache)
    ml2mc migrate <tree> --no-verify --no-cache --output-format json   (dry run)

The cache lives in a temporary folder (ML2MC_CACHE_DIR) that one untimed run fills before the
timed re-runs. Besides the five corpora, `synthetic` is a generated 25,000-line project of
small modules (benchmarks/synthetic.py), the shape of a user's repository.

and TorchFix (`torchfix <files>`, installed in its own virtual environment under
benchmarks/.cache/ because it pins an older libcst) on a fixed sample of each corpus: every
k-th file in path order, k chosen so that the sample has about --torchfix-lines lines. Its time
on the whole tree is extrapolated per line: startup + (sample time - startup) * lines / sample
lines, where startup is TorchFix's time on one empty file. For the combined tree the
extrapolations of the corpora are added up. ml2mc check is also timed on the same sample, so
that one ratio compares the two tools on identical input.

Wall time is the median of the runs. Memory is measured by a wrapper process that waits for
every process the command starts (also the batch workers, which a fork server starts): "peak"
is the largest resident set size of one process, "all processes" the largest sum of the
proportional set sizes of the whole process tree at one moment (sampled every 50 ms); the
goal of 500 MB is checked on the second. A command
whose first run takes longer than --slow seconds is not repeated (its n says so). Every tool
reads the same files, so the operating system's file cache is warm for all of them alike;
"cold" means that no tool keeps a cache of its own (ruff: --no-cache; ml2mc has none).

    python benchmarks/speed.py                       # everything (takes a while)
    python benchmarks/speed.py timm torchmetrics     # some corpora, and them together
    python benchmarks/speed.py --no-torchfix --repeat 1

Prints machine information and a markdown table; writes benchmarks/.cache/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import CACHE, CORPORA, PINNED, count_lines, ensure, python_files
from synthetic import TARGET as SYNTHETIC
from synthetic import write as write_synthetic

RESULTS = CACHE / "results.json"
TORCHFIX_VENV = CACHE / "torchfix-venv"
TORCHFIX_REQUIREMENT = "torchfix==0.7.0"
GOAL_LINES = 400_000
GOAL_RUFF_RATIO = 3.0
GOAL_CACHED_RATIO = 1.0
GOAL_MIGRATE_RATIO = 2.0
GOAL_TORCHFIX_RATIO = 50.0
GOAL_PEAK_MB = 500.0

# Runs a command and prints to stderr the largest resident set of any process it started, the
# largest total proportional set size (PSS) of its whole process tree at one moment (sampled
# every 50 ms), and the CPU time of them all. It makes itself a subreaper, so that processes
# the command leaves behind (ml2mc's batch workers are children of a fork server, not of the
# command) are waited for here and their peak and CPU time counted.
_TREE_WRAPPER = """
import ctypes, os, resource, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
try:  # Linux only: elsewhere the workers a fork server starts are not counted
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
except AttributeError:
    pass
def tree(root):
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as handle:
                frontier.extend(int(child) for child in handle.read().split())
        except OSError:
            pass
    return found
def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
child = subprocess.Popen(sys.argv[1:])
tree_peak = 0
while child.poll() is None:
    tree_peak = max(tree_peak, sum(pss_kb(pid) for pid in tree(os.getpid())[1:]))
    time.sleep(0.05)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(
    f"\\nML2MC_BENCH={usage.ru_maxrss} {usage.ru_utime} {usage.ru_stime} {tree_peak}\\n"
)
sys.exit(child.returncode)
"""


@dataclass
class Run:
    seconds: float
    peak_kb: int  # the largest resident set of one process
    returncode: int
    cpu_seconds: float = 0.0  # user + system, of the process and its children
    load_before: float = 0.0  # 1-minute load average when the run started
    tree_peak_kb: int = 0  # the largest total PSS of the process tree at one moment


@dataclass
class Measure:
    tool: str
    command: list[str]
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(run.peak_kb for run in self.runs) / 1024

    @property
    def tree_peak_mb(self) -> float:
        return max(run.tree_peak_kb for run in self.runs) / 1024

    @property
    def cpu_median(self) -> float:
        return statistics.median(run.cpu_seconds for run in self.runs)


@dataclass
class Target:
    name: str
    root: Path  # the working directory of every command
    paths: list[str]  # the tree(s), relative to root
    files: int = 0
    lines: int = 0
    measures: dict[str, Measure] = field(default_factory=dict)
    ml2mc_summary: dict[str, Any] = field(default_factory=dict)
    torchfix: dict[str, Any] = field(default_factory=dict)
    git: str = ""  # the ml2mc measured: the code may change between targets


def machine_info() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "ruff": _version(["ruff", "--version"]),
        "ml2mc": _version([*ml2mc_command(), "--version"]),
        "torchfix": _version([str(torchfix_binary()), "--version"])
        if torchfix_binary().exists()
        else "",
        "libcst": _package_version("libcst"),
        "git": git_state(),
    }


def git_state() -> str:
    """The commit of the ml2mc being measured, and the files of its engine edited since."""
    root = Path(__file__).resolve().parent.parent
    head = _version(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "migrate", "rules"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return head
    dirty = [line[3:] for line in completed.stdout.splitlines()]
    return head + (f" + edits to {', '.join(dirty)}" if dirty else "")


def _version(command: list[str]) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (completed.stdout or completed.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def ml2mc_command() -> list[str]:
    found = shutil.which("ml2mc")
    return [found] if found else [sys.executable, "-m", "migrate"]


def torchfix_binary() -> Path:
    return TORCHFIX_VENV / "bin" / "torchfix"


def ensure_torchfix() -> Path:
    """TorchFix in its own virtual environment: it pins libcst<1.6, which ml2mc must not get."""
    binary = torchfix_binary()
    if binary.exists():
        return binary
    subprocess.run([sys.executable, "-m", "venv", str(TORCHFIX_VENV)], check=True)
    pip = TORCHFIX_VENV / "bin" / "pip"
    subprocess.run([str(pip), "install", "--quiet", TORCHFIX_REQUIREMENT], check=True)
    return binary


def timed(command: list[str], cwd: Path, timeout: float, stdout: Path | None = None) -> Run:
    """Run `command` once; its wall time, peaks and CPU time. Output goes to `stdout` or
    nowhere."""
    with open(stdout or os.devnull, "w") as output:
        load = os.getloadavg()[0]
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", _TREE_WRAPPER, *command],
            cwd=cwd,
            stdout=output,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
        seconds = time.perf_counter() - started
    fields: list[str] = []
    for line in completed.stderr.splitlines():
        if line.startswith("ML2MC_BENCH="):
            fields = line.split("=", 1)[1].split()
    peak, cpu, tree_peak = 0, 0.0, 0
    if len(fields) == 4:
        peak = int(float(fields[0]))
        cpu = float(fields[1]) + float(fields[2])
        tree_peak = int(fields[3])
    if completed.returncode == 2 or completed.returncode < 0:
        tail = completed.stderr[-2000:]
        print(f"!! {' '.join(command)} exited {completed.returncode}:\n{tail}", file=sys.stderr)
    return Run(seconds, peak, completed.returncode, cpu, load, tree_peak)


def ruff_command(paths: list[str]) -> list[str]:
    # --isolated and --no-respect-gitignore: the corpora live in benchmarks/.cache/, which this
    # repository's pyproject.toml excludes and its .gitignore lists.
    return [
        "ruff",
        "check",
        "--isolated",
        "--no-respect-gitignore",
        "--select",
        "E9",
        "--no-cache",
        "--quiet",
        *paths,
    ]


def measure_target(
    target: Target, repeat: int, slow: float, timeout: float, migrate: bool = True
) -> None:
    ml2mc = ml2mc_command()
    target.git = git_state()
    commands = {
        "ruff": ruff_command(target.paths),
        "check": [*ml2mc, "check", *target.paths, "--no-cache", "--output-format", "json"],
        "cached": [*ml2mc, "check", *target.paths, "--output-format", "json"],
        "migrate": [
            *ml2mc,
            *("migrate", *target.paths, "--no-verify", "--no-cache", "--output-format", "json"),
        ],
    }
    if not migrate:
        del commands["migrate"]
    # The cached re-runs read what one untimed run stored.
    os.environ["ML2MC_CACHE_DIR"] = tempfile.mkdtemp(prefix="ml2mc-bench-cache-")
    timed(commands["cached"], target.root, timeout)
    for tool, command in commands.items():
        target.measures[tool] = Measure(tool, command)
    check_output = Path(tempfile.mkstemp(suffix=".json")[1])
    for round_number in range(repeat):
        for tool, command in commands.items():
            measure = target.measures[tool]
            if round_number > 0 and measure.runs and measure.runs[0].seconds > slow:
                if not measure.note:
                    measure.note = f"one run: the first took more than {slow:.0f} s"
                continue
            keep = check_output if tool == "check" and round_number == 0 else None
            run = timed(command, target.root, timeout, keep)
            measure.runs.append(run)
            print(
                f"   {target.name:<18} {tool:<8} round {round_number + 1}: {run.seconds:8.2f} s "
                f"cpu {run.cpu_seconds:8.2f} s {run.peak_kb / 1024:8.1f} MB "
                f"(all {run.tree_peak_kb / 1024:.1f} MB) exit {run.returncode} "
                f"load {run.load_before:.1f}",
                file=sys.stderr,
                flush=True,
            )
    # What ml2mc saw, from the first check's output.
    try:
        report = json.loads(check_output.read_text())
    except (OSError, json.JSONDecodeError):
        report = {}
    check_output.unlink(missing_ok=True)
    codes: dict[str, int] = {}
    for finding in report.get("findings", []):
        codes[finding["code"]] = codes.get(finding["code"], 0) + 1
    target.ml2mc_summary = {
        "files_scanned": report.get("summary", {}).get("files_scanned"),
        "findings": dict(sorted(codes.items())),
        "exit": target.measures["check"].runs[0].returncode,
    }


def sample_files(root: Path, lines_wanted: int) -> tuple[list[Path], int, int]:
    """Every k-th .py file under `root` in path order; (files, their lines, k)."""
    files = python_files(root)
    sizes = [count_lines(path.read_bytes()) for path in files]
    total = sum(sizes)
    step = max(1, round(total / max(1, lines_wanted)))
    chosen = files[::step]
    return chosen, sum(sizes[::step]), step


def torchfix_startup(binary: Path, timeout: float) -> float:
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "empty.py"
        empty.write_text("")
        runs = [timed([str(binary), str(empty)], Path(folder), timeout) for _ in range(3)]
    return statistics.median(run.seconds for run in runs)


def measure_torchfix(
    target: Target, binary: Path, startup: float, lines_wanted: int, repeat: int, timeout: float
) -> None:
    assert len(target.paths) == 1
    files, sample_lines, step = sample_files(target.root / target.paths[0], lines_wanted)
    relative = [path.relative_to(target.root).as_posix() for path in files]
    torchfix = Measure("torchfix", [str(binary), f"<{len(files)} files>"])
    check = Measure("check-sample", [*ml2mc_command(), "check", f"<{len(files)} files>"])
    for round_number in range(repeat):
        for measure, command in (
            (torchfix, [str(binary), *relative]),
            (check, [*ml2mc_command(), "check", *relative, "--output-format", "json"]),
        ):
            run = timed(command, target.root, timeout)
            measure.runs.append(run)
            print(
                f"   {target.name:<18} {measure.tool:<12} round {round_number + 1}: "
                f"{run.seconds:8.2f} s {run.peak_kb / 1024:8.1f} MB exit {run.returncode} "
                f"({len(files)} files, {sample_lines} lines)",
                file=sys.stderr,
                flush=True,
            )
    target.measures["torchfix-sample"] = torchfix
    target.measures["check-sample"] = check
    per_line = max(0.0, torchfix.median - startup) / max(1, sample_lines)
    target.torchfix = {
        "sample_files": len(files),
        "sample_lines": sample_lines,
        "every_kth_file": step,
        "sample_seconds": torchfix.median,
        "startup_seconds": startup,
        "extrapolated_seconds": startup + per_line * target.lines,
        "check_sample_seconds": check.median,
        "method": "whole tree"
        if step == 1
        else f"every k-th file (k = {step}), extrapolated per line",
    }


def _ratio(numerator: float | None, denominator: float | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator / denominator:.1f}x"


def print_table(targets: list[Target], machine: dict[str, object]) -> None:
    print()
    print(
        f"Machine: {machine['nproc']} cores ({machine['cpu_model']}), {machine['memory']}, "
        f"Python {machine['python']}, {machine['ruff']}, {machine['ml2mc']}, "
        f"libcst {machine['libcst']}, TorchFix {machine['torchfix'] or '-'}"
    )
    print()
    print(
        "| tree | files | lines | ruff E9 s | check s | check/ruff | ruff CPU s | check CPU s "
        "| check/ruff CPU | cached s | cached/ruff | migrate s | migrate/check | check peak MB "
        "| check all processes MB | migrate peak MB | TorchFix s (est.) | TorchFix/check | n "
        "| load |"
    )
    print(
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        "---:|"
    )
    for target in targets:
        ruff = target.measures["ruff"]
        check = target.measures["check"]
        migrate = target.measures.get("migrate")
        torchfix = target.torchfix.get("extrapolated_seconds")
        cached = target.measures["cached"]
        counts = "/".join(
            str(len(target.measures[t].runs)) if t in target.measures else "0"
            for t in ("ruff", "check", "cached", "migrate")
        )
        loads = [run.load_before for m in target.measures.values() for run in m.runs]
        migrate_cells = (
            f"{migrate.median:.2f} | {_ratio(migrate.median, check.median)}"
            if migrate and migrate.runs
            else "- | -"
        )
        migrate_peak = f"{migrate.peak_mb:.0f}" if migrate and migrate.runs else "-"
        print(
            f"| {target.name} | {target.files} | {target.lines:,} | {ruff.median:.2f} | "
            f"{check.median:.2f} | {_ratio(check.median, ruff.median)} | "
            f"{ruff.cpu_median:.2f} | {check.cpu_median:.2f} | "
            f"{_ratio(check.cpu_median, ruff.cpu_median)} | "
            f"{cached.median:.2f} | {_ratio(cached.median, ruff.median)} | {migrate_cells} | "
            f"{check.peak_mb:.0f} | {check.tree_peak_mb:.0f} | {migrate_peak} | "
            f"{f'{torchfix:.0f}' if torchfix else '-'} | {_ratio(torchfix, check.median)} | "
            f"{counts} | {max(loads):.1f} |"
        )
    notes = [
        f"{target.name}: TorchFix {target.torchfix['method']} "
        f"({target.torchfix['sample_files']} files, {target.torchfix['sample_lines']:,} lines: "
        f"TorchFix {target.torchfix['sample_seconds']:.1f} s, ml2mc check "
        f"{target.torchfix['check_sample_seconds']:.1f} s on the same files)"
        for target in targets
        if target.torchfix and "sample_files" in target.torchfix
    ]
    notes += [
        f"{target.name}: TorchFix {target.torchfix['method']}"
        for target in targets
        if target.torchfix and "sample_files" not in target.torchfix
    ]
    notes += [f"{target.name}: ml2mc at {target.git}" for target in targets]
    notes += [
        f"{target.name} {measure.tool}: {measure.note}"
        for target in targets
        for measure in target.measures.values()
        if measure.note
    ]
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    print()
    for target in targets:
        if target.lines < GOAL_LINES:
            continue
        check = target.measures["check"]
        ruff = target.measures["ruff"]
        torchfix = target.torchfix.get("extrapolated_seconds")
        cached = target.measures["cached"]
        migrate = target.measures.get("migrate")
        verdicts = [
            f"check/ruff {check.median / ruff.median:.1f}x (goal ≤ {GOAL_RUFF_RATIO:g}x): "
            + ("pass" if check.median <= GOAL_RUFF_RATIO * ruff.median else "FAIL"),
            f"cached/ruff {cached.median / ruff.median:.1f}x (goal ≤ {GOAL_CACHED_RATIO:g}x): "
            + ("pass" if cached.median <= GOAL_CACHED_RATIO * ruff.median else "FAIL"),
            f"peak of all processes {check.tree_peak_mb:.0f} MB (goal ≤ {GOAL_PEAK_MB:g}): "
            + ("pass" if check.tree_peak_mb <= GOAL_PEAK_MB else "FAIL"),
        ]
        if migrate is not None and migrate.runs:
            verdicts.append(
                f"migrate/check {migrate.median / check.median:.1f}x "
                f"(goal ≤ {GOAL_MIGRATE_RATIO:g}x): "
                + ("pass" if migrate.median <= GOAL_MIGRATE_RATIO * check.median else "FAIL")
            )
        if torchfix:
            ratio = float(torchfix) / check.median
            verdicts.append(
                f"TorchFix/check {ratio:.1f}x (goal ≥ {GOAL_TORCHFIX_RATIO:g}x): "
                + ("pass" if ratio >= GOAL_TORCHFIX_RATIO else "FAIL")
            )
        print(f"Goals on {target.name} ({target.lines:,} lines): " + "; ".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="corpora (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    parser.add_argument(
        "--slow", type=float, default=120.0, help="run once a command slower than this (s)"
    )
    parser.add_argument("--no-combined", action="store_true", help="skip the combined tree")
    parser.add_argument("--no-torchfix", action="store_true", help="skip TorchFix")
    parser.add_argument(
        "--migrate-max-lines",
        type=int,
        default=0,
        help="time `migrate` only on trees with at most this many lines (0: on every tree)",
    )
    parser.add_argument(
        "--torchfix-lines", type=int, default=20_000, help="lines in TorchFix's sample per corpus"
    )
    parser.add_argument("--torchfix-repeat", type=int, default=1, help="TorchFix runs (median)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per command")
    args = parser.parse_args()

    synthetic = "synthetic" in args.names
    names = [name for name in args.names if name != "synthetic"]
    corpora = ensure(names or None) if names or not synthetic else []
    binary = None if args.no_torchfix else ensure_torchfix()
    machine = machine_info()
    print(
        f"machine: {machine['nproc']} cores, {machine['cpu_model']}, {machine['memory']}",
        file=sys.stderr,
    )
    targets: list[Target] = []
    for corpus in corpora:
        files = python_files(corpus.folder)
        lines = sum(count_lines(path.read_bytes()) for path in files)
        targets.append(Target(corpus.name, CORPORA, [corpus.name], len(files), lines))
    if synthetic or not args.names:
        write_synthetic()
        files = python_files(SYNTHETIC)
        lines = sum(count_lines(path.read_bytes()) for path in files)
        targets.append(Target("synthetic", CORPORA, ["synthetic"], len(files), lines))
    combined = None
    corpus_targets = [target for target in targets if target.name != "synthetic"]
    if len(corpus_targets) > 1 and not args.no_combined:
        everything = len(corpora) == len(PINNED)
        combined = Target(
            "all (combined)" if everything else " + ".join(t.name for t in corpus_targets),
            CORPORA,
            [t.name for t in corpus_targets],
            sum(t.files for t in corpus_targets),
            sum(t.lines for t in corpus_targets),
        )

    startup = torchfix_startup(binary, args.timeout) if binary is not None else 0.0
    for target in targets:
        print(f"== {target.name}: {target.files} files, {target.lines:,} lines", file=sys.stderr)
        migrate = not args.migrate_max_lines or target.lines <= args.migrate_max_lines
        measure_target(target, args.repeat, args.slow, args.timeout, migrate)
        if binary is not None and target.name != "synthetic":
            measure_torchfix(
                target, binary, startup, args.torchfix_lines, args.torchfix_repeat, args.timeout
            )
        _save(targets, machine)
    if combined is not None:
        print(
            f"== {combined.name}: {combined.files} files, {combined.lines:,} lines", file=sys.stderr
        )
        migrate = not args.migrate_max_lines or combined.lines <= args.migrate_max_lines
        measure_target(combined, args.repeat, args.slow, args.timeout, migrate)
        if binary is not None:
            extrapolated = [t.torchfix["extrapolated_seconds"] for t in corpus_targets]
            combined.torchfix = {
                "method": "sum of the corpora's extrapolations",
                "startup_seconds": startup,
                "extrapolated_seconds": startup
                + sum(float(value) - startup for value in extrapolated),
            }
        targets.append(combined)
        _save(targets, machine)
    print_table(targets, machine)


def _save(targets: list[Target], machine: dict[str, object]) -> None:
    data = {
        "machine": machine,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "targets": [
            {
                **{k: v for k, v in asdict(target).items() if k not in ("root", "measures")},
                "measures": {
                    tool: {
                        "command": measure.command,
                        "median_seconds": measure.median,
                        "peak_mb": measure.peak_mb,
                        "all_processes_peak_mb": measure.tree_peak_mb,
                        "runs": [asdict(run) for run in measure.runs],
                        "note": measure.note,
                    }
                    for tool, measure in target.measures.items()
                    if measure.runs
                },
            }
            for target in targets
        ],
    }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
