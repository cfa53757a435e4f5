"""The embedded executor: runs a job plan on this machine with a process pool.

Every map and reduce task runs in a child process of its own (forked, so
the job is loaded once; see children.py), which lets the executor
time a task out, notice a crash, and retry just that task.  Split, shuffle
and commit are cheap and run in this process.  The task bodies are the ones
Argo pods run, so a local run is evidence for a cluster run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass
from typing import Any

from mrargo import store
from mrargo.errors import (
    EXIT_FAILED,
    CorruptDataError,
    DeterministicError,
    MrargoError,
    OutputExistsError,
    TaskFailedError,
    UsageError,
    UserCodeError,
    exit_now,
)
from mrargo.local import children
from mrargo.local.children import Child
from mrargo.local.progress import Progress
from mrargo.plan.model import DEFAULT_RETRIES, Binding, JobPlan, shipped_name
from mrargo.runtime import commit, reduceside, tasks
from mrargo.runtime.layout import FRAMEWORK, TaskId, new_attempt


@dataclass(frozen=True)
class LocalOptions:
    """How a local run goes: parallelism, the retry policy, what it shows and keeps."""

    workers: int = os.cpu_count() or 1
    retries: int = DEFAULT_RETRIES
    timeout: float | None = None  # seconds per task attempt
    keep_intermediate: bool = False
    progress: bool = True

    def check(self) -> LocalOptions:
        if self.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {self.workers}")
        if self.retries < 0:
            raise UsageError(f"--retries must be 0 or more, got {self.retries}")
        if self.timeout is not None and not self.timeout > 0:
            raise UsageError(f"--timeout must be more than 0 seconds, got {self.timeout:g}")
        return self


@dataclass
class _Running:
    task: TaskId
    proc: Child
    started: float
    attempt: int


class Executor:
    """Runs one plan; owns the scratch directory and the attempt counters.

    Its retry loop is its own, not the spec runner's: a local run follows
    --retries and mrargo's rule (an exception in job code is retried, as
    Hadoop does; bad input or a bad plan is not), where the spec runner
    follows the spec's retryStrategy exactly as Argo's controller does.
    """

    def __init__(self, plan: JobPlan, run: Binding, opts: LocalOptions, job_dir: str = "") -> None:
        self.plan = plan
        self.run_ = run
        self.opts = opts
        self.job_dir = job_dir
        self.progress = Progress(enabled=opts.progress)
        self.attempts = 0
        self.retried = 0
        self.scratch = ""

    # -- the whole job -------------------------------------------------------

    def run(self) -> dict[str, Any]:
        plan, run = self.plan, self.run_
        try:
            # Before anything: an output over an input would be deleted or read back.
            store.check_apart(run.inputs, run.output, run.work_dir)
            if not run.overwrite and store.output_has_data(run.output):
                raise OutputExistsError(run.output)
            self.scratch = tempfile.mkdtemp(prefix="mrargo-scratch-")
            self._stage_files()
            for step in range(len(plan.steps)):
                self._run_step(step)
            self.progress.start("commit", 1)
            extra = {FRAMEWORK: {"task attempts": self.attempts, "task retries": self.retried}}
            summary = commit.run_commit(plan, run, new_attempt(), extra)
            self.progress.advance()
            self.progress.finish()
            return summary
        finally:
            if self.scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)
            if not self.opts.keep_intermediate:
                store.remove(run.work_dir)

    def _run_step(self, step: int) -> None:
        plan, label = self.plan, f"step {step + 1}/{len(self.plan.steps)}"
        self.progress.start(f"{label} split", 1)
        m = tasks.run_split(plan, self.run_, step)
        self.progress.advance()
        self.progress.finish()
        maps = [TaskId(step, "map", i, m) for i in range(m)]
        self._run_phase(f"{label} map", maps)
        if plan.steps[step].map_only:
            return
        reruns = 0
        while True:
            try:
                r = tasks.run_shuffle(plan, self.run_, step)
                self._run_phase(f"{label} reduce", [TaskId(step, "reduce", i, r) for i in range(r)])
                return
            except CorruptDataError as e:
                # A map's output went bad or missing after it committed: run
                # that map again, re-shuffle, and do the reduces.
                producer = TaskId.parse(e.producer) if e.producer.startswith("map-") else None
                if producer is None or reruns >= self.opts.retries:
                    raise
                reruns += 1
                self.retried += 1
                again = TaskId(step, "map", producer.index, m)
                self.progress.message(f"{e}; running {again.label} again")
                self._run_phase(f"{label} map (again)", [again])

    # -- one phase: a fan-out of tasks ---------------------------------------

    def _run_phase(self, phase: str, todo: list[TaskId]) -> None:
        self.progress.start(phase, len(todo))
        queue = [(t, 1) for t in todo]
        running: dict[Child, _Running] = {}
        try:
            while queue or running:
                while queue and len(running) < max(1, self.opts.workers):
                    t, attempt = queue.pop(0)
                    r = self._start(t, attempt)
                    running[r.proc] = r
                for child in children.wait(list(running), timeout=0.2):
                    self._finished(running.pop(child), queue)
                self._check_timeouts(running, queue)
        except BaseException:
            for r in running.values():
                r.proc.kill()
            raise
        self.progress.finish()

    def _start(self, task: TaskId, attempt: int) -> _Running:
        self.attempts += 1
        plan, run, scratch, files = self.plan, self.run_, self.scratch, self._files_dir()
        proc = children.start(lambda fd: _child_main(fd, plan, run, task, scratch, files))
        return _Running(task, proc, time.monotonic(), attempt)

    def _finished(self, r: _Running, queue: list[tuple[TaskId, int]]) -> None:
        data = r.proc.message()
        msg = None if data is None else json.loads(data)
        code = r.proc.join()
        if msg is not None and msg["ok"]:
            self.progress.advance()
            return
        if msg is None:
            msg = {"ok": False, "type": "crash", "message": f"{r.task.label}: worker process died (exit code {code})"}
        self._failed(r, msg, queue)

    def _failed(self, r: _Running, msg: dict[str, Any], queue: list[tuple[TaskId, int]]) -> None:
        if msg.get("type") == "CorruptDataError":
            raise CorruptDataError(msg["message"], path=msg.get("path", ""), producer=msg.get("producer", ""))
        if r.attempt <= self.opts.retries and msg.get("retry", True):
            self.retried += 1
            self.progress.message(f"retrying {r.task.label} (attempt {r.attempt + 1}/{self.opts.retries + 1}): {msg['message']}")
            queue.append((r.task, r.attempt + 1))
            return
        tries = f" after {r.attempt} attempts" if r.attempt > 1 else ""
        text, tb = f"{msg['message']}{tries}", msg.get("traceback", "")
        if msg.get("type") == "UserCodeError":
            raise UserCodeError(text, user_traceback=tb)
        raise TaskFailedError(text, user_traceback=tb, exit_code=int(msg.get("exit", EXIT_FAILED)))

    def _check_timeouts(self, running: dict[Child, _Running], queue: list[tuple[TaskId, int]]) -> None:
        limit = self.opts.timeout
        if not limit:
            return
        now = time.monotonic()
        for child, r in list(running.items()):
            if now - r.started > limit:
                del running[child]
                child.kill()
                msg = {"ok": False, "type": "timeout", "message": f"{r.task.label}: timed out after {limit:g} s"}
                self._failed(r, msg, queue)

    # -- side files ----------------------------------------------------------

    def _files_dir(self) -> str:
        return os.path.join(self.scratch, "files")

    def _stage_files(self) -> None:
        """Copy FILES into a scratch folder that every task runs in."""
        d = self._files_dir()
        os.makedirs(d, exist_ok=True)
        for rel in self.plan.files:
            src = os.path.join(self.job_dir, rel)
            dst = os.path.join(d, shipped_name(rel))
            if os.path.isdir(src):
                shutil.copytree(src, dst)  # a folder ships whole, as compile embeds it
            elif os.path.isfile(src):
                shutil.copyfile(src, dst)
            else:
                raise MrargoError(f"FILES entry {rel!r} not found at {src}; FILES (and DIRS) paths are relative to the job file")


def _child_main(fd: int, plan: JobPlan, run: Binding, task: TaskId, scratch: str, files_dir: str) -> None:
    """Run one task attempt in a fresh process and report on the pipe."""
    # The parent handles Ctrl-C and SIGTERM, and kills its children.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    tmp = tempfile.mkdtemp(prefix=f"{task.key}-", dir=scratch)
    msg: dict[str, Any] = {"ok": True}
    kept: list[Any] = []  # the task's buffers, left to os._exit below
    try:
        os.chdir(files_dir)
        run_task(plan, run, task, new_attempt(), tmp, kept)
    except BaseException as e:  # report everything; the parent decides
        msg = error_message(e, task)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        children.send(fd, json.dumps(msg).encode())
    finally:
        os.close(fd)
        exit_now(0)  # flushes what the task printed


def run_task(plan: JobPlan, run: Binding, task: TaskId, attempt: str, tmp: str, keep: list[Any] | None = None) -> None:
    if task.kind == "map":
        tasks.run_map(plan, run, task.step, task.index, attempt, tmp, keep)
    else:
        reduceside.run_reduce(plan, run, task.step, task.index, attempt, tmp)


def error_message(e: BaseException, task: TaskId | None = None) -> dict[str, Any]:
    text = str(e) or type(e).__name__
    if task is not None and not text.startswith(task.label):
        text = f"{task.label}: {text}"
    retry = e.retry if isinstance(e, UserCodeError) else not isinstance(e, DeterministicError)
    code = e.exit_code if isinstance(e, MrargoError) else EXIT_FAILED
    msg: dict[str, Any] = {"ok": False, "type": type(e).__name__, "message": text, "retry": retry, "exit": code}
    if isinstance(e, UserCodeError):
        msg["traceback"] = e.user_traceback
    elif not isinstance(e, MrargoError):
        msg["message"] = f"{task.label + ': ' if task else ''}{type(e).__name__}: {e}"
        msg["traceback"] = traceback.format_exc()
    if isinstance(e, CorruptDataError):
        msg.update(path=e.path, producer=e.producer)
    return msg
