"""The embedded backend: ``run_plan(plan, binding, options)`` runs a job on this machine.

SIGTERM stops a run as Ctrl-C does: the task processes are killed, the
scratch and work folders removed, nothing is written to the output, and
the run ends with Interrupted (exit 143; 130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mrargo import store
from mrargo.errors import EXIT_TERMINATED, Interrupted
from mrargo.local.executor import Executor, LocalOptions
from mrargo.plan.model import Binding, JobPlan

__all__ = ["INTERRUPTED", "LocalOptions", "RunSummary", "new_work_dir", "run_plan", "terminate_as_interrupt"]
INTERRUPTED = "interrupted; the tasks were stopped and nothing was written to the output"


@dataclass(frozen=True)
class RunSummary:
    """What a finished run wrote: the _SUCCESS summary, typed."""

    output: str
    records: int
    parts: int
    bytes: int
    counters: dict[str, dict[str, int]]
    bad_record_files: tuple[str, ...] = ()
    step_counters: tuple[dict[str, dict[str, int]], ...] = ()  # the job's own counters, by step

    @staticmethod
    def from_success(output: str, summary: dict[str, Any]) -> RunSummary:
        return RunSummary(
            output=output,
            records=int(summary["output records"]),
            parts=int(summary["parts"]),
            bytes=int(summary["output bytes"]),
            counters={g: dict(c) for g, c in summary["counters"].items()},
            bad_record_files=tuple(summary.get("bad record files", ())),
            step_counters=tuple({g: dict(c) for g, c in s.items()} for s in summary.get("step counters", ())),
        )


def new_work_dir(work_root: str | None = None) -> str:
    """A fresh folder name for one run's intermediate data: inside ``work_root``, or a temporary one.

    The run owns this folder and removes it; ``work_root`` itself is never touched.
    Nothing is created here, so a run refused before its first task leaves nothing behind.
    """
    name = f"mrargo-work-{store.token(6)}"
    if work_root:
        return store.join(store.normalize(work_root), name)
    return os.path.join(tempfile.gettempdir(), name)


def run_plan(plan: JobPlan, run: Binding, options: LocalOptions | None = None, job_dir: str = "") -> RunSummary:
    """Run every step, then commit; the output appears whole or not at all."""
    opts = (options or LocalOptions()).check()
    with terminate_as_interrupt():
        summary = Executor(plan, run, opts, job_dir or os.getcwd()).run()
    return RunSummary.from_success(run.output, summary)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises Interrupted in the main thread, so the run unwinds as it does on Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        raise Interrupted(INTERRUPTED, exit_code=EXIT_TERMINATED)

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
