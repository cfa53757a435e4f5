"""`mrargo submit/status/logs` through the real kubernetes client, against a FAKE API server.

The API server here is tests/fakekube.py: a loopback HTTP server that speaks
the Kubernetes REST API for exactly the calls mrargo makes (create and get
Workflows, get WorkflowTemplates, read pod logs), with bearer-token auth
and Kubernetes-style error objects.  It is a fake because no cluster exists
on the test machines and a real kube-apiserver + etcd + Argo's CRDs cannot
be built and started within CI's time.  What these tests prove: the body
mrargo posts (the compiled spec, parameters applied), the URLs, namespaces
and credentials the client uses, how a scripted status progression is shown
(N/M bars, counters, failures), and which pods' logs are read.  What they
cannot prove: that Argo's controller runs the Workflow; the compiled specs
are checked against Argo's own validator in test_argo.py for that.
"""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakekube import ArgoNodes, FakeKube

from conftest import compile_args

from mrargo.argo import contract
from mrargo.cli import main
from mrargo.cluster import nodes as kube_nodes
from mrargo.cluster import watch as kube_watch
from mrargo.cluster.client import ApiUnreachable

ROOT = Path(__file__).resolve().parent.parent
JOB = str(ROOT / "examples" / "wordcount.py")
COUNTERS = {"mrargo": {"map input records": 100, "reduce output records": 42}, "words": {"long": 7}}


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKube]:
    server = FakeKube()
    server.start()
    server.kubeconfig(tmp_path / "kubeconfig")
    yield server
    server.stop()


