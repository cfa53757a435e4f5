"""Whole runs of two source trees, alternating: which one costs less CPU?

    git worktree add /tmp/old REV
    (cd /tmp/old && cc -shared -fPIC -O3 $(python3-config --includes) mrargo/runtime/_speedups.c \
        -o mrargo/runtime/_speedups$(python3-config --extension-suffix))
    python bench/ab.py /tmp/old . -n 5 -- run examples/wordcount.py -i bench/corpus/100000000b-16f -o /tmp/ab-out --overwrite -q

Each tree runs as ``python -m mrargo ARGS`` with ``PYTHONPATH=TREE``, from an
empty directory: ``python -m`` puts the current directory first on
``sys.path``, so a run started inside a checkout imports that checkout
whatever ``PYTHONPATH`` says (the A/B loop of bench/results/2026-11-28-limit.md
compared the same tree with itself that way).  Before timing, each tree is
checked to import its own mrargo and its own C module.  Paths among ARGS
are made absolute.  Prints the median and the minimum of wall and CPU
seconds (user + system of the whole process tree, from ``wait4``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def env_for(tree: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return {**base, "PYTHONPATH": tree}


def check_tree(python: str, tree: str, cwd: str) -> None:
    code = "import mrargo, mrargo.runtime.speedups as s; print(mrargo.__file__); print(s._c.__file__ if s._c else '')"
    out = subprocess.run([python, "-c", code], cwd=cwd, env=env_for(tree), capture_output=True, text=True, check=True).stdout.split("\n")
    for path in out[:2]:
        if not path.startswith(tree + os.sep):
            sys.exit(f"ab: with PYTHONPATH={tree}, python imports {path or 'no C module'}; build the tree's C module first")


def run_once(python: str, tree: str, cwd: str, args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "mrargo", *args], cwd=cwd, env=env_for(tree), stdin=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ab: {tree}: mrargo {' '.join(args)} failed")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, usage="%(prog)s OLD_TREE NEW_TREE [-n N] -- MRARGO_ARGS...")
    ap.add_argument("trees", nargs=2, help="the two source trees (checkouts with their C module built)")
    ap.add_argument("-n", type=int, default=5, help="runs of each tree (default 5)")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    args = [os.path.abspath(x) if os.path.exists(x) else x for x in argv[cut + 1 :]]
    if not args:
        ap.error("give mrargo's arguments after --")
    trees = [os.path.realpath(t) for t in a.trees]
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="mrargo-ab-") as cwd:
        for t in trees:
            check_tree(python, t, cwd)
        times: dict[str, list[tuple[float, float]]] = {t: [] for t in trees}
        for _ in range(a.n):
            for t in trees:
                times[t].append(run_once(python, t, cwd, args))
    for t in trees:
        walls, cpus = [w for w, _ in times[t]], [c for _, c in times[t]]
        print(f"{t}: wall median {statistics.median(walls):.3f} min {min(walls):.3f} s; CPU median {statistics.median(cpus):.3f} min {min(cpus):.3f} s ({a.n} runs)")


if __name__ == "__main__":
    main()
