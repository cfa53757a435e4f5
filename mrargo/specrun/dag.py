"""Runs a checked spec: the entrypoint DAG with its fan-outs and retries, then the exit handler.

A thread per running pod waits for its process; this thread alone owns the
node table and decides what starts next, so no node changes in two places.
Where the emulation must choose, it follows Argo's controller
(workflow/controller/operator.go, dag.go) and the documentation cited at
each choice.  What a local run cannot be is a choice too: pods start at
most ``--workers`` at a time (and ``spec.parallelism``), where Argo would
start every item of a fan-out at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from mrargo.argo import contract
from mrargo.errors import EXIT_TERMINATED, Interrupted, one_line
from mrargo.local import INTERRUPTED
from mrargo.local.progress import Progress
from mrargo.specrun.expr import SpecError, substitute
from mrargo.specrun.items import Items, param_items, sequence_items
from mrargo.specrun.pod import PodResult, Supervisor, prepare_pod, run_pod
from mrargo.specrun.spec import RetryStrategy, Spec, Task, Template
from mrargo.specrun.tree import Node, NodeTree

# Kubernetes' generateName alphabet: no vowels, no look-alike digits.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GC_ON_SUCCESS = ("OnPodSuccess", "OnPodCompletion")


@dataclass(frozen=True)
class SpecOptions:
    """How to run a spec on this machine; the spec itself decides everything else."""

    workers: int = os.cpu_count() or 1  # pods at once
    timeout: float | None = None  # seconds per pod attempt, on top of activeDeadlineSeconds
    backoff: bool = True  # wait retryStrategy.backoff between attempts, as Argo does
    progress: bool = True  # a line per DAG task on stderr
    name: str = ""  # the run's name; default: the spec's generateName + 5 random characters
    pods_dir: str = ""  # where pod folders go; default: a new temporary folder


@dataclass
class _Unit:
    """One call of a container template: a Retry node with attempts, or a lone Pod node."""

    node: str
    display: str
    template: Template
    scope: dict[str, str]
    task: str  # the DAG task's name; "" for the exit handler
    parent: str
    not_before: float = 0.0
    attempts: list[str] = field(default_factory=list)


def run_name(spec: Spec, opts: SpecOptions) -> str:
    if opts.name:
        return opts.name
    return spec.name + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5)) if spec.generate else spec.name


def workflow_globals(spec: Spec, params: dict[str, str], name: str) -> dict[str, str]:
    """The workflow-scope variables; a parameter without a value is an error, as in argo submit."""
    contract.check_parameters(params, sorted(p.name for p in spec.parameters), "the spec")
    scope = {"workflow.name": name, "workflow.status": "Running"}
    for p in spec.parameters:
        value = params.get(p.name, p.value)
        if value is None:
            raise SpecError(f"workflow parameter {p.name!r} has no value; pass -p {p.name}=VALUE")
        scope[f"workflow.parameters.{p.name}"] = value
    return scope


def check_secrets(spec: Spec) -> None:
    """A secretKeyRef reads the variable of the same name from this shell; refuse early if it is unset."""
    for t in spec.templates:
        for e in t.container.env if t.container else ():
            if e.secret and e.name not in os.environ:
                secret, key = e.secret
                raise SpecError(
                    f"template {t.name!r} env {e.name} comes from Secret {secret!r} key {key!r}, which mrargo run cannot read; "
                    f"export {e.name} in this shell to stand in for it"
                )


def execute(spec: Spec, params: dict[str, str], opts: SpecOptions) -> NodeTree:
    """Run the spec to the end and return its node tree; a failed run is a tree, not an exception."""
    if opts.workers < 1:
        raise SpecError(f"--workers must be at least 1, got {opts.workers}")
    check_secrets(spec)
    name = run_name(spec, opts)
    run = _Run(spec, workflow_globals(spec, params, name), opts, name)
    return run.execute()


# How often the scheduler looks for a signal while it waits for pods.
SIGNAL_POLL_SECONDS = 0.2


class _Run:
    """One run's state; ``execute`` makes the folders and threads it needs, and stops them."""

    pool: ThreadPoolExecutor
    pods_dir: str
    deadline_at: float | None = None
    signalled = 0  # the Ctrl-C or SIGTERM to act on, once the scheduler is at a safe point

    def __init__(self, spec: Spec, scope: dict[str, str], opts: SpecOptions, name: str) -> None:
        self.spec, self.scope, self.opts, self.name = spec, scope, opts, name
        self.nodes: dict[str, Node] = {}
        self.supervisor = Supervisor()
        self.slots = min(opts.workers, spec.parallelism or opts.workers)
        self.inflight: dict[Future[PodResult], tuple[_Unit, str]] = {}
        self.waiting: list[_Unit] = []
        self.open_units: dict[str, int] = {}  # task -> units not finished
        self.task_phase: dict[str, str] = {}
        self.progress: dict[str, Progress] = {}
        self.dropped: set[str] = set()  # tasks with items that fail fast kept from starting
        self.first_failure = ""

    # -- the workflow ----------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        return bool(self.first_failure)

    def execute(self) -> NodeTree:
        started = time.time()
        # spec.activeDeadlineSeconds: no pod starts after it, running ones are
        # stopped at it, and nothing is retried past it; the exit handler is
        # exempt (operator.go, exec_control.go).
        self.deadline_at = started + self.spec.deadline if self.spec.deadline else None
        self.pods_dir = self.opts.pods_dir or tempfile.mkdtemp(prefix="mrargo-pods-")
        self.pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="mrargo-pod")
        try:
            with self._signals_noted():
                phase, message = self._run_dag(self.spec.template(self.spec.entrypoint))
                on_exit = ""
                if self.spec.on_exit:
                    # The exit handler runs whatever the outcome and sees it as workflow.status
                    # (https://argo-workflows.readthedocs.io/en/latest/walk-through/exit-handlers/).
                    self.scope["workflow.status"] = phase
                    on_exit = f"{self.name}.onExit"
                    exit_phase, exit_message = self._run_exit_handler(on_exit)
                    if phase == "Succeeded" and exit_phase != "Succeeded":
                        phase, message = exit_phase, exit_message  # a failed exit handler fails the run
        except BaseException:
            # Ctrl-C or SIGTERM: stop every pod, and leave no pod folder behind.
            self.supervisor.stop_all()
            self.pool.shutdown(wait=True, cancel_futures=True)
            if not self.opts.pods_dir:
                shutil.rmtree(self.pods_dir, ignore_errors=True)
            raise
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._collect_pods(phase)
        params = tuple((k.split(".", 2)[2], v) for k, v in self.scope.items() if k.startswith("workflow.parameters."))
        return NodeTree(self.name, self.spec.namespace, phase, message, tuple(self.nodes.values()), self.name, on_exit,
                        started, time.time(), params)  # fmt: skip

    @contextlib.contextmanager
    def _signals_noted(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM only set ``signalled``; ``_wait_for_pods`` raises for them.

        An exception raised by a handler starts at whatever bytecode the
        main thread is at, and there it can leave a lock half-taken: in
        ``concurrent.futures.wait``, a future's lock stays held, the pod
        thread that finishes that future blocks on it for ever, and the
        abort's ``pool.shutdown`` waits for that thread.  Raised from the
        wait loop, the exception finds no lock held.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def note(signum: int, frame: Any) -> None:
            self.signalled = signum

        # A handler set outside Python (getsignal: None) could not be put
        # back, and one that ignores the signal (a run started with Ctrl-C
        # ignored) stays.
        old = {s: h for s in (signal.SIGINT, signal.SIGTERM) if (h := signal.getsignal(s)) not in (None, signal.SIG_IGN)}
        for s in old:
            signal.signal(s, note)
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def _stop_if_signalled(self) -> None:
        if self.signalled == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signalled:
            raise Interrupted(INTERRUPTED, exit_code=EXIT_TERMINATED)

    def _run_dag(self, t: Template) -> tuple[str, str]:
        self._add(Node(self.name, self.name, "DAG", t.name, "Running", started=time.time()))
        while True:
            self._start_ready_tasks(t)
            self._launch()
            if not self.inflight and not self.waiting:
                break
            self._wait_for_pods()
        # Fail fast: once a task failed no new task started; the DAG fails when the
        # running ones are done (https://argo-workflows.readthedocs.io/en/latest/walk-through/dag/).
        phase = self.task_phase[self.first_failure] if self.failing else "Succeeded"
        message = f"child '{self.name}.{self.first_failure}' failed" if self.failing else ""
        self._set(self.name, phase=phase, message=message, finished=time.time())
        return phase, message

    def _run_exit_handler(self, node_id: str) -> tuple[str, str]:
        self.first_failure = ""  # the DAG is over; the exit handler runs whatever happened
        t = self.spec.template(self.spec.on_exit or "")
        unit = _Unit(node_id, node_id, t, self._template_scope(t, {}), "", "")
        self._open_task("onExit", 1)
        self.waiting.append(unit)
        while self.waiting or self.inflight:
            self._launch()
            self._wait_for_pods()
        node = self.nodes[node_id]
        return node.phase, node.message

    # -- tasks -----------------------------------------------------------------------------

    def _start_ready_tasks(self, t: Template) -> None:
        """Start every task whose dependencies are done, until none changes (a skipped task frees its dependents at once)."""
        changed = True
        while changed and not self.failing:
            changed = False
            for x in t.tasks:
                if x.name not in self.task_phase and x.name not in self.open_units:
                    changed |= self._maybe_start_task(x)

    def _maybe_start_task(self, x: Task) -> bool:
        deps = [(d, self.task_phase.get(d)) for d, _ in x.depends]
        if any(p is None for _, p in deps):
            return False
        # dependencies: [A] means A.Succeeded || A.Skipped || A.Daemoned
        # (https://argo-workflows.readthedocs.io/en/latest/enhanced-depends-logic/).
        only = dict(x.depends)
        if not all(p == "Succeeded" or (p == "Skipped" and not only[d]) for d, p in deps):
            node = f"{self.name}.{x.name}"
            self._add(Node(node, x.name, "Skipped", x.template, "Omitted", "omitted: depends condition not met", parent=self.name))
            self.task_phase[x.name] = "Omitted"
            return True
        scope = {**self.scope, **self.task_outputs}
        items = self._items(x, scope)
        node = f"{self.name}.{x.name}"
        t = self.spec.template(x.template)
        if items is None:
            self._open_task(x.name, 1)
            self.waiting.append(_Unit(node, x.name, t, self._template_scope(t, self._arguments(x, scope)), x.name, self.name))
            return True
        if not items:
            now = time.time()
            self._add(Node(node, x.name, "Skipped", x.template, "Skipped", "Skipped, empty params", self.name, started=now, finished=now))
            self.task_phase[x.name] = "Skipped"
            return True
        self._add(Node(node, x.name, "TaskGroup", x.template, "Running", parent=self.name, started=time.time()))
        self._open_task(x.name, len(items))
        for i, (label, values) in enumerate(items):
            args = self._arguments(x, {**scope, **values})
            display = f"{x.name}({i}:{label})"
            self.waiting.append(_Unit(f"{self.name}.{display}", display, t, self._template_scope(t, args), x.name, node))
        return True

    @property
    def task_outputs(self) -> dict[str, str]:
        out = {}
        for n in self.nodes.values():
            if n.parent == self.name and n.type in ("Retry", "Pod") and n.phase == "Succeeded":
                out.update({f"tasks.{n.display}.outputs.parameters.{k}": v for k, v in n.outputs})
        return out

    def _items(self, x: Task, scope: dict[str, str]) -> Items | None:
        where = f"task {x.name!r}"
        if x.sequence is not None:
            return sequence_items(x.sequence, scope, where)
        if x.with_param is not None:
            return param_items(substitute(x.with_param, scope, f"{where} withParam"), where)
        return None

    def _arguments(self, x: Task, scope: dict[str, str]) -> dict[str, str]:
        return {p.name: substitute(p.value or "", scope, f"task {x.name!r} argument {p.name}") for p in x.arguments}

    def _template_scope(self, t: Template, args: dict[str, str]) -> dict[str, str]:
        scope = dict(self.scope)
        for p in t.inputs:
            value = args.get(p.name, p.value)
            scope[f"inputs.parameters.{p.name}"] = substitute(value or "", self.scope, f"template {t.name!r} input {p.name}")
        return scope

    def _open_task(self, name: str, units: int) -> None:
        self.open_units[name] = units
        self.progress[name] = Progress(enabled=self.opts.progress)
        self.progress[name].start(name, units)

    def _finish_task(self, name: str, phase: str) -> None:
        del self.open_units[name]
        self.task_phase[name] = phase
        self.progress[name].finish("" if phase == "Succeeded" else f" {phase}")
        if phase in ("Failed", "Error") and not self.first_failure:
            self.first_failure = name

    # -- units and attempts ------------------------------------------------------------------

    def _past_deadline(self, unit: _Unit) -> bool:
        return bool(unit.task) and self.deadline_at is not None and time.time() >= self.deadline_at

    def _launch(self) -> None:
        now = time.time()
        for unit in list(self.waiting):
            if self._past_deadline(unit):
                self.waiting.remove(unit)
                self._exceeded(unit)
                continue
            if len(self.inflight) >= self.slots:
                return
            if unit.not_before > now:
                continue
            self.waiting.remove(unit)
            if self.failing and not unit.attempts:
                self.dropped.add(unit.task)  # never started: fail fast leaves it out
                self._unit_done(unit, None)
                continue
            self._start_attempt(unit)

    def _start_attempt(self, unit: _Unit) -> None:
        t, retry = unit.template, unit.template.retry is not None
        if t.container is None:  # load_spec lets only container templates be called
            raise SpecError(f"template {t.name!r} has no container")
        if not unit.attempts:
            self._add(
                Node(unit.node, unit.display, "Retry" if retry else "Pod", t.name, "Running", parent=unit.parent, started=time.time())
            )
        n = len(unit.attempts)
        pod_id = f"{unit.node}({n})" if retry else unit.node
        pod_name = contract.pod_name(self.name, t.name, pod_id)
        pod = prepare_pod(t, t.container, unit.scope, pod_name, os.path.join(self.pods_dir, pod_name), self._deadline(unit))
        unit.attempts.append(pod_id)
        if retry:
            self._add(Node(pod_id, f"{unit.display}({n})", "Pod", t.name, "Running", parent=unit.node, started=time.time(), pod=pod_name))
        else:
            self._set(pod_id, started=time.time(), pod=pod_name)
        self.inflight[self.pool.submit(run_pod, pod, self.supervisor)] = (unit, pod_id)

    def _exceeded(self, unit: _Unit) -> None:
        """A unit the workflow's deadline caught before it (or its next attempt) could start."""
        message = "Step exceeded its deadline"
        if unit.node not in self.nodes:
            self._add(Node(unit.node, unit.display, "Pod", unit.template.name, "Failed", message, parent=unit.parent,
                           started=time.time(), finished=time.time()))  # fmt: skip
        else:
            self._set(unit.node, phase="Failed", message=message, finished=time.time())
        self._unit_done(unit, self.nodes[unit.node])

    def _deadline(self, unit: _Unit) -> float | None:
        t, limits = unit.template, []
        if self.deadline_at is not None and unit.task:
            limits.append(max(0.001, self.deadline_at - time.time()))
        if t.deadline:
            text = substitute(t.deadline, unit.scope, f"template {t.name!r} activeDeadlineSeconds")
            try:
                limits.append(float(int(text)))
            except ValueError:
                raise SpecError(f"template {t.name!r} activeDeadlineSeconds {text!r} is not a whole number of seconds") from None
        if t.timeout:
            limits.append(t.timeout)
        if self.opts.timeout:
            limits.append(self.opts.timeout)
        backoff = t.retry.backoff if t.retry else None
        if self.opts.backoff and backoff and backoff.max_duration is not None and unit.attempts:
            # A retried pod must end by the first attempt's start + maxDuration (operator.go executionDeadline).
            first = _or(self.nodes[unit.attempts[0]].started, time.time())
            limits.append(max(1.0, first + backoff.max_duration - time.time()))
        return min(limits) if limits else None

    def _wait_for_pods(self) -> None:
        self._stop_if_signalled()
        free = len(self.inflight) < self.slots
        pending = [u.not_before for u in self.waiting]
        timeout = max(0.0, min(pending) - time.time()) if pending and free else None
        # Never longer than the signal poll: a handler that only notes the
        # signal does not cut a wait short.
        timeout = SIGNAL_POLL_SECONDS if timeout is None else min(timeout, SIGNAL_POLL_SECONDS)
        if not self.inflight:
            time.sleep(timeout)
            return
        done, _ = wait(list(self.inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        self._stop_if_signalled()
        for f in done:
            unit, pod_id = self.inflight.pop(f)
            self._attempt_done(unit, pod_id, f.result())

    def _attempt_done(self, unit: _Unit, pod_id: str, r: PodResult) -> None:
        gc = (r.phase == "Succeeded" and self.spec.pod_gc in _GC_ON_SUCCESS) or self.spec.pod_gc == "OnPodCompletion"
        if gc:
            shutil.rmtree(os.path.dirname(r.log), ignore_errors=True)
        self._set(pod_id, phase=r.phase, message=r.message, started=r.started, finished=r.finished,
                  exit_code=r.exit_code, outputs=r.outputs, log="" if gc else r.log)  # fmt: skip
        if unit.template.retry is None:
            self._unit_done(unit, self.nodes[pod_id])
            return
        attempts = [self.nodes[a] for a in unit.attempts]
        wait_s, why = retry_decision(unit.template.retry, attempts, time.time(), self.opts.backoff)
        if wait_s is not None and self.deadline_at is not None and unit.task and r.finished + wait_s >= self.deadline_at:
            wait_s, why = None, "retry exceeded workflow deadline"
        if wait_s is None:
            last = self.nodes[pod_id]
            self._set(unit.node, phase=last.phase, message=why, finished=last.finished, outputs=last.outputs)
            self._unit_done(unit, self.nodes[unit.node])
            return
        unit.not_before = r.finished + wait_s
        limit = unit.template.retry.limit
        total = "" if limit is None else f" of {limit + 1}"
        after = f", in {wait_s:g}s" if wait_s else ""
        self.progress[unit.task or "onExit"].message(
            f"retrying {unit.display} (attempt {len(unit.attempts) + 1}{total}{after}): {one_line(r.message) or r.phase}"
        )
        self.waiting.append(unit)

    def _unit_done(self, unit: _Unit, node: Node | None) -> None:
        name = unit.task or "onExit"
        if node is not None:
            self.progress[name].advance()
        if unit.parent != self.name and unit.parent in self.nodes:
            group = self.nodes[unit.parent]
            if node is not None:
                self._set(group.id, finished=time.time())
            self.open_units[name] -= 1
            if self.open_units[name] == 0:
                phases = {self.nodes[c].phase for c in group.children}
                phase = next((p for p in ("Failed", "Error") if p in phases), "Omitted" if name in self.dropped else "Succeeded")
                self._set(group.id, phase=phase)
                self._finish_task(name, phase)
            elif node is not None and node.phase != "Succeeded" and not self.first_failure:
                self.first_failure = name  # fail fast within a fan-out too: no new item starts
            return
        self._finish_task(name, node.phase if node is not None else "Omitted")

    # -- the node table ----------------------------------------------------------------------

    def _add(self, node: Node) -> None:
        self.nodes[node.id] = node
        if node.parent:
            p = self.nodes[node.parent]
            self.nodes[p.id] = replace(p, children=(*p.children, node.id))

    def _set(self, node_id: str, **changes: Any) -> None:
        self.nodes[node_id] = replace(self.nodes[node_id], **changes)

    def _collect_pods(self, phase: str) -> None:
        """podGC at the end of the run; an emptied temporary folder goes too.

        A run that succeeded leaves no pod folders at all: on Argo, kept pods
        are read with argo logs until the workflow expires (ttlStrategy), and
        a local run has no later.  A failed run keeps what podGC keeps.
        """
        gc = self.spec.pod_gc
        if phase == "Succeeded" or gc == "OnWorkflowCompletion":
            for n in self.nodes.values():
                if n.log:
                    shutil.rmtree(os.path.dirname(n.log), ignore_errors=True)
                    self.nodes[n.id] = replace(n, log="")
        if not self.opts.pods_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self.pods_dir)


def retry_decision(r: RetryStrategy, attempts: list[Node], now: float, backoff: bool = True) -> tuple[float | None, str]:
    """After an attempt ended: (seconds to wait, "") to try again, or (None, the Retry node's message).

    The checks, their order and their messages follow Argo's
    processNodeRetries (workflow/controller/operator.go): the max-duration
    and backoff limits, then the retry policy, then the limit (``limit``
    retries, so limit + 1 attempts), then the expression
    (https://argo-workflows.readthedocs.io/en/latest/retries/).
    """
    last, n = attempts[-1], len(attempts)
    if last.phase == "Succeeded":
        return None, ""
    wait_s = 0.0
    if r.backoff is not None and backoff:
        b, deadline = r.backoff, None
        if b.max_duration is not None:
            deadline = _or(attempts[0].started, now) + b.max_duration
            if now > deadline:
                return None, "Max duration limit exceeded"
        wait_s = b.duration * (b.factor ** (n - 1) if b.factor and b.factor > 0 else 1.0)
        wait_s = min(wait_s, b.cap) if b.cap else wait_s
        if deadline is not None and _or(last.finished, now) + wait_s > deadline:
            return None, "Backoff would exceed max duration limit"
    if (last.phase == "Failed" and r.policy == "OnError") or (last.phase == "Error" and r.policy == "OnFailure"):
        return None, last.message
    if r.limit is not None and n > r.limit:
        return None, "No more retries left"
    if r.expression is not None:
        scope = {
            "lastRetry.exitCode": "-1" if last.exit_code is None else str(last.exit_code),
            "lastRetry.status": last.phase,
            "lastRetry.duration": f"{_or(last.duration, 0.0):g}",
            "lastRetry.message": last.message,
        }
        if not r.expression.evaluate(scope):
            return None, "retryStrategy.expression evaluated to false"
    # Argo waits from the end of the last attempt; the emulator too, but only
    # when it will retry (the wait before a refusal changes nothing but the clock).
    return wait_s, ""


def _or(value: float | None, default: float) -> float:
    """``value`` unless it is None; 0.0 is a time like any other."""
    return default if value is None else value
