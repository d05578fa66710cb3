"""What the runtime sanitizer of `ml2mc verify --run` costs: the same command, plain and
instrumented, side by side (issue goal: the instrumented run costs at most 1.3x the plain).

The command is the example project's own training (`fixtures/projects/example/after`, the
correct multi-class migration): the 24-step smoke run `python -m tagger.train`, and a 30-epoch
run (240 loss calls) where the training loop, not `import torch`, dominates. Plain and
instrumented runs alternate, `--rounds` times each; the medians and their ratio are printed.

    python benchmarks/sanitizer_cost.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "fixtures" / "projects" / "example" / "after"
SHIM = ROOT / "migrate" / "verify" / "_shim"
COMMANDS = {
    "smoke (3 epochs, 24 losses)": [sys.executable, "-m", "tagger.train"],
    "longer (30 epochs, 240 losses)": [
        sys.executable,
        "-c",
        "from tagger.train import train; train(epochs=30)",
    ],
}


def timed(command: list[str], cwd: Path, instrumented: bool) -> float:
    environment = dict(os.environ)
    if instrumented:
        log = cwd / "sanitizer.jsonl"
        log.unlink(missing_ok=True)
        environment["ML2MC_SANITIZER_LOG"] = str(log)
        environment["PYTHONPATH"] = str(SHIM)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, capture_output=True, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml2mc-sanitizer-") as work:
        tree = Path(work) / "project"
        shutil.copytree(EXAMPLE, tree)
        print(f"{'command':<32} {'plain s':>8} {'instrumented s':>15} {'ratio':>6}")
        for name, command in COMMANDS.items():
            plain: list[float] = []
            instrumented: list[float] = []
            for _ in range(arguments.rounds):
                plain.append(timed(command, tree, instrumented=False))
                instrumented.append(timed(command, tree, instrumented=True))
            base, watched = statistics.median(plain), statistics.median(instrumented)
            print(f"{name:<32} {base:>8.2f} {watched:>15.2f} {watched / base:>6.2f}")


if __name__ == "__main__":
    main()
