"""mrargo's compiled specs on the real controller: every example, every kind of spec, the CLI, and faults.

Each run's output on S3 is compared, byte for byte, with `mrargo run` of
the same job on the same input.  Workflows run under the ``mrargo``
service account, which has only what `mrargo manifests` renders.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from typing import Any

import pytest

from .conftest import ROOT, Cluster

MRARGO = os.path.join(ROOT, ".venv", "bin", "mrargo")
DATA = os.path.join(ROOT, "examples", "data")
FAULTY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs", "faulty.py")
EXAMPLE_ARGS = {"wordcount": [], "indexer": [], "topwords": ["--param", "n=20"]}


# -- helpers ---------------------------------------------------------------------------------


class Run:
    """One job's data on the bucket: its input (examples/data), its output, its work root."""

    def __init__(self, cluster: Cluster, label: str) -> None:
        import s3fs

        self.cluster = cluster
        self.prefix = f"{cluster.bucket}/{label}-{uuid.uuid4().hex[:6]}"
        self.fs = s3fs.S3FileSystem(
            key=cluster.env["AWS_ACCESS_KEY_ID"],
            secret=cluster.env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=cluster.env["AWS_ENDPOINT_URL"],
            skip_instance_cache=True,
        )
        for f in sorted(os.listdir(DATA)):
            self.fs.put(os.path.join(DATA, f), f"{self.prefix}/in/{f}")
        self.input, self.output = f"s3://{self.prefix}/in/", f"s3://{self.prefix}/out"
        self.work_root = f"s3://{self.prefix}/work"

    def compile(self, job: str, *args: str, io: bool = True) -> str:
        """`mrargo compile` with the cluster's image and bucket credentials."""
        where = ["-i", self.input, "-o", self.output] if io else []
        argv = [MRARGO, "compile", job, *where, "--work-root", self.work_root, "--image", self.cluster.image,
                "--s3-endpoint", self.cluster.s3_endpoint, "--s3-secret", self.cluster.s3_secret, *args]  # fmt: skip
        return self.cluster.run(argv).stdout

    def outputs(self) -> dict[str, bytes]:
        self.fs.invalidate_cache()  # s3fs caches listings; pods changed the bucket since
        return {p.rsplit("/", 1)[1]: self.fs.cat_file(p) for p in sorted(self.fs.find(f"{self.prefix}/out/"))}

    def work_folders(self) -> list[str]:
        self.fs.invalidate_cache()
        return sorted(p.rsplit("/", 1)[1] for p in self.fs.ls(f"{self.prefix}/work", detail=False)) if self.fs.exists(f"{self.prefix}/work") else []

    def assert_output_is_local_run(self, job: str, *args: str, tmp: Any) -> None:
        """The S3 output equals `mrargo run` of the same job on the same input: parts byte for byte, the summary's counters."""
        local = tmp / f"local-{uuid.uuid4().hex[:6]}"
        self.cluster.run([MRARGO, "run", "-q", job, "-i", DATA, "-o", str(local), *args])
        expected = {p.name: p.read_bytes() for p in sorted(local.iterdir())}
        got = self.outputs()
        assert sorted(got) == sorted(expected)
        for name in expected:
            if name.startswith("part-"):
                assert got[name] == expected[name], f"{name} differs"
        assert _summary(got["_SUCCESS"]) == _summary(expected["_SUCCESS"])


def _summary(success: bytes) -> dict[str, Any]:
    """_SUCCESS without the local executor's own attempt counts (on Argo they are in the node tree)."""
    doc: dict[str, Any] = json.loads(success)
    for name in ("task attempts", "task retries"):
        doc["counters"]["mrargo"].pop(name, None)
    return doc


def _nodes(wf: dict[str, Any], template: str, kind: str = "Pod") -> list[dict[str, Any]]:
    return sorted((n for n in wf["status"]["nodes"].values() if n["type"] == kind and n.get("templateName") == template), key=lambda n: n["name"])


