"""The real test cluster as a pytest fixture.

``cluster`` (session scope) runs ``tests/e2e/cluster.sh up`` (which builds
what is missing, then starts etcd, Kubernetes, containerd, Argo's controller
and an S3 server on loopback), reads the ``export`` lines it prints, and runs
``cluster.sh down --wipe`` at the end of the session if this session started
it (the builds stay).

MRARGO_E2E controls what happens when the cluster cannot be brought up here
(not root, no Go, bring-up failed):
  require  every e2e test fails (CI sets this: a skip is never a pass);
  unset    e2e tests are skipped, with the reason;
  0        e2e tests are skipped without trying.
MRARGO_E2E_KEEP=1 leaves a cluster this session started running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLUSTER_SH = os.path.join(HERE, "cluster.sh")

# Waiting reasons that never clear by themselves: a pod in one of them is
# reported at once instead of waiting for the test's timeout.
STUCK_REASONS = {
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: runs on the real test cluster (tests/e2e/cluster.sh)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.e2e)


@dataclasses.dataclass
class Cluster:
    """What ``cluster.sh up`` exported, and helpers to drive the cluster."""

    env: dict[str, str]  # os.environ plus the exports
    namespace: str
    bucket: str
    s3_endpoint: str  # as pods see it
    s3_secret: str
    image: str  # the mrargo worker image

    def run(
        self, args: Sequence[str], *, input: str | None = None, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), input=input, env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        return proc

    def kubectl(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(["kubectl", *args], **kw)

    def argo(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run(["argo", *args], **kw)

    def kube_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def workflow(self, name: str) -> dict[str, Any]:
        wf: dict[str, Any] = json.loads(self.argo("get", name, "-o", "json").stdout)
        return wf

    def pods_of(self, workflow: str) -> list[dict[str, Any]]:
        return list(self.kube_json("pods", "-l", f"workflows.argoproj.io/workflow={workflow}")["items"])

    def stuck_containers(self, pods: list[dict[str, Any]]) -> list[str]:
        """'pod/container: reason: message' for every container waiting on a
        reason that never clears."""
        out = []
        for pod in pods:
            status = pod.get("status", {})
            for cs in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
                waiting = cs.get("state", {}).get("waiting") or {}
                if waiting.get("reason") in STUCK_REASONS:
                    out.append(f"{pod['metadata']['name']}/{cs['name']}: {waiting['reason']}: {waiting.get('message', '')}")
        return out

    def describe_pods(self, workflow: str) -> str:
        """Each pod's identity, security context, containers' images, pull
        policies and states, and its events: what `kubectl describe` says,
        without the (long) environment."""
        lines = []
        for pod in self.pods_of(workflow):
            meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
            lines.append(
                f"pod {meta['name']}: phase {status.get('phase')}, serviceAccount {spec.get('serviceAccountName')}, "
                f"securityContext {json.dumps(spec.get('securityContext', {}))}"
            )
            states = {
                cs["name"]: cs.get("state", {}) for cs in status.get("initContainerStatuses", []) + status.get("containerStatuses", [])
            }
            for kind in ("initContainers", "containers"):
                for c in spec.get(kind, []):
                    lines.append(
                        f"  {kind[:-1]} {c['name']}: image {c['image']} ({c.get('imagePullPolicy')}), "
                        f"securityContext {json.dumps(c.get('securityContext', {}))}, state {json.dumps(states.get(c['name'], {}))}"
                    )
            events = self.kube_json("events", "--field-selector", f"involvedObject.name={meta['name']}")["items"]
            for e in events:
                lines.append(f"  event {e.get('type')} {e.get('reason')} (x{e.get('count', 1)}): {e.get('message', '')}")
        return "\n".join(lines)

    def diagnose(self, workflow: str) -> str:
        """`argo get`, the pods (states and events) and the tail of
        `argo logs`, for a failure message."""
        parts = []
        for title, args in [
            ("argo get", ["argo", "get", workflow, "--no-color"]),
            ("argo logs", ["argo", "logs", workflow, "--no-color"]),
        ]:
            try:
                proc = self.run(args, check=False, timeout=60)
                text = (proc.stdout + proc.stderr)[-6000:]
            except subprocess.TimeoutExpired:
                text = "(timed out)"
            parts.append(f"===== {title}\n{text}")
        try:
            parts.insert(1, f"===== pods\n{self.describe_pods(workflow)}")
        except (AssertionError, subprocess.TimeoutExpired) as e:
            parts.insert(1, f"===== pods\n(failed: {e})")
        return "\n".join(parts)

    def submit(self, spec: str, *args: str, timeout: float = 300, stuck_after: float = 30) -> dict[str, Any]:
        """`argo submit - --wait` as a user runs it; returns the finished
        workflow (argo get -o json).

        While it waits, the workflow's pods are watched: a container stuck
        for ``stuck_after`` seconds on a reason that never clears (e.g. the
        kubelet refusing to create it) fails the test at once, with Argo's and
        the kubelet's own words.  The workflow is deleted if it succeeded.
        """
        label = f"mrargo-e2e/run={uuid.uuid4().hex[:12]}"
        proc = subprocess.Popen(
            ["argo", "submit", "-", "--wait", "--labels", label, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=ROOT,
        )
        assert proc.stdin is not None
        proc.stdin.write(spec)
        proc.stdin.close()
        deadline = time.monotonic() + timeout
        name = None
        stuck_since: float | None = None
        problem = None
        while proc.poll() is None:
            time.sleep(2)
            if name is None:
                items = self.kube_json("workflows", "-l", label)["items"]
                name = items[0]["metadata"]["name"] if items else None
            if name is not None:
                stuck = self.stuck_containers(self.pods_of(name))
                if stuck:
                    stuck_since = stuck_since or time.monotonic()
                    if time.monotonic() - stuck_since > stuck_after:
                        problem = "pods cannot start:\n" + "\n".join(stuck)
                else:
                    stuck_since = None
            if problem is None and time.monotonic() > deadline:
                problem = f"not finished after {timeout:.0f}s"
            if problem is not None:
                proc.kill()
                break
        assert proc.stdout is not None
        output = proc.stdout.read()
        proc.wait()
        if name is None:
            items = self.kube_json("workflows", "-l", label)["items"]
            name = items[0]["metadata"]["name"] if items else None
        if name is None:
            raise AssertionError(f"argo submit created no workflow (exit {proc.returncode}):\n{output}")
        if problem is not None:
            report = self.diagnose(name)
            self.argo("terminate", name, check=False)  # its pods would retry forever (stop would run onExit)
            raise AssertionError(f"workflow {name}: {problem}\n\n{report}")
        wf = self.workflow(name)
        if wf.get("status", {}).get("phase") != "Succeeded":
            raise AssertionError(
                f"workflow {name} is {wf.get('status', {}).get('phase')}: "
                f"{wf.get('status', {}).get('message', '')}\nargo submit said:\n{output[-3000:]}\n\n{self.diagnose(name)}"
            )
        return wf

    def delete_workflow(self, name: str) -> None:
        self.argo("delete", name, check=False)


def _exports(stdout: str) -> dict[str, str]:
    """The variables that ``eval "$(cluster.sh up)"`` sets, evaluated by bash
    exactly as a user's shell would."""
    script = 'eval "$1" && env -0'
    proc = subprocess.run(["bash", "-c", script, "bash", stdout], capture_output=True, check=True, env=dict(os.environ))
    env = {}
    for item in proc.stdout.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def _cannot_run() -> str | None:
    if os.geteuid() != 0:
        return "the e2e cluster needs root (containerd, kubelet, mounts)"
    if not (shutil.which("go") or os.path.exists("/usr/local/go/bin/go")):
        return "the e2e cluster needs Go (on PATH or /usr/local/go/bin) to build Kubernetes, etcd and Argo"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("MRARGO_E2E") == "require":
        pytest.fail(f"MRARGO_E2E=require, but the e2e cluster is unavailable: {reason}", pytrace=False)
    pytest.skip(f"e2e cluster unavailable: {reason}")


def _running() -> bool:
    return subprocess.run([CLUSTER_SH, "status"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.environ.get("MRARGO_E2E") == "0":
        pytest.skip("MRARGO_E2E=0")
    reason = _cannot_run()
    if reason:
        _unavailable(reason)
    started = not _running()
    log = tmp_path_factory.mktemp("e2e") / "cluster-up.log"
    t0 = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.run([CLUSTER_SH, "up"], stdout=subprocess.PIPE, stderr=err, text=True)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        _unavailable(f"cluster.sh up exited {proc.returncode} after {time.monotonic() - t0:.0f}s:\n{tail}")
    env = _exports(proc.stdout)
    yield Cluster(
        env=env,
        namespace=env["MRARGO_E2E_NAMESPACE"],
        bucket=env["MRARGO_E2E_BUCKET"],
        s3_endpoint=env["MRARGO_E2E_S3_ENDPOINT"],
        s3_secret=env["MRARGO_E2E_S3_SECRET"],
        image=env["MRARGO_E2E_IMAGE"],
    )
    if started and os.environ.get("MRARGO_E2E_KEEP") != "1":
        subprocess.run([CLUSTER_SH, "down", "--wipe"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