def mrargo(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """A command as `mrargo` runs it (mrargo.cli.main): one line on errors, with the cause's exit code."""
    if argv[0] == "submit" and "--image" not in argv and not any(a.endswith((".yaml", ".yml")) for a in argv) and "--from-template" not in argv:
        argv = (*argv, "--image", "mrargo/worker:test")
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def kc(tmp_path: Path) -> list[str]:
    return ["--kubeconfig", str(tmp_path / "kubeconfig")]


def compiled(*flags: str) -> dict[str, Any]:
    """What `mrargo compile JOB FLAGS` prints, as the API would receive it."""
    doc = yaml.safe_load(compile_args(["compile", JOB, *flags]))
    assert isinstance(doc, dict)
    return doc


def params_of(body: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p.get("value") for p in body["spec"]["arguments"]["parameters"]}


# -- submit: what is posted ------------------------------------------------------------


def test_submit_posts_the_compiled_spec_with_parameters_applied(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    flags = ["-i", "s3://b/in", "-o", "s3://b/out", "--reducers", "3", "--service-account", "mrargo"]
    code, out, err = mrargo(capsys, "submit", JOB, *flags, "-p", "output=s3://b/elsewhere", *kc(tmp_path))
    assert code == 0, err
    [post] = fake.posted()
    assert post.path == "/apis/argoproj.io/v1alpha1/namespaces/jobs/workflows"  # the context's namespace
    assert post.headers["authorization"] == "Bearer fake-token-for-tests"
    expected = compiled(*flags)
    expected["metadata"]["namespace"] = "jobs"
    next(p for p in expected["spec"]["arguments"]["parameters"] if p["name"] == "output")["value"] = "s3://b/elsewhere"
    assert post.body == expected
    assert post.body["metadata"]["generateName"] == "wordcount-" and "name" not in post.body["metadata"]
    name = out.strip()
    assert name.startswith("wordcount-") and len(name) == len("wordcount-") + 5
    assert ("jobs", name) in fake.workflows
    assert f"submitted workflow {name} in namespace jobs" in err


def test_namespace_comes_from_the_flag_then_the_spec_then_the_context(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    base = ["submit", JOB, "-i", "s3://b/in", "-o", "s3://b/out", *kc(tmp_path)]
    assert mrargo(capsys, *base, "--namespace", "team-a")[0] == 0
    assert mrargo(capsys, *base, "--context", "other")[0] == 0
    paths = [r.path.split("/")[5] for r in fake.posted()]
    assert paths == ["team-a", "other-ns"]
    assert fake.posted()[0].body["metadata"]["namespace"] == "team-a"


def test_input_and_output_may_be_given_only_as_parameters(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    code, _, err = mrargo(capsys, "submit", JOB, "-p", "input=s3://b/a\ns3://b/b", "-p", "output=s3://b/o", *kc(tmp_path))
    assert code == 0, err
    assert params_of(fake.posted()[0].body) | {"mrargo-bundle": None} == {
        "input": "s3://b/a\ns3://b/b", "output": "s3://b/o", "work-root": "s3://b/_mrargo-work", "mrargo-bundle": None,
    }  # fmt: skip


def test_submit_a_compiled_spec_file(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    spec = ROOT / "workflows" / "wordcount.workflow.yaml"
    code, _, err = mrargo(capsys, "submit", str(spec), "-p", "input=s3://mine/in", *kc(tmp_path))
    assert code == 0, err
    expected = yaml.safe_load(spec.read_text())
    expected["metadata"]["namespace"] = "jobs"
    next(p for p in expected["spec"]["arguments"]["parameters"] if p["name"] == "input")["value"] = "s3://mine/in"
    assert fake.posted()[0].body == expected
    code, _, err = mrargo(capsys, "submit", str(spec), "-p", "inptu=s3://x", *kc(tmp_path))
    assert code == 2 and "has no parameter 'inptu'; it declares input, output, work-root" in err
    code, _, err = mrargo(capsys, "submit", str(ROOT / "workflows" / "wordcount.template.yaml"), *kc(tmp_path))
    assert code == 1 and "is a WorkflowTemplate: kubectl apply -f" in err and "--from-template wordcount" in err
    assert len(fake.posted()) == 1


def test_submit_from_a_workflow_template(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    template = yaml.safe_load((ROOT / "workflows" / "wordcount.template.yaml").read_text())
    fake.templates[("jobs", "wordcount")] = template
    code, out, err = mrargo(
        capsys, "submit", "--from-template", "wordcount", "-p", "input=s3://b/in", "-p", "output=s3://b/out", *kc(tmp_path)
    )
    assert code == 0, err
    assert fake.posted()[0].body == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "wordcount-", "namespace": "jobs"},
        "spec": {
            "arguments": {"parameters": [{"name": "input", "value": "s3://b/in"}, {"name": "output", "value": "s3://b/out"}]},
            "serviceAccountName": "mrargo",
            "workflowTemplateRef": {"name": "wordcount"},
        },
    }
    code, _, err = mrargo(capsys, "submit", "--from-template", "wordcount", "-p", "colour=red", *kc(tmp_path))
    assert code == 2 and "WorkflowTemplate wordcount has no parameter 'colour'" in err
    code, _, err = mrargo(capsys, "submit", "--from-template", "nope", *kc(tmp_path))
    assert code == 1 and "no WorkflowTemplate 'nope' in namespace jobs; create it first" in err
    assert len(fake.posted()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--kind", "template", "-i", "s3://b/i", "-o", "s3://b/o"], "runs Workflows, not --kind template"),
        (["--from-template", "x"], "not both"),
        (["-p", "output={{workflow.name}}", "-i", "s3://b/i"], "contains '{{'"),
        (["-i", "s3://b/i", "-o", "s3://b/o", "-p", "work-rooot=s3://x"], "has no parameter 'work-rooot'"),
        (["-p", "a=1", "-p", "a=2"], "given twice"),
    ],
)
def test_submit_refuses_with_one_line_before_posting(fake: FakeKube, tmp_path: Path, capsys: Any, argv: list[str], message: str) -> None:
    code, _, err = mrargo(capsys, "submit", JOB, *argv, *kc(tmp_path))
    assert code == 2 and message in err and err.count("\n") == 1
    assert fake.posted() == []
    code, _, err = mrargo(capsys, "submit", *kc(tmp_path))
    assert code == 2 and "nothing to submit" in err


# -- submit --watch ------------------------------------------------------------------------


def running_then_succeeded(name: str) -> list[dict[str, Any]]:
    n = ArgoNodes(name)
    n.task("split", "split", [("Succeeded", "")], outputs={"count": "4"})
    n.task("map", "map", [("Succeeded", "")], index=0)
    n.task("map", "map", [("Running", "")], index=1)
    first = n.status("Running")
    n.task("map", "map", [("Error", "pod deleted"), ("Succeeded", "")], index=1)  # retried
    n.task("map", "map", [("Succeeded", "")], index=2)
    n.task("map", "map", [("Succeeded", "")], index=3)
    n.task("shuffle", "shuffle", [("Succeeded", "")], outputs={"count": "2"})
    n.task("reduce", "reduce", [("Succeeded", "")], index=0)
    second = n.status("Running")
    n.task("reduce", "reduce", [("Succeeded", "")], index=1)
    n.task("commit", "commit", [("Succeeded", "")], outputs={"counters": json.dumps(COUNTERS), "records": "42"})
    n.task("cleanup", "cleanup", [("Succeeded", "")])
    return [first, second, n.status("Succeeded")]


def test_watch_shows_fan_out_progress_then_counters_and_output(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    fake.on_create = running_then_succeeded
    code, out, err = mrargo(capsys, "submit", JOB, "-i", "s3://b/in", "-o", "s3://b/out", "--watch", "--poll", "0.01", *kc(tmp_path))
    assert code == 0, err
    name = out.strip()
    lines = err.splitlines()
    assert lines[0] == f"workflow {name}: Running"
    assert "split        [############################] 1/1" in lines
    assert "map          [#######.....................] 1/4 (1 running)" in lines
    assert "map          [############################] 4/4" in lines
    assert "reduce       [##############..............] 1/2" in lines
    assert "reduce       [############################] 2/2" in lines
    assert f"workflow {name} Succeeded in 3m05s" in lines
    assert "wrote 42 records to s3://b/out" in lines
    assert lines[-5:] == ["  mrargo:", "    map input records: 100", "    reduce output records: 42", "  words:", "    long: 7"]
    assert len([r for r in fake.requests if r.method == "GET"]) == 3  # one GET per scripted state


def failing(name: str) -> list[dict[str, Any]]:
    n = ArgoNodes(name)
    n.task("split", "split", [("Succeeded", "")], outputs={"count": "4"})
    for i in range(3):
        n.task("map", "map", [("Succeeded", "")], index=i)
    tail = (
        "Traceback (most recent call last):\n  ...\nmrargo: error: map 4/4 of step 1: ValueError: bad record in s3://b/in/x.txt at byte 10"
    )
    n.task("map", "map", [("Failed", "Error (exit code 3): " + tail)], index=3)
    return [n.status("Running"), n.status("Failed", message="child 'map(3:3)' failed")]


def test_watch_of_a_failed_run_exits_non_zero_with_the_node_message(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    fake.on_create = failing
    code, out, err = mrargo(capsys, "submit", JOB, "-i", "s3://b/in", "-o", "s3://b/out", "--watch", "--poll", "0.01", *kc(tmp_path))
    name = out.strip()
    assert code == 1
    assert "map          [#####################.......] 3/4 (1 failed)" in err
    last = err.splitlines()[-1]
    assert last.startswith(f"mrargo: error: workflow {name} Failed: task map-3 failed: Error (exit code 3): Traceback")
    assert "ValueError: bad record in s3://b/in/x.txt at byte 10" in last
    assert last.endswith(f"; see mrargo logs {name} --task map-3")


def test_watch_rides_out_a_few_unreachable_polls() -> None:
    done = {"metadata": {"name": "wf"}, "status": {"phase": "Succeeded", "nodes": {}}}
    answers: list[Any] = [ApiUnreachable("down"), ApiUnreachable("down"), done]

    def get() -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    stream = io.StringIO()
    assert kube_watch.follow(get, stream, 0.0, sleep=lambda _: None) == done
    with pytest.raises(ApiUnreachable):
        kube_watch.follow(lambda: (_ for _ in ()).throw(ApiUnreachable("down")), stream, 0.0, sleep=lambda _: None)


def test_on_a_terminal_the_bars_are_redrawn_in_place() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    board = kube_watch.Board(tty)
    board.show([("map", "map 1/4"), ("reduce", "reduce 0/2")])
    board.show([("map", "map 2/4"), ("reduce", "reduce 0/2")])
    assert tty.getvalue() == "\033[Kmap 1/4\n\033[Kreduce 0/2\n\033[2F\033[Kmap 2/4\n\033[Kreduce 0/2\n"


# -- status and logs --------------------------------------------------------------------------------


def stored(fake: FakeKube, statuses: list[dict[str, Any]], name: str = "wordcount-k2x9p") -> str:
    fake.workflows[("jobs", name)] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "jobs", "annotations": {"workflows.argoproj.io/pod-name-format": "v2"}},
        "spec": {"arguments": {"parameters": [{"name": "output", "value": "s3://b/out"}]}},
        "status": statuses[-1],
    }
    return name


def test_status_prints_the_phase_and_a_line_per_task(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    name = stored(fake, running_then_succeeded("wordcount-k2x9p")[:1])
    code, out, _ = mrargo(capsys, "status", name, *kc(tmp_path))
    assert code == 0
    assert out.splitlines() == [
        f"workflow {name} in namespace jobs: Running (started 2026-01-01T00:00:00Z)",
        "  split        [############################] 1/1",
        "  map          [#######.....................] 1/4 (1 running)",
    ]
    stored(fake, failing("wordcount-f4il5"), name="wordcount-f4il5")
    code, out, _ = mrargo(capsys, "status", "wordcount-f4il5", *kc(tmp_path))
    assert code == 0 and "task map-3 failed: Error (exit code 3)" in out.splitlines()[-1]
    code, _, err = mrargo(capsys, "status", "missing", *kc(tmp_path), "-n", "jobs")
    assert code == 1 and err == "mrargo: error: no workflow 'missing' in namespace jobs; list them with: kubectl get workflows -n jobs\n"


def test_logs_of_one_task_are_read_from_its_pods(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    n = ArgoNodes("wordcount-l0g5x")
    n.task("split", "split", [("Succeeded", "")], outputs={"count": "4"})
    pods = {i: n.task("map", "map", [("Succeeded", "")], index=i) for i in range(3)}
    pods[3] = n.task("map", "map", [("Error", "OOMKilled"), ("Succeeded", "")], index=3)
    name = stored(fake, [n.status("Running")], name="wordcount-l0g5x")
    for i, names in pods.items():
        for attempt, pod in enumerate(names):
            fake.logs[("jobs", pod, "main")] = f"log of map {i} attempt {attempt}\n"
    code, out, err = mrargo(capsys, "logs", name, "--task", "map-3", *kc(tmp_path))
    assert code == 0, err
    assert out.splitlines() == [
        f"==> map-3 attempt 1/2, pod {pods[3][0]} (Error) <==",
        "log of map 3 attempt 0",
        f"==> map-3 attempt 2/2, pod {pods[3][1]} (Succeeded) <==",
        "log of map 3 attempt 1",
    ]
    reads = [r for r in fake.requests if r.path.endswith("/log")]
    assert [r.path for r in reads] == [f"/api/v1/namespaces/jobs/pods/{p}/log" for p in pods[3]]
    assert all(r.query == {"container": ["main"]} for r in reads)
    # Argo's v2 names: <workflow>-<template>-<fnv32a(node name)>
    assert pods[3][0] == f"{name}-map-{contract.fnv32a(name + '.map(3:3)(0)')}"

    code, out, _ = mrargo(capsys, "logs", name, "--task", "map", *kc(tmp_path))
    assert code == 0 and out.count("==> map-") == 5
    code, _, err = mrargo(capsys, "logs", name, "--task", "reduce-1", *kc(tmp_path))
    assert code == 1 and "has no task 'reduce-1'; it has map, split" in err
    fake.logs.clear()  # podGC deleted them
    code, _, err = mrargo(capsys, "logs", name, "--task", "split", *kc(tmp_path))
    assert code == 1 and "the pod is gone" in err and err.splitlines()[-1].startswith("mrargo: error: no pod logs to show")


def test_pod_names_follow_argo() -> None:
    # Test vectors from Argo's UI (ui/src/shared/pod-name.test.ts).
    assert contract.fnv32a("hello") == 1335831723
    assert contract.fnv32a("You cannot alter your fate. However, you can rise to meet it.") == 827171719
    node = {"id": "wf-123", "name": "wf.map(0:0)(0)", "templateName": "map"}
    wf: dict[str, Any] = {"metadata": {"name": "wf"}}
    assert kube_nodes.pod_name(wf, node) == f"wf-map-{contract.fnv32a('wf.map(0:0)(0)')}"
    wf["metadata"]["annotations"] = {"workflows.argoproj.io/pod-name-format": "v1"}
    assert kube_nodes.pod_name(wf, node) == "wf-123"
    long = {"metadata": {"name": "w" * 200}}
    assert len(kube_nodes.pod_name(long, {"id": "x", "name": "n", "templateName": "t" * 100}).rsplit("-", 1)[0]) == 242


def test_tasks_of_multi_step_jobs_are_selected_by_step() -> None:
    n = ArgoNodes("topwords-abcde")
    for step in (1, 2):
        n.task(f"split-{step}", "split", [("Succeeded", "")], outputs={"count": "2"})
        for i in range(2):
            n.task(f"map-{step}", "map", [("Succeeded", "")], index=i)
    wf = {"metadata": {"name": "topwords-abcde"}, "status": n.status("Running")}
    runs = kube_nodes.task_runs(wf)
    assert [r.label for r in kube_nodes.select_runs(runs, "map-2")] == ["map-2-0", "map-2-1"]
    assert [r.label for r in kube_nodes.select_runs(runs, "map-1-1")] == ["map-1-1"]
    assert [line for _, line in kube_nodes.progress_lines(wf)][-1] == "map-2        [############################] 2/2"


# -- connection errors ---------------------------------------------------------------------------------


def test_unreachable_api_server_is_one_line(tmp_path: Path, capsys: Any) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = FakeKube()
    closed.port = port
    closed.kubeconfig(tmp_path / "kubeconfig")
    code, _, err = mrargo(capsys, "status", "wf", *kc(tmp_path))
    assert code == 1
    assert err.startswith(f"mrargo: error: cannot reach the Kubernetes API at http://127.0.0.1:{port}: ")
    assert err.endswith("; check --kubeconfig/--context\n") and err.count("\n") == 1


def test_missing_kubeconfig_and_bad_credentials_are_one_line(fake: FakeKube, tmp_path: Path, capsys: Any) -> None:
    code, _, err = mrargo(capsys, "status", "wf", "--kubeconfig", str(tmp_path / "none"))
    assert code == 1 and err.startswith("mrargo: error: no usable Kubernetes configuration in") and err.count("\n") == 1
    code, _, err = mrargo(capsys, "status", "wf", *kc(tmp_path), "--context", "nope")
    assert code == 1 and "no usable Kubernetes configuration" in err and "nope" in err and err.count("\n") == 1
    fake.kubeconfig(tmp_path / "bad", token="wrong")
    code, _, err = mrargo(capsys, "status", "wf", "--kubeconfig", str(tmp_path / "bad"))
    assert code == 1 and "refused the credentials (401)" in err and err.count("\n") == 1


def test_building_the_parsers_imports_no_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "from mrargo.cli import build_parser\n"
        "build_parser('run'); build_parser('status')\n"
        "print(sorted(m for m in ('kubernetes', 'jinja2', 'hera') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"