def _submit_failing(cluster: Cluster, spec: str, timeout: float = 300) -> dict[str, Any]:
    """`argo submit - --wait` of a run that must fail; its workflow."""
    proc = cluster.argo("submit", "-", "--wait", "-o", "name", input=spec, timeout=timeout, check=False)
    name = proc.stdout.strip().splitlines()[0]
    assert proc.returncode == 1, f"argo submit --wait exited {proc.returncode}\n{cluster.diagnose(name)}"
    wf = cluster.workflow(name)
    assert wf["status"]["phase"] == "Failed", cluster.diagnose(name)
    return wf


# -- every example, every kind of spec -------------------------------------------------------


@pytest.mark.parametrize("job", sorted(EXAMPLE_ARGS))
def test_compiled_examples_match_mrargo_run(cluster: Cluster, job: str, tmp_path: Any) -> None:
    """`mrargo compile … | argo submit - --wait`: Succeeded, the output byte-identical to `mrargo run`,
    progress complete, and the run's work folder removed by the exit handler."""
    run = Run(cluster, job)
    path = f"examples/{job}.py"
    wf = cluster.submit(run.compile(path, *EXAMPLE_ARGS[job]), timeout=600)
    run.assert_output_is_local_run(path, *EXAMPLE_ARGS[job], tmp=tmp_path)
    done, total = wf["status"]["progress"].split("/")
    pods = [n for n in wf["status"]["nodes"].values() if n["type"] == "Pod"]
    assert done == total == str(len(pods)), wf["status"]["progress"]
    assert run.work_folders() == []
    # `argo get` shows each task by its DAG name, fan-out items by index.
    shown = cluster.argo("get", wf["metadata"]["name"], "--no-color").stdout
    steps = ["1", "2"] if job == "topwords" else [""]
    for s in steps:
        for task in ("split", "map", "shuffle", "reduce"):
            name = f"{task}-{s}" if s else task
            assert re.search(rf"[✔\w] {re.escape(name)}(\(\d+(:\d+)?\))*\s", shown), (name, shown)
    assert re.search(r"[✔\w] commit(\(\d+\))*\s", shown) and ".onExit" in shown, shown
    cluster.delete_workflow(wf["metadata"]["name"])


def test_a_workflow_template_and_a_cron_workflow(cluster: Cluster, tmp_path: Any) -> None:
    """`kubectl apply` a WorkflowTemplate, then `argo submit --from workflowtemplate/NAME -p …`;
    the same for a CronWorkflow (`argo submit --from cronwf/NAME`), with input and output given at submit."""
    run = Run(cluster, "templates")
    suffix = uuid.uuid4().hex[:6]
    for kind, ref in (("template", "workflowtemplate"), ("cron", "cronwf")):
        name = f"wc-{kind}-{suffix}"
        extra = ["--schedule", "0 0 1 1 *", "--overwrite"] if kind == "cron" else []
        cluster.kubectl("apply", "-f", "-", input=run.compile("examples/wordcount.py", "--kind", kind, "--name", name, *extra, io=False))
        try:
            out = f"{run.output}-{kind}"
            proc = cluster.argo("submit", "--from", f"{ref}/{name}", "-p", f"input={run.input}", "-p", f"output={out}",
                                "--wait", "-o", "name", timeout=600)  # fmt: skip
            wf_name = proc.stdout.strip().splitlines()[0]
            assert cluster.workflow(wf_name)["status"]["phase"] == "Succeeded", cluster.diagnose(wf_name)
            got = {p.rsplit("/", 1)[1]: run.fs.cat_file(p) for p in run.fs.find(out.replace("s3://", ""))}
            local = tmp_path / kind
            cluster.run([MRARGO, "run", "-q", "examples/wordcount.py", "-i", DATA, "-o", str(local)])
            assert {k: v for k, v in got.items() if k.startswith("part-")} == {
                p.name: p.read_bytes() for p in local.iterdir() if p.name.startswith("part-")
            }
            cluster.delete_workflow(wf_name)
        finally:
            cluster.kubectl("delete", "workflowtemplate" if kind == "template" else "cronworkflow", name, check=False)


