"""The e2e cluster is real: pods run in containers, Argo's own controller runs
workflows, and mrargo's compiled word count runs on it as on a stock install.

Every test uses the ``cluster`` fixture (tests/e2e/conftest.py).  Workflows
run under the ``mrargo`` service account, which has only the RBAC that
``mrargo manifests`` renders.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid
from typing import Any

from .conftest import Cluster

SERVICE_ACCOUNT = "mrargo"  # what `mrargo manifests` creates


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _yaml(obj: dict[str, Any]) -> str:
    return json.dumps(obj)  # JSON is YAML; no quoting surprises


def _container(cluster: Cluster, code: str, **extra: Any) -> dict[str, Any]:
    """A container running Python code on the worker image, never pulled."""
    return {
        "image": cluster.image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", textwrap.dedent(code)],
        **extra,
    }


def _workflow(prefix: str, templates: list[dict[str, Any]], **spec: Any) -> str:
    return _yaml(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"generateName": f"{prefix}-"},
            "spec": {
                "entrypoint": templates[0]["name"],
                "serviceAccountName": SERVICE_ACCOUNT,
                "templates": templates,
                **spec,
            },
        }
    )


def _pod_nodes(wf: dict[str, Any], template: str) -> list[dict[str, Any]]:
    nodes = wf["status"]["nodes"].values()
    return sorted((n for n in nodes if n["type"] == "Pod" and n.get("templateName") == template), key=lambda n: n["name"])


# ---------------------------------------------------------------- Kubernetes


def test_pod_runs_in_a_container(cluster: Cluster) -> None:
    """A hardened pod (uid 10001, read-only root, no capabilities) runs in a
    real container (its own PID namespace and cgroup), reaches the apiserver
    through the in-cluster config, and its logs come back."""
    name = _name("e2e-plain")
    code = """
        import json, os, ssl, urllib.request
        print("uid", os.getuid(), "pid", os.getpid())
        try:
            open("/opt/probe", "w")
        except OSError as e:
            print("rootfs", "read-only" if e.errno == 30 else e)
        print("cgroup", "kubepods" in open("/proc/self/cgroup").read())
        sa = "/var/run/secrets/kubernetes.io/serviceaccount"
        url = "https://%s:%s/version" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + open(sa + "/token").read()})
        ctx = ssl.create_default_context(cafile=sa + "/ca.crt")
        print("apiserver", json.load(urllib.request.urlopen(req, context=ctx))["gitVersion"])
    """
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "hostNetwork": True,  # this machine has no pod network (README)
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                _container(
                    cluster,
                    code,
                    name="main",
                    securityContext={
                        "readOnlyRootFilesystem": True,
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                )
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=_yaml(pod))
    try:
        proc = cluster.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", f"pod/{name}", "--timeout=90s", check=False)
        if proc.returncode != 0:
            describe = cluster.kubectl("describe", "pod", name, check=False).stdout
            raise AssertionError(f"pod {name} did not succeed: {proc.stderr}\n{describe}")
        logs = cluster.kubectl("logs", name).stdout.split("\n")
        assert logs[:5] == [
            "uid 10001 pid 1",
            "rootfs read-only",
            "cgroup True",
            "apiserver v1.34.4",
            "",
        ], logs
    finally:
        cluster.kubectl("delete", "pod", name, "--wait=false", check=False)


# ---------------------------------------------------------------- Argo


def test_argo_hello_world(cluster: Cluster) -> None:
    """Argo's controller runs a one-step workflow; `argo logs` returns what the
    container printed."""
    spec = _workflow("e2e-hello", [{"name": "hello", "container": _container(cluster, "print('hello from argo')")}])
    wf = cluster.submit(spec, timeout=120)
    name = wf["metadata"]["name"]
    assert "hello from argo" in cluster.argo("logs", name).stdout
    cluster.delete_workflow(name)


def test_argo_dag_fan_out_with_retry(cluster: Cluster) -> None:
    """An output parameter feeds a withSequence fan-out; one item exits 3 on
    its first try and Argo's retryStrategy runs it again."""
    gen = {
        "name": "gen",
        "container": _container(cluster, "open('/tmp/count', 'w').write('3')"),
        "outputs": {"parameters": [{"name": "count", "valueFrom": {"path": "/tmp/count"}}]},
    }
    work = {
        "name": "work",
        "inputs": {"parameters": [{"name": "i"}]},
        "retryStrategy": {"limit": "2"},
        "container": _container(
            cluster,
            """
            import sys
            i, attempt = {{inputs.parameters.i}}, {{retries}}
            print(f"item {i} attempt {attempt}")
            sys.exit(3 if (i, attempt) == (1, 0) else 0)
            """,
        ),
    }
    main = {
        "name": "main",
        "dag": {
            "tasks": [
                {"name": "gen", "template": "gen"},
                {
                    "name": "work",
                    "template": "work",
                    "depends": "gen",
                    "withSequence": {"count": "{{tasks.gen.outputs.parameters.count}}"},
                    "arguments": {"parameters": [{"name": "i", "value": "{{item}}"}]},
                },
            ]
        },
    }
    wf = cluster.submit(_workflow("e2e-dag", [main, gen, work]), timeout=180)
    pods = _pod_nodes(wf, "work")
    phases = sorted((n["displayName"], n["phase"]) for n in pods)
    assert phases == [
        ("work(0:0)(0)", "Succeeded"),
        ("work(1:1)(0)", "Failed"),
        ("work(1:1)(1)", "Succeeded"),
        ("work(2:2)(0)", "Succeeded"),
    ], phases
    failed = [n for n in pods if n["phase"] == "Failed"][0]
    assert "exit code 3" in failed.get("message", ""), failed
    cluster.delete_workflow(wf["metadata"]["name"])


