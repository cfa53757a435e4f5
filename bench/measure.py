"""Run one command and measure it: wall time, and memory of its whole process tree.

The command is started by a small launcher process (this module run as a
script), not by the harness itself.  The reason: Linux carries a process's
peak RSS across exec, and a child forked from the harness starts with the
harness's own memory as its peak.  The launcher is small, so that floor is
small (``floor_rss``, reported), and it measures:

* ``max_rss``, exact but per process: the largest peak RSS of any single
  process in the tree, from the ``rusage`` that ``wait4`` returns.  The kernel
  folds in the peaks of every descendant that was waited for.  The launcher
  is a *child subreaper*, so a descendant orphaned by its parent (the JVM
  that PySpark leaves behind, say) is re-parented to it and waited for too.
  RSS counts shared pages (a forked worker's copy-on-write pages, the JVM's
  mapped jars) in full in each process.
* ``tree_pss``: the peak of the summed PSS (shared pages split between the
  processes sharing them) over the whole tree, sampled every ``SAMPLE_S``
  seconds from /proc.  A peak shorter than that can be missed.
* ``wall_s``: from just before the command is started to its exit (not the
  exit of orphans it leaves behind).
* ``cpu_s``: user + system CPU seconds of the whole tree, from the same
  ``wait4`` rusage (the kernel adds every waited-for descendant's), plus the
  adopted orphans'.  On a shared machine it moves much less than wall time.

Linux only: /proc, prctl and Linux's rusage semantics.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

SAMPLE_S = 0.25
ORPHAN_GRACE_S = 30.0
PR_SET_CHILD_SUBREAPER = 36


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    returncode: int
    max_rss: int  # bytes, the largest single process (wait4)
    tree_pss: int  # bytes, peak of the summed PSS of the tree (sampled)
    floor_rss: int  # bytes, the launcher's own peak RSS, which max_rss cannot go below
    timed_out: bool = False
    cpu_s: float = 0.0  # user + system seconds of the whole tree (wait4)


def become_subreaper() -> bool:
    """Adopt orphaned descendants, so their memory is measured and they are reaped here."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """Every live process below root, found by walking parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def own_peak_rss() -> int:
    """This process's peak RSS since its exec (VmHWM); getrusage would include the pre-exec peak."""
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def pss_bytes(pid: int) -> int:
    """A process's proportional set size, or 0 if it has gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class TreeSampler:
    """A thread that keeps the peak summed PSS of this process's descendants."""

    def __init__(self, interval: float = SAMPLE_S) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, sum(pss_bytes(pid) for pid in descendants(me)))


def reap_orphans(grace_s: float = ORPHAN_GRACE_S) -> tuple[int, float]:
    """Wait for adopted orphans (killing them after grace_s); return their largest peak RSS and their CPU seconds."""
    deadline = time.monotonic() + grace_s
    peak, cpu = 0, 0.0
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return peak, cpu
        if pid:
            peak = max(peak, usage.ru_maxrss * 1024)
            cpu += usage.ru_utime + usage.ru_stime
            continue
        if time.monotonic() > deadline:
            kill_tree(os.getpid())
        time.sleep(0.05)


def kill_tree(root: int) -> None:
    """SIGKILL every descendant of root (they were all started by the measured command)."""
    for pid in descendants(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_measured(argv: Sequence[str], log_path: str, env: Mapping[str, str] | None = None, timeout_s: float | None = None) -> Measurement:
    """Run argv under the launcher, its stdout and stderr going to log_path, and measure it."""
    result_path = log_path + ".measure.json"
    launcher = [sys.executable, os.path.abspath(__file__), "--result", result_path]
    if timeout_s:
        launcher += ["--timeout", str(timeout_s)]
    with open(log_path, "wb") as log:
        done = subprocess.run(
            [*launcher, "--", *argv], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, check=False
        )
    try:
        with open(result_path, encoding="utf-8") as f:
            return Measurement(**json.load(f))
    except (OSError, ValueError, TypeError):
        # The launcher itself failed; its traceback is in the log.
        return Measurement(wall_s=0.0, returncode=done.returncode or 1, max_rss=0, tree_pss=0, floor_rss=0)


def launch(argv: Sequence[str], timeout_s: float | None) -> Measurement:
    """The launcher's work: start argv as a new session, wait for it and its orphans."""
    timed_out = threading.Event()

    def on_timeout(pid: int) -> None:
        timed_out.set()
        kill_tree(pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    if not become_subreaper():
        print("measure: not a child subreaper; orphaned processes go uncounted", file=sys.stderr)
    floor = own_peak_rss()
    with TreeSampler() as sampler:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        timer = threading.Timer(timeout_s, on_timeout, (proc.pid,)) if timeout_s else None
        if timer:
            timer.start()
        # wait4 rather than Popen.wait: only wait4 returns the tree's rusage.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if timer:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        orphan_rss, orphan_cpu = reap_orphans()
    return Measurement(
        wall_s=wall,
        returncode=proc.returncode,
        max_rss=max(usage.ru_maxrss * 1024, orphan_rss),
        tree_pss=sampler.peak,
        floor_rss=floor,
        timed_out=timed_out.is_set(),
        cpu_s=usage.ru_utime + usage.ru_stime + orphan_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a command and write its Measurement as JSON.")
    parser.add_argument("--result", required=True, help="where the JSON goes")
    parser.add_argument("--timeout", type=float, help="seconds before the command's tree is killed")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        m = launch(command, args.timeout)
    except OSError as err:
        print(f"measure: cannot start {command[0] if command else 'nothing'}: {err}", file=sys.stderr)
        m = Measurement(wall_s=0.0, returncode=127, max_rss=0, tree_pss=0, floor_rss=0)
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(asdict(m), f)


if __name__ == "__main__":
    main()
