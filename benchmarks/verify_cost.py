"""What the torch equivalence check costs on the bundled example project, beside `import torch`.

The issue's goal: "verifying the bundled example project costs less than torch's own import on
the same machine". The verification runs the user's model, so it has to import torch (in a child
interpreter, to contain user code that hangs or crashes): its floor is an interpreter start,
`import torch`, and the model runs. This script measures, side by side on the same machine:

``python -c pass``
    an interpreter start: the part of every subprocess that is not torch;
``python -c "import torch"``
    the reference, as a user would time it (it includes the interpreter's shutdown with torch
    loaded, which the verification child skips by exiting with `os._exit`);
``import torch, no shutdown``
    ``python -c "import torch, os; os._exit(0)"``: the import alone, the child's real floor;
``verify step``
    `migrate.pipeline._verify` for the example's rewrite (the `TagClassifier` target, relation
    sigmoid), as `ml2mc migrate` calls it after the engine ran. A fresh interpreter runs the
    engine untimed, then times `_verify` and prints the figure;
``ml2mc migrate``
    the whole command on `fixtures/projects/example/before` (dry run, JSON output), with the
    verification, and with ``--no-verify``;
``ml2mc migrate, child started early``
    the whole command with `migrate.verify.start_early()` called before the CLI is imported,
    i.e. the child imports torch while the engine works. Only when the code has `start_early`;
    the wiring is simulated by a two-line wrapper until `ml2mc` does it itself.

``--baseline DIR`` measures the verify step and the commands again with another checkout of
the project (say ``git worktree add /tmp/ml2mc-base HEAD``), in the same rounds, so a change
can be compared with what came before under the same machine load.

Every round runs each measurement once, in an order rotated per round, after one untimed
warm-up round. The table gives the median and the minimum of the rounds, and each median as a
multiple of the `import torch` median. It is a measurement, not a test: the exit status is 0
unless a run fails (a command exits non-zero, or the verification does not pass), then 2.

Usage::

    python benchmarks/verify_cost.py                    # 5 rounds
    python benchmarks/verify_cost.py --runs 9 --json
    python benchmarks/verify_cost.py --baseline /tmp/ml2mc-base
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = Path("fixtures") / "projects" / "example" / "before"
EXPECTED_TARGET = "TagClassifier"
IMPORT_TORCH = 'python -c "import torch"'

# Runs in a fresh interpreter with the checkout as its working directory (so that checkout's
# `migrate` is the one imported): the engine untimed, then the verification step timed.
VERIFY_STEP = r"""
import json, sys, time
from dataclasses import replace
from pathlib import Path
from migrate.pipeline import MIGRATE_DEFAULT, RunOptions, _verify, run
from migrate.rule import Applicability