def test_argoexec_runs_as_root(cluster: Cluster) -> None:
    """A pod-level `runAsNonRoot: true` without `runAsUser` refuses Argo's own
    init container, because argoexec runs as root (as Argo's default executor
    image does): the workflow never starts its step."""
    spec = _workflow(
        "e2e-nonroot",
        [
            {
                "name": "main",
                "container": _container(cluster, "print('never')", securityContext={"runAsUser": 10001}),
            }
        ],
        securityContext={"runAsNonRoot": True},
    )
    name = cluster.argo("submit", "-", "-o", "name", input=spec).stdout.strip()
    try:
        deadline = time.monotonic() + 90
        stuck: list[str] = []
        while time.monotonic() < deadline and not stuck:
            time.sleep(2)
            stuck = cluster.stuck_containers(cluster.pods_of(name))
        assert stuck, f"no container was refused\n{cluster.diagnose(name)}"
        assert any("/init: CreateContainerConfigError: container has runAsNonRoot and image will run as root" in s for s in stuck), stuck
        assert cluster.workflow(name)["status"].get("phase") in ("Pending", "Running"), cluster.diagnose(name)
    finally:
        cluster.argo("terminate", name, check=False)
        cluster.delete_workflow(name)


def test_pod_level_run_as_user_starts_argoexec(cluster: Cluster) -> None:
    """The fix Argo documents: with a pod-level `runAsUser`, the same workflow
    runs (init and wait run as that user too)."""
    spec = _workflow(
        "e2e-runasuser",
        [{"name": "main", "container": _container(cluster, "import os; print('uid', os.getuid())")}],
        securityContext={"runAsNonRoot": True, "runAsUser": 10001},
    )
    wf = cluster.submit(spec, timeout=120)
    assert "uid 10001" in cluster.argo("logs", wf["metadata"]["name"]).stdout
    cluster.delete_workflow(wf["metadata"]["name"])


def test_argo_retry_and_resubmit(cluster: Cluster) -> None:
    """The CLI's recovery commands, in kube-API mode: a workflow fails
    (exit 1, no retryStrategy); `argo retry -p` reruns its failed step with a
    new parameter and succeeds; `argo resubmit -p` makes a new workflow from
    the same spec."""
    step = {
        "name": "main",
        "inputs": {"parameters": [{"name": "fail"}]},
        "container": _container(cluster, "import sys; sys.exit(1 if '{{inputs.parameters.fail}}' == 'yes' else 0)"),
    }
    spec = _workflow(
        "e2e-retry",
        [step],
        arguments={"parameters": [{"name": "fail", "value": "yes"}]},
    )
    # `argo submit --wait` exits 1 when the workflow fails
    proc = cluster.argo("submit", "-", "--wait", "-o", "name", input=spec, timeout=120, check=False)
    name = proc.stdout.strip().split("\n")[0]
    wf = cluster.workflow(name)
    assert wf["status"]["phase"] == "Failed", cluster.diagnose(name)
    assert proc.returncode == 1

    cluster.argo("retry", name, "-p", "fail=no", "--wait", timeout=120)
    wf = cluster.workflow(name)
    assert wf["status"]["phase"] == "Succeeded", cluster.diagnose(name)

    out = cluster.argo("resubmit", name, "-p", "fail=no", "--wait", "-o", "name", timeout=120).stdout
    new = out.strip().split("\n")[-1]
    assert new != name
    assert cluster.workflow(new)["status"]["phase"] == "Succeeded", cluster.diagnose(new)
    cluster.delete_workflow(name)
    cluster.delete_workflow(new)


def test_exports_work_in_a_shell(cluster: Cluster) -> None:
    """`eval "$(cluster.sh up)"` gives a shell whose kubectl and argo talk to
    the cluster, in the workflows' namespace."""
    proc = subprocess.run(
        ["bash", "-c", "kubectl config view --minify -o jsonpath='{..namespace}' && argo list"],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(cluster.namespace)