def test_compiled_without_output_runs_with_parameters_given_at_submit(cluster: Cluster, tmp_path: Any) -> None:
    """Argo refuses a parameter without a value at submit; `-p` gives it, and an empty job parameter is a value."""
    run = Run(cluster, "noio")
    spec = run.compile("examples/topwords.py", "--param", "n=", io=False)
    refused = cluster.argo("submit", "-", input=spec, check=False)
    assert refused.returncode != 0 and "spec.arguments.input.value" in refused.stderr + refused.stdout
    wf = cluster.submit(spec, "-p", f"input={run.input}", "-p", f"output={run.output}", "-p", "param-n=5", timeout=600)
    run.assert_output_is_local_run("examples/topwords.py", "--param", "n=5", tmp=tmp_path)
    cluster.delete_workflow(wf["metadata"]["name"])


def test_a_spec_naming_a_missing_template_is_refused_at_submit(cluster: Cluster) -> None:
    run = Run(cluster, "broken")
    spec = run.compile("examples/wordcount.py").replace("template: reduce", "template: no-such-template", 1)
    before = len(cluster.kube_json("workflows")["items"])
    proc = cluster.argo("submit", "-", input=spec, check=False)
    assert proc.returncode != 0 and "no-such-template" in proc.stderr + proc.stdout
    assert len(cluster.kube_json("workflows")["items"]) == before  # nothing was created


# -- mrargo's own cluster commands -------------------------------------------------------------


def test_mrargo_submit_watch_status_and_logs(cluster: Cluster, tmp_path: Any) -> None:
    """`mrargo submit --watch` follows a run to its counters; `status` and `logs` read a failed one."""
    run = Run(cluster, "cli")
    argv = ["-i", run.input, "-o", run.output, "--work-root", run.work_root, "--image", cluster.image,
            "--s3-endpoint", cluster.s3_endpoint, "--s3-secret", cluster.s3_secret]  # fmt: skip
    proc = cluster.run([MRARGO, "submit", "examples/wordcount.py", *argv, "--watch", "--poll", "1"], timeout=600)
    name = proc.stdout.strip()
    assert name.startswith("wordcount-") and f"workflow {name} Succeeded" in proc.stderr
    assert re.search(rf"wrote \d+ records to {re.escape(run.output)}", proc.stderr) and "reduce output records" in proc.stderr
    run.assert_output_is_local_run("examples/wordcount.py", tmp=tmp_path)
    status = cluster.run([MRARGO, "status", name]).stdout
    assert f"workflow {name} in namespace {cluster.namespace}: Succeeded" in status and "reduce output records" in status

    bad = Run(cluster, "cli-bug")
    bad.fs.pipe_file(f"{bad.prefix}/in/poison.txt", b"fine\npoison\n")
    argv = ["-i", bad.input, "-o", bad.output, *argv[4:]]
    failed = cluster.run([MRARGO, "submit", os.path.join(ROOT, "tests", "jobs", "buggy.py"), *argv, "--watch", "--poll", "1"],
                         timeout=600, check=False)  # fmt: skip
    name = failed.stdout.strip()
    assert failed.returncode == 1, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mrargo: error: workflow {name} Failed: task map-0 failed") and "mapper raised ValueError: cannot digest poison" in last
    assert last.endswith(f"see mrargo logs {name} --task map-0")
    status = cluster.run([MRARGO, "status", name]).stdout
    assert f"{name} in namespace {cluster.namespace}: Failed" in status and "cannot digest poison" in status
    logs = cluster.run([MRARGO, "logs", name, "--task", "map-0"]).stdout
    assert "Traceback" in logs and "ValueError: cannot digest poison" in logs
    cluster.delete_workflow(name)


# -- faults on the real controller --------------------------------------------------------------


