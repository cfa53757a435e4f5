"""Fixed costs of mrargo: a run on a tiny input against the bare import, and compile time.

    python bench/overhead.py [-n 10] [--mrargo PATH] [--out FILE]

Each figure is the median wall time of n runs of a fresh process, so it
includes interpreter start-up: compare the rows with each other.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
TINY_INPUT = os.path.join(REPO, "examples", "data")
COUNT_IMPORTS = "import sys; before = set(sys.modules); import mrargo; print(len(set(sys.modules) - before))"


@dataclass(frozen=True)
class Timing:
    label: str
    median_s: float | None  # None when the command failed
    error: str = ""


def timed(label: str, argv: Sequence[str], n: int) -> Timing:
    """Median wall time of n runs of argv; stops at the first failure."""
    walls = []
    for _ in range(n):
        start = time.perf_counter()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
        walls.append(time.perf_counter() - start)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return Timing(label, None, f"exit {done.returncode}: {lines[-1] if lines else 'no message'}")
    return Timing(label, statistics.median(walls))


def imported_modules(python: str) -> str:
    done = subprocess.run([python, "-c", COUNT_IMPORTS], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def measure(mrargo: str, python: str, n: int) -> list[Timing]:
    with tempfile.TemporaryDirectory(prefix="mrargo-overhead-") as tmp:
        out = os.path.join(tmp, "out")
        job = os.path.join(REPO, "examples", "wordcount.py")
        return [
            timed("python -c pass", [python, "-c", "pass"], n),
            timed('python -c "import mrargo"', [python, "-c", "import mrargo"], n),
            timed(
                "mrargo run examples/wordcount.py (examples/data, 3 small files)",
                [mrargo, "run", job, "-i", TINY_INPUT, "-o", out, "-q", "--overwrite"],
                n,
            ),
            timed(
                "mrargo compile examples/topwords.py",
                [mrargo, "compile", os.path.join(REPO, "examples", "topwords.py"), "-i", "s3://bench/in", "-o", "s3://bench/out",
                 "--image", "localhost/mrargo-worker:bench"],  # a dev build names no image of its own
                n,
            ),
        ]


def render(timings: Sequence[Timing], n: int, modules: str) -> str:
    lines = [f"| command (median of {n}) | wall ms |", "| --- | ---: |"]
    for t in timings:
        lines.append(f"| {t.label} | {t.median_s * 1000:.0f} |" if t.median_s is not None else f"| {t.label} | n/a ({t.error}) |")
    imp, run = timings[1].median_s, timings[2].median_s  # the order measure() returns them in
    if imp is not None and run is not None:
        lines += ["", f"`mrargo run` on a tiny input costs {1000 * (run - imp):.0f} ms over the bare import."]
    lines.append(f"`import mrargo` loads {modules} modules beyond the interpreter's own.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/overhead.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10, help="runs per command (default: 10)")
    parser.add_argument("--mrargo", default=os.path.join(REPO, ".venv", "bin", "mrargo"), help="the mrargo console script")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args(argv)
    python = os.path.join(os.path.dirname(args.mrargo), "python")
    if not os.path.exists(python):
        python = sys.executable
    text = render(measure(args.mrargo, python, args.n), args.n, imported_modules(python))
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
