"""One pod attempt as a local process, with the container's paths mapped into a folder.

A process cannot have a root filesystem of its own without privileges, so
the emulator maps the container paths the spec declares into the pod's
folder POD:

- each emptyDir ``volumeMount`` (``/tmp``) -> ``POD/volumes/NAME``;
- the folders of raw input artifacts (``/mrargo/values``) and of output
  parameter files, the termination log and Argo's progress file ->
  ``POD/root/PATH``.

Arguments and environment values that name such a path are rewritten the
same way.  A volume mounted at ``/tmp`` is also exported as ``TMPDIR``: a
process that puts scratch files where POSIX says (Python's tempfile, the
worker's ``--scratch`` default) must land in the pod's emptyDir, not in
this machine's /tmp, which every emulated pod would share.

``python`` in a command is this interpreter, and ``PYTHONPATH`` starts with
the folder this mrargo was imported from: the emulator's own code stands in
for the worker image.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import mrargo
from mrargo.argo.contract import PROGRESS_ENV, TERMINATION_ENV, TERMINATION_LOG
from mrargo.specrun.expr import SpecError, substitute
from mrargo.specrun.spec import Container, Template

# Argo's executor tells the main container where to report N/M progress
# (https://argo-workflows.readthedocs.io/en/latest/progress/).
PROGRESS_FILE = "/var/run/argo/progress"
# The worker writes its one-line error to /dev/termination-log, Kubernetes'
# default terminationMessagePath, which a local process cannot have to
# itself: each pod's process gets a file of its own in TERMINATION_ENV.
# Kubernetes' FallbackToLogsOnError: "the last chunk of container log
# output ... limited to 2048 bytes or 80 lines, whichever is smaller"
# (https://kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/).
LOG_TAIL_BYTES = 2048
LOG_TAIL_LINES = 80
MESSAGE_BYTES = 4096  # Kubernetes truncates termination messages to 4 KiB
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
GRACE_SECONDS = 5.0  # SIGTERM, then SIGKILL, as the kubelet does (30 s there)


@dataclass(frozen=True)
class PodFS:
    """Where this pod's container paths live on this machine."""

    root: str
    mounts: tuple[tuple[str, str], ...]  # (container folder, host folder), longest first
    private: tuple[str, ...]  # container folders and files that exist only in this pod

    def host(self, path: str) -> str | None:
        for inside, outside in self.mounts:
            if path == inside or path.startswith(inside.rstrip("/") + "/"):
                return outside + path[len(inside) :]
        for p in self.private:
            if path == p or path.startswith(p + "/"):
                return os.path.join(self.root, "root") + path
        return None

    def rewrite(self, text: str) -> str:
        """A container path in an argument or env value, as this machine sees it; other text unchanged."""
        mapped = self.host(text) if text.startswith("/") else None
        return mapped if mapped is not None else text


def pod_fs(root: str, t: Template, c: Container) -> PodFS:
    mounts = sorted(((path, os.path.join(root, "volumes", vol)) for vol, path in c.mounts), key=lambda m: -len(m[0]))
    private = {os.path.dirname(a.path) for a in t.artifacts} | {os.path.dirname(o.path) for o in t.outputs}
    private |= {TERMINATION_LOG, PROGRESS_FILE}
    return PodFS(root, tuple(mounts), tuple(sorted(p for p in private if p != "/")))


@dataclass(frozen=True)
class Pod:
    """One attempt, ready to start: every string substituted, every path mapped."""

    name: str
    root: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    files: tuple[tuple[str, str], ...]  # (host path, data): raw input artifacts
    outputs: tuple[tuple[str, str, str], ...]  # (name, container path, host path)
    deadline: float | None  # seconds
    termination_log: str
    fallback_to_logs: bool


@dataclass(frozen=True)
class PodResult:
    phase: str  # Succeeded | Failed | Error
    message: str
    exit_code: int | None
    outputs: tuple[tuple[str, str], ...]
    started: float
    finished: float
    log: str