def _faulty(run: Run, fault: str, task: str = "map", *extra: str) -> str:
    return run.compile(FAULTY, "--param", f"fault={fault}", "--param", f"task={task}",
                       "--param", f"marker=s3://{run.prefix}/marker", *extra)  # fmt: skip


def _faulty_expected(run: Run, tmp: Any) -> None:
    run.assert_output_is_local_run(FAULTY, "--param", "fault=none", "--param", "task=none", "--param", "marker=unused", tmp=tmp)


def test_a_task_that_exits_non_zero_once_is_retried(cluster: Cluster, tmp_path: Any) -> None:
    run = Run(cluster, "exit-once")
    wf = cluster.submit(_faulty(run, "exit"), timeout=600)
    attempts = [(n["displayName"], n["phase"], n.get("message", "")) for n in _nodes(wf, "map")]
    assert [(a, p) for a, p, _ in attempts] == [("map(0:0)(0)", "Failed"), ("map(0:0)(1)", "Succeeded")], attempts
    assert "exit code 1" in attempts[0][2]
    _faulty_expected(run, tmp_path)
    cluster.delete_workflow(wf["metadata"]["name"])


def test_a_map_pod_deleted_while_it_runs_is_retried(cluster: Cluster, tmp_path: Any) -> None:
    run = Run(cluster, "deleted")
    name = cluster.argo("submit", "-", "-o", "name", input=_faulty(run, "sleep")).stdout.strip()
    deadline = time.monotonic() + 180
    pod = None
    while time.monotonic() < deadline and pod is None:
        time.sleep(2)
        running = [p for p in cluster.pods_of(name) if "-map-" in p["metadata"]["name"] and p["status"].get("phase") == "Running"]
        pod = running[0]["metadata"]["name"] if running else None
    assert pod, cluster.diagnose(name)
    time.sleep(3)  # inside the first attempt's sleep
    cluster.kubectl("delete", "pod", pod, "--wait=false")
    proc = cluster.argo("wait", name, timeout=600, check=False)
    wf = cluster.workflow(name)
    assert wf["status"]["phase"] == "Succeeded", f"{proc.stdout}\n{cluster.diagnose(name)}"
    # Argo v4 replaces a deleted pod (as a new attempt, or a new pod for the same node);
    # either way the deleted map ran again: one start more than there are map items.
    run.fs.invalidate_cache()
    starts = run.fs.glob(f"{run.prefix}/marker.start-*")
    items = {n["displayName"].rsplit("(", 1)[0] for n in _nodes(wf, "map")}
    assert len(starts) > len(items) >= 1, (starts, items)
    _faulty_expected(run, tmp_path)
    cluster.delete_workflow(name)


def test_an_oom_killed_task_is_retried(cluster: Cluster, tmp_path: Any) -> None:
    run = Run(cluster, "oom")
    wf = cluster.submit(_faulty(run, "oom", "map", "--memory", "map=256Mi"), timeout=600)
    attempts = _nodes(wf, "map")
    assert [n["phase"] for n in attempts] == ["Failed", "Succeeded"], attempts
    assert "OOMKilled" in attempts[0].get("message", "") or "exit code 137" in attempts[0].get("message", ""), attempts[0]
    _faulty_expected(run, tmp_path)
    cluster.delete_workflow(wf["metadata"]["name"])