options = RunOptions(
    paths=[Path(sys.argv[1])], default_select=MIGRATE_DEFAULT, fix=Applicability.UNSAFE
)
result = run(options)
started = time.perf_counter()
_verify(result, replace(options, verify=True))
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "error": result.verification_error,
    "results": [[r.target, r.status, r.seconds, r.reason] for r in result.verification],
}))
"""

# `ml2mc` with the verification child started before anything else is imported.
EARLY_CLI = r"""
import sys
from migrate.verify import start_early
start_early()
from migrate.cli import main
sys.argv[0] = "ml2mc"
main()
"""


class RunFailed(Exception):
    pass


@dataclass
class Measurement:
    name: str
    run: Callable[[], float]
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def _execute(arguments: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(
        arguments, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise RunFailed(
            f"{' '.join(arguments)[:200]} exited {completed.returncode}: "
            f"{(completed.stderr or completed.stdout).strip()[-800:]}"
        )
    return seconds, completed.stdout


def _command(arguments: list[str], cwd: Path = REPO_ROOT) -> Callable[[], float]:
    return lambda: _execute(arguments, cwd)[0]


def _migrate(arguments: list[str], root: Path) -> Callable[[], float]:
    def run_migrate() -> float:
        seconds, stdout = _execute(arguments, root)
        if "--no-verify" not in arguments:
            statuses = [item["status"] for item in json.loads(stdout)["verification"]]
            if statuses != ["pass"]:
                raise RunFailed(f"{root}: verification statuses {statuses}")
        return seconds

    return run_migrate


def _verify_step(root: Path, task_seconds: list[float]) -> Callable[[], float]:
    def run_step() -> float:
        _, stdout = _execute([sys.executable, "-c", VERIFY_STEP, str(EXAMPLE)], root)
        figures = json.loads(stdout.strip().splitlines()[-1])
        if figures["error"]:
            raise RunFailed(f"{root}: {figures['error']}")
        found = figures["results"]
        if [item[1] for item in found] != ["pass"] or EXPECTED_TARGET not in found[0][0]:
            raise RunFailed(f"{root}: unexpected verification results {found}")
        task_seconds.append(float(found[0][2]))
        return float(figures["seconds"])

    return run_step


def _has_start_early(root: Path) -> bool:
    return "def start_early" in (root / "migrate" / "verify" / "_runner.py").read_text(
        encoding="utf-8"
    )


def _code_measurements(root: Path, label: str, tasks: list[float]) -> list[Measurement]:
    python = sys.executable
    cli = ["migrate", str(EXAMPLE), "--output-format", "json"]
    suffix = f" [{label}]" if label else ""
    found = [
        Measurement(f"verify step{suffix}", _verify_step(root, tasks)),
        Measurement(f"ml2mc migrate{suffix}", _migrate([python, "-m", "migrate", *cli], root)),
        Measurement(
            f"ml2mc migrate --no-verify{suffix}",
            _migrate([python, "-m", "migrate", *cli, "--no-verify"], root),
        ),
    ]
    if _has_start_early(root):
        found.append(
            Measurement(
                f"ml2mc migrate, child started early{suffix}",
                _migrate([python, "-c", EARLY_CLI, *cli], root),
            )
        )
    return found


def measure(runs: int, baseline: Path | None) -> tuple[list[Measurement], dict[str, list[float]]]:
    python = sys.executable
    tasks: dict[str, list[float]] = {"": []}
    measurements = [
        Measurement("python -c pass", _command([python, "-c", "pass"])),
        Measurement(IMPORT_TORCH, _command([python, "-c", "import torch"])),
        Measurement(
            "import torch, no shutdown", _command([python, "-c", "import torch, os; os._exit(0)"])
        ),
        *_code_measurements(REPO_ROOT, "", tasks[""]),
    ]
    if baseline is not None:
        tasks["baseline"] = []
        measurements += _code_measurements(baseline, "baseline", tasks["baseline"])
    for measurement in measurements:  # warm-up: disk cache, bytecode caches
        measurement.run()
    for values in tasks.values():
        values.clear()
    for round_index in range(runs):
        shift = round_index % len(measurements)
        for measurement in measurements[shift:] + measurements[:shift]:
            measurement.seconds.append(measurement.run())
    return measurements, tasks


def _figures(
    measurements: list[Measurement], tasks: dict[str, list[float]], runs: int
) -> dict[str, object]:
    by_name = {measurement.name: measurement for measurement in measurements}
    torch_import = by_name[IMPORT_TORCH].median
    bare_import = by_name["import torch, no shutdown"].median
    figures: dict[str, object] = {
        "runs": runs,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
        "rows": [
            {
                "name": measurement.name,
                "median_seconds": round(measurement.median, 4),
                "min_seconds": round(measurement.best, 4),
                "ratio_to_import_torch": round(measurement.median / torch_import, 3),
                "seconds": [round(value, 4) for value in measurement.seconds],
            }
            for measurement in measurements
        ],
    }
    for label, values in tasks.items():
        suffix = f" [{label}]" if label else ""
        key = f"_{label}" if label else ""
        step = by_name[f"verify step{suffix}"].median
        model_check = statistics.median(values)
        figures[f"model_check_seconds_in_child{key}"] = round(model_check, 4)
        figures[f"floor_seconds{key}"] = round(bare_import + model_check, 4)
        figures[f"verify_step_above_floor_seconds{key}"] = round(
            step - bare_import - model_check, 4
        )
        figures[f"ratio_verify_step_to_import_torch{key}"] = round(step / torch_import, 3)
        figures[f"verification_share_of_migrate_seconds{key}"] = round(
            by_name[f"ml2mc migrate{suffix}"].median
            - by_name[f"ml2mc migrate --no-verify{suffix}"].median,
            4,
        )
    return figures


def _print_table(figures: dict[str, object], labels: list[str]) -> None:
    rows = figures["rows"]
    assert isinstance(rows, list)
    width = max(len(str(row["name"])) for row in rows)
    print(
        f"{figures['runs']} rounds, Python {figures['python']}, {figures['cpus']} CPUs, "
        f"load average at the end {figures['load_average']}"
    )
    print(f"{'measurement':<{width}}  {'median s':>9}  {'min s':>7}  {'x import torch':>14}")
    for row in rows:
        print(
            f"{row['name']:<{width}}  {row['median_seconds']:>9.3f}  {row['min_seconds']:>7.3f}"
            f"  {row['ratio_to_import_torch']:>14.2f}"
        )
    for label in labels:
        key = f"_{label}" if label else ""
        name = f" [{label}]" if label else ""
        print()
        print(
            f"verification{name} / import torch: "
            f"{figures[f'ratio_verify_step_to_import_torch{key}']:.2f} "
            "(verify step median / python -c 'import torch' median)"
        )
        print(
            f"floor = import torch without shutdown + model check in the child = "
            f"{figures[f'floor_seconds{key}']:.3f} s (model check alone: "
            f"{figures[f'model_check_seconds_in_child{key}']:.3f} s); the verify step is "
            f"{figures[f'verify_step_above_floor_seconds{key}']:+.3f} s from it"
        )
        print(
            "verification's share of the whole command (migrate - migrate --no-verify): "
            f"{figures[f'verification_share_of_migrate_seconds{key}']:.3f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout of ml2mc to measure in the same rounds"
    )
    arguments = parser.parse_args(argv)
    runs = max(1, arguments.runs)
    baseline = arguments.baseline.resolve() if arguments.baseline else None
    if baseline is not None and not (baseline / "migrate" / "verify").is_dir():
        print(f"verify_cost: {baseline} is not an ml2mc checkout", file=sys.stderr)
        return 2
    try:
        measurements, tasks = measure(runs, baseline)
    except RunFailed as error:
        print(f"verify_cost: {error}", file=sys.stderr)
        return 2
    figures = _figures(measurements, tasks, runs)
    if arguments.json:
        print(json.dumps(figures, indent=2))
    else:
        _print_table(figures, list(tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