def prepare_pod(t: Template, c: Container, scope: Mapping[str, str], name: str, root: str, deadline: float | None) -> Pod:
    where = f"template {t.name!r}"
    fs = pod_fs(root, t, c)

    def host(path: str) -> str:
        mapped = fs.host(path)
        if mapped is None:  # pod_fs maps every declared path; this is a bug
            raise SpecError(f"{where}: path {path} has no place in the pod's folder")
        return mapped

    argv = [fs.rewrite(substitute(x, scope, f"{where} container")) for x in c.command + c.args]
    argv[0] = sys.executable  # load_spec checked that the command is python
    env = dict(os.environ)  # the machine's ambient credentials, as IRSA gives a pod
    for e in c.env:
        env[e.name] = env.get(e.name, "") if e.secret else fs.rewrite(substitute(e.value, scope, f"{where} env {e.name}"))
    for inside, outside in fs.mounts:
        if inside == "/tmp":
            env["TMPDIR"] = outside
    env[PROGRESS_ENV] = host(PROGRESS_FILE)
    env[TERMINATION_ENV] = host(TERMINATION_LOG)
    here = os.path.dirname(os.path.dirname(os.path.abspath(mrargo.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    files = tuple((host(a.path), substitute(a.data, scope, f"{where} artifact {a.name}")) for a in t.artifacts)
    return Pod(
        name=name,
        root=root,
        argv=tuple(argv),
        env=tuple(sorted(env.items())),
        files=files,
        outputs=tuple((o.name, o.path, host(o.path)) for o in t.outputs),
        deadline=deadline,
        termination_log=host(TERMINATION_LOG),
        fallback_to_logs=c.fallback_to_logs,
    )


class Supervisor:
    """The live pod processes, so that an abort can stop every one it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[bytes]] = set()
        self.stopping = False

    def start(self, pod: Pod, log: int) -> subprocess.Popen[bytes]:
        with self._lock:
            if self.stopping:
                raise OSError("the run is stopping")
            # A session of its own, so a deadline or an abort stops the
            # whole process group, as deleting a pod would.
            proc = subprocess.Popen(
                list(pod.argv), env=dict(pod.env), cwd=os.path.join(pod.root, "root"),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            self._procs.add(proc)
            return proc

    def done(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._procs.discard(proc)

    def stop_all(self) -> None:
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
        for proc in procs:
            stop(proc, grace=1.0)


def stop(proc: subprocess.Popen[bytes], grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the pod's process group, then SIGKILL it after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_pod(pod: Pod, supervisor: Supervisor) -> PodResult:
    """Run one attempt to the end; never raises for what the process does."""
    for path, data in pod.files:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)
    for d in ("root", "volumes"):
        os.makedirs(os.path.join(pod.root, d), exist_ok=True)
    log = os.path.join(pod.root, "main.log")
    started = time.time()
    with open(log, "wb") as f:
        try:
            proc = supervisor.start(pod, f.fileno())
        except OSError as e:
            return PodResult("Error", f"main: failed to start: {e}", None, (), started, time.time(), log)
        try:
            code = _wait(proc, pod.deadline)
        finally:
            supervisor.done(proc)
    if code is None:
        return PodResult("Failed", DEADLINE_MESSAGE, _exit_code(proc.returncode), (), started, time.time(), log)
    if code != 0:
        return PodResult("Failed", _failure_message(pod, code, log), code, (), started, time.time(), log)
    return _collect_outputs(pod, started, log)


def _wait(proc: subprocess.Popen[bytes], deadline: float | None) -> int | None:
    """The exit code, or None when the deadline passed and the pod was stopped."""
    try:
        return _exit_code(proc.wait(timeout=deadline))
    except subprocess.TimeoutExpired:
        stop(proc)
        return None


def _exit_code(returncode: int | None) -> int | None:
    # Kubernetes reports a container killed by signal N as 128 + N (137 for SIGKILL).
    return None if returncode is None else (128 - returncode if returncode < 0 else returncode)


def _failure_message(pod: Pod, code: int, log: str) -> str:
    """As Argo words a failed main container: "main: Error (exit code N): <termination message>"."""
    text = ""
    with contextlib.suppress(OSError), open(pod.termination_log, "rb") as f:
        text = f.read(MESSAGE_BYTES).decode("utf-8", "replace").strip()
    if not text and pod.fallback_to_logs:
        text = _log_tail(log)
    return f"main: Error (exit code {code})" + (f": {text}" if text else "")


def _log_tail(log: str) -> str:
    with contextlib.suppress(OSError), open(log, "rb") as f:
        f.seek(max(0, os.path.getsize(log) - LOG_TAIL_BYTES))
        lines = f.read().decode("utf-8", "replace").splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines).strip()
    return ""


def _collect_outputs(pod: Pod, started: float, log: str) -> PodResult:
    outputs = []
    for name, inside, path in pod.outputs:
        try:
            with open(path, encoding="utf-8") as f:
                value = f.read()
        except OSError:
            # Argo's wait container fails to save the output: the node is an Error.
            return PodResult(
                "Error", f"failed to save outputs: parameter {name!r}: {inside} does not exist", 0, (), started, time.time(), log
            )
        # Argo "trims off a single newline for user convenience" (executor.go saveParameters).
        outputs.append((name, value[:-1] if value.endswith("\n") else value))
    return PodResult("Succeeded", "", 0, tuple(outputs), started, time.time(), log)