def test_a_job_bug_is_not_retried_and_argo_retry_finishes_the_run(cluster: Cluster, tmp_path: Any) -> None:
    """Exit 3 stops the retries at once and fails the run with the worker's one line; the run's work folder
    is kept (cleanup runs only after a success), so `argo retry` re-runs just the failed reducer and the
    output is exact; `argo resubmit` runs it again from scratch."""
    run = Run(cluster, "bug")
    wf = _submit_failing(cluster, _faulty(run, "bug", "reduce"))
    name = wf["metadata"]["name"]
    failed = [n for n in _nodes(wf, "reduce") if n["phase"] == "Failed"]
    assert len(failed) >= 1 and all(n["displayName"].endswith("(0)") for n in failed)  # one attempt each: not retried
    assert "exit code 3" in failed[0]["message"] and "a bug that fails the same way every time" in failed[0]["message"]
    retry_node = next(n for n in _nodes(wf, "reduce", "Retry") if n["phase"] == "Failed")
    assert retry_node.get("message") == "retryStrategy.expression evaluated to false"
    shown = cluster.argo("get", name, "--no-color").stdout
    assert "a bug that fails the same way every time" in shown
    assert run.work_folders() == [name]  # kept for the retry
    # The failed pod is kept (podGC OnPodSuccess): only the split carries the job bundle.
    pod = next(p for p in cluster.pods_of(name) if "-reduce-" in p["metadata"]["name"])
    # Argo copies the whole template, env and all, into ARGO_TEMPLATE of its init container.
    containers = pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
    assert any(e["name"] == "ARGO_TEMPLATE" for c in containers for e in c.get("env", [])), containers
    assert "MRARGO_BUNDLE" not in json.dumps(pod["spec"])

    cluster.argo("retry", name, "--wait", timeout=600)
    wf = cluster.workflow(name)
    assert wf["status"]["phase"] == "Succeeded", cluster.diagnose(name)
    _faulty_expected(run, tmp_path)
    assert run.work_folders() == []  # the exit handler ran again, after the success

    resubmitted = cluster.argo("resubmit", name, "--wait", "-o", "name", timeout=600, check=False)
    out = resubmitted.stdout.strip().splitlines()[-1]
    assert resubmitted.returncode == 1  # a new run, from scratch: its split finds the output there and overwrites nothing
    assert out != name and cluster.workflow(out)["status"]["phase"] == "Failed"
    assert "already exists" in json.dumps(cluster.workflow(out)["status"]["nodes"])
    cluster.delete_workflow(name)
    cluster.delete_workflow(out)


def test_the_workflow_deadline_ends_a_run_whose_pods_never_start(cluster: Cluster) -> None:
    """An image that is not there keeps a pod Pending for ever; the workflow's activeDeadlineSeconds ends the run."""
    run = Run(cluster, "deadline")
    spec = run.compile("examples/wordcount.py", "--deadline", "20", "--retries", "0").replace(cluster.image, "localhost/no-such-image:1")
    spec = spec.replace("imagePullPolicy: IfNotPresent", "imagePullPolicy: Never")
    started = time.monotonic()
    wf = _submit_failing(cluster, spec, timeout=300)
    assert time.monotonic() - started < 240
    split = _nodes(wf, "split")
    assert split and split[0]["phase"] in ("Failed", "Error"), split
    cluster.delete_workflow(wf["metadata"]["name"])



def test_the_node_status_model_matches_the_controller(cluster: Cluster) -> None:
    """tests/argo_status.py grows a run's nodes by renaming one item's; on a real run of 24 maps
    and 6 reducers, that gives the stored size of the controller's own nodes within 15%."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import argo_status

    run = Run(cluster, "scale")
    line = b"the quick brown fox jumps over the lazy dog and runs far away\n"
    for i in range(24):
        run.fs.pipe_file(f"{run.prefix}/in/many-{i:02d}.txt", line * (900_000 // len(line)))  # under 1 MB: one split each
    wf = cluster.submit(run.compile("examples/wordcount.py", "--split-mb", "1", "--reducers", "6"), timeout=900)
    name = wf["metadata"]["name"]
    real = json.loads(cluster.kubectl("get", "workflow", name, "-o", "json").stdout)
    maps = len([n for n in real["status"]["nodes"].values() if n.get("templateName") == "map" and n["type"] == "Retry"])
    assert maps == 24
    got = len(argo_status.compressed_nodes(real["status"]["nodes"]))
    model = argo_status.grown(argo_status.grown(real, "map", maps), "reduce", 6)
    predicted = len(argo_status.compressed_nodes(model["status"]["nodes"]))
    assert abs(predicted - got) / got < 0.15, (predicted, got)
    cluster.delete_workflow(name)
