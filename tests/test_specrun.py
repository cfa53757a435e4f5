"""`mrargo run SPEC.yaml`: a compiled spec runs on this machine as Argo would run it.

Parity: a spec's part files are byte-identical to `mrargo run job.py`, for
fresh compiles, the committed workflows/ specs and on the S3 test server.
Faults: retries as retryStrategy says, a user bug (exit 3) never retried,
deadlines, and the failed node shown as `argo get` shows it.  Refusals:
what mrargo compile never emits fails with the field's name.
"""

from __future__ import annotations

import copy
import glob
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest
import yaml
from conftest import JOBS, ROOT, compile_args, mrargo, output_bytes, read_output
from s3server import SECRET_KEY, make_bucket, s3_env  # noqa: F401  (fixture)
from test_faults import INTERRUPTED_LINE, interrupt

from mrargo.argo.contract import TERMINATION_ENV, pod_name
from mrargo.cli import main as cli_main
from mrargo.errors import MrargoError, one_line
from mrargo.specrun import RunSpecOptions, SpecError, SpecOptions
from mrargo.specrun import run_spec as run_spec_with
from mrargo.specrun.dag import retry_decision
from mrargo.specrun.expr import parse_retry_expression, substitute
from mrargo.specrun.items import param_items, sequence_items
from mrargo.specrun.pod import DEADLINE_MESSAGE, Pod, Supervisor, prepare_pod, run_pod
from mrargo.specrun.spec import Backoff, RetryStrategy, Sequence, load_spec
from mrargo.specrun.tree import Node, NodeTree

REPO, JOB_DIR = Path(ROOT), Path(JOBS)
EXAMPLES = {"wordcount": [], "indexer": [], "topwords": ["--param", "n=20"]}
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]


# -- helpers -------------------------------------------------------------------------------


def compile_text(job: str, *extra: str) -> str:
    """A fresh compile; pods cannot read local paths, so the defaults are placeholders and -p points at test data."""
    return compile_args(["compile", job, "-i", "s3://placeholder/in/", "-o", "s3://placeholder/out/", *extra])


def compile_doc(job: str, *extra: str) -> dict[str, Any]:
    doc = yaml.safe_load(compile_text(job, *extra))
    assert isinstance(doc, dict)
    return doc


def template(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["spec"]["templates"] if t["name"] == name)


def options(tmp_path: Path) -> SpecOptions:
    return SpecOptions(workers=2, backoff=False, progress=False, pods_dir=str(tmp_path / "pods"))


def run_spec(doc: dict[str, Any], params: dict[str, str], opts: SpecOptions, store: str = "") -> NodeTree:
    return run_spec_with(doc, params, RunSpecOptions(scheduler=opts, store=store))


def emulate_cli(spec: str, *args: str, tmp: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`mrargo run SPEC.yaml ...`, with its temporary folders (store, pods) under ``tmp``."""
    (tmp / "tmp").mkdir(exist_ok=True)
    full = dict(os.environ, TMPDIR=str(tmp / "tmp"), **(env or {}))
    cmd = [sys.executable, "-m", "mrargo", "run", spec, *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full, cwd=ROOT, timeout=300)


def summary(out: Path | bytes) -> dict[str, Any]:
    doc = json.loads(out if isinstance(out, bytes) else (out / "_SUCCESS").read_bytes())
    for name in ("task attempts", "task retries"):  # the local executor's own counts
        doc["counters"]["mrargo"].pop(name, None)
    return doc


def assert_same_output(got: Path, want: Path) -> None:
    parts = output_bytes(str(want))
    assert parts and output_bytes(str(got)) == parts
    assert summary(got) == summary(want)


def pods_of(tree: NodeTree, template_name: str) -> list[Node]:
    return [n for n in tree.pods() if n.template == template_name]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small files, one gzipped, so that maps, reduces and decompression all take part."""
    d = tmp_path_factory.mktemp("emu-data")
    for f in range(3):
        lines = [" ".join(WORDS[(f * 5 + i * j) % len(WORDS)] for j in range(7)) for i in range(400)]
        text = ("\n".join(lines) + "\n").encode()
        if f == 2:
            (d / "part2.txt.gz").write_bytes(gzip.compress(text, mtime=0))
        else:
            (d / f"part{f}.txt").write_bytes(text)
    return d


@pytest.fixture(scope="module")
def expected(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What `mrargo run examples/X.py` writes for the same data and defaults as the specs."""
    out = {}
    for name, extra in EXAMPLES.items():
        dest = tmp_path_factory.mktemp("expected") / name
        mrargo("run", f"examples/{name}.py", "-i", str(data), "-o", str(dest), "-q", "--workers", "2", *extra)
        out[name] = dest
    return out


# -- parity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_fresh_compile_runs_like_mrargo_run(name: str, data: Path, expected: dict[str, Path], tmp_path: Path) -> None:
    doc = compile_doc(f"examples/{name}.py", *EXAMPLES[name])
    params = {"input": str(data), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "work")}
    tree = run_spec(doc, params, options(tmp_path))
    assert tree.phase == "Succeeded", tree.render()
    assert_same_output(tmp_path / "out", expected[name])
    # withSequence fanned out as many maps as each split counted, as many reduces as each shuffle did.
    for counter, fan in (("split", "map"), ("shuffle", "reduce")):
        for node in (n for n in tree.nodes if n.type == "Retry" and n.template == counter):
            group = f"{tree.workflow}.{node.display.replace(counter, fan)}"
            assert len(tree.node(group).children) == int(dict(node.outputs)["count"]) > 0
    assert len(pods_of(tree, "cleanup")) == 1 and tree.node(tree.on_exit).phase == "Succeeded"
    assert os.listdir(tmp_path / "work") == []  # the exit handler removed the run's folder
    assert os.listdir(tmp_path / "pods") == []  # a run that succeeded keeps no pod folders


def test_the_split_pod_chooses_the_reducers_and_the_reduce_fan_out_follows(data: Path, tmp_path: Path) -> None:
    """Word count sets no REDUCERS: each run chooses them from its input, bounded by --max-tasks, as `mrargo run` does."""
    doc = compile_doc("examples/wordcount.py", "--max-tasks", "3")  # 4 fixed reducers would be refused here
    assert "(reducers from the input size)" in doc["metadata"]["annotations"]["workflows.argoproj.io/description"]
    tree = run_spec(doc, {"input": str(data), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "work")}, options(tmp_path))
    assert tree.phase == "Succeeded", tree.render()
    shuffle = next(n for n in tree.nodes if n.type == "Retry" and n.template == "shuffle")
    assert dict(shuffle.outputs)["count"] == "3" and len(pods_of(tree, "reduce")) == 3
    mrargo("run", "examples/wordcount.py", "-i", str(data), "-o", str(tmp_path / "local"), "-q", "--max-tasks", "3", "--workers", "1")
    assert list(output_bytes(str(tmp_path / "local"))) == ["part-00000", "part-00001", "part-00002"]
    assert_same_output(tmp_path / "out", tmp_path / "local")


@pytest.mark.parametrize("kind", ["workflow", "template"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_committed_spec_runs_like_mrargo_run(name: str, kind: str, data: Path, expected: dict[str, Path], tmp_path: Path) -> None:
    spec = REPO / "workflows" / f"{name}.{kind}.yaml"
    out = tmp_path / "out"
    proc = emulate_cli(str(spec), "-p", f"input={data}", "-p", f"output={out}", "--workers", "2", "--no-backoff", tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_output(out, expected[name])
    assert f"Name:                {name}-" in proc.stderr and "Status:              Succeeded" in proc.stderr
    # The committed work-root (s3://mrargo-examples/...) mapped to a temporary store, emptied and removed.
    store = next(line.split()[-1] for line in proc.stderr.splitlines() if line.strip().startswith("work-root:"))
    assert store.startswith(str(tmp_path / "tmp")) and not os.path.exists(store)
    assert os.listdir(tmp_path / "tmp") == []


def test_mrargo_run_takes_a_compiled_spec(data: Path, expected: dict[str, Path], tmp_path: Path) -> None:
    """The CLI: `mrargo run SPEC.yaml` with -p, and -o as a shorthand for -p output=."""
    spec = REPO / "workflows" / "wordcount.workflow.yaml"
    out = tmp_path / "out"
    proc = mrargo("run", str(spec), "-p", f"input={data}", "-o", str(out), "--workers", "2", "--no-backoff", check=False)
    assert proc.returncode == 0, proc.stderr
    assert_same_output(out, expected["wordcount"])
    refused = mrargo("run", str(spec), "-p", f"input={data}", "-o", str(tmp_path / "o2"), "--reducers", "3", check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "mrargo: error: --reducers does not apply to a compiled spec, which fixed it at compile time; pass --reducers to mrargo compile"
    )


def test_spec_on_the_s3_test_server(s3_env: dict[str, str], data: Path, expected: dict[str, Path], tmp_path: Path) -> None:  # noqa: F811
    """Input, output and the store on S3; credentials through the spec's secretKeyRef env, never printed."""
    bucket = f"mrargo-emu-{uuid.uuid4().hex[:8]}"
    make_bucket(bucket)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    for p in sorted(data.iterdir()):
        fs.put_file(str(p), f"{bucket}/in/{p.name}")
    spec = tmp_path / "wordcount.yaml"
    spec.write_text(compile_text("examples/wordcount.py", "--s3-secret", "minio-cred"))
    args = ["-i", f"s3://{bucket}/in/", "-o", f"s3://{bucket}/out", "--store", f"s3://{bucket}/store", "--no-backoff"]
    proc = emulate_cli(str(spec), *args, tmp=tmp_path, env=s3_env)
    assert proc.returncode == 0, proc.stderr
    got = {p.rsplit("/", 1)[1]: fs.cat_file(p) for p in fs.ls(f"{bucket}/out", detail=False) if "/part-" in p}
    assert got == output_bytes(str(expected["wordcount"]))
    assert summary(fs.cat_file(f"{bucket}/out/_SUCCESS")) == summary(expected["wordcount"])
    assert fs.find(f"{bucket}/store") == []  # the exit handler removed the run's work folder
    assert SECRET_KEY not in proc.stderr + proc.stdout
    # Without the variable a secretKeyRef stands for, the run is refused before any pod starts.
    env = {k: v for k, v in os.environ.items() if k != "AWS_SECRET_ACCESS_KEY"}
    cmd = [sys.executable, "-m", "mrargo", "run", str(spec), *args]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert refused.returncode == 3  # as every time until the variable is exported
    assert refused.stderr.strip() == (
        "mrargo: error: template 'split' env AWS_SECRET_ACCESS_KEY comes from Secret 'minio-cred' key 'secretkey', "
        "which mrargo run cannot read; export AWS_SECRET_ACCESS_KEY in this shell to stand in for it"
    )


# -- faults -----------------------------------------------------------------------------------


def crashy_run(tmp_path: Path, retries: int) -> tuple[NodeTree, Path]:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a crashme b\nc d a\n")
    (tmp_path / "markers").mkdir()
    doc = compile_doc(str(JOB_DIR / "emu_crashy.py"), "--param", "markers=unset", "--retries", str(retries))
    out = tmp_path / "out"
    params = {
        "input": str(tmp_path / "in"),
        "output": str(out),
        "work-root": str(tmp_path / "work"),
        "param-markers": str(tmp_path / "markers"),
    }
    return run_spec(doc, params, options(tmp_path)), out


def test_crashes_are_retried_when_the_limit_suffices(tmp_path: Path) -> None:
    tree, out = crashy_run(tmp_path, retries=1)
    assert tree.phase == "Succeeded", tree.render()
    assert dict(read_output(str(out))) == {"a": 2, "b": 1, "c": 1, "d": 1, "crashme": 1}
    retried = [n for n in tree.nodes if n.type == "Retry" and len(n.children) == 2]
    assert sorted(n.template for n in retried) == ["map", "reduce"]  # one map and one reduce died once
    for n in retried:
        first, second = (tree.node(c) for c in n.children)
        assert (first.phase, first.exit_code, first.message) == ("Failed", 137, "main: Error (exit code 137)")
        assert second.phase == "Succeeded" and n.phase == "Succeeded"
    assert "│ ├─✖ map(0:0)(0)" in tree.render()


def test_crashes_fail_the_run_cleanly_when_the_limit_does_not_suffice(tmp_path: Path) -> None:
    tree, out = crashy_run(tmp_path, retries=0)
    assert tree.phase == "Failed"
    assert tree.error_line() == f"workflow {tree.workflow} Failed: node map(0:0) failed: main: Error (exit code 137)"
    assert not out.exists()  # nothing was committed
    assert not [n for n in tree.nodes if n.template in ("shuffle", "reduce", "commit")]  # fail fast
    # The exit handler ran, and kept the failed run's folder for a retry.
    assert tree.node(tree.on_exit).phase == "Succeeded" and os.listdir(tmp_path / "work") == [tree.workflow]
    kept = tree.kept_logs()
    assert len(kept) == 1 and kept[0].startswith(str(tmp_path / "pods"))  # podGC OnPodSuccess keeps the failed pod


def test_user_bug_is_not_retried_and_is_reported_as_argo_get_would(tmp_path: Path) -> None:
    spec = tmp_path / "buggy.yaml"
    spec.write_text(compile_text(str(JOB_DIR / "buggy.py")))  # retried twice by default, but not for exit 3
    (tmp_path / "in.txt").write_text("ok\npoison\nfine\n")
    proc = emulate_cli(str(spec), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), tmp=tmp_path)
    assert proc.returncode == 3  # the worker's "job code raised", as `mrargo run job.py` exits
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("mrargo: error: workflow buggy-")
    assert last.endswith(
        "Failed: node map(0:0) after 1 attempt failed (retryStrategy.expression evaluated to false): main: Error (exit code 3): "
        f"mrargo worker: error in job code: map 1/1 of step 1: mapper raised ValueError: cannot digest poison (input {tmp_path / 'in.txt'} at byte 3)"
    )
    assert "Status:              Failed" in proc.stderr
    row = next(line for line in proc.stderr.splitlines() if "✖ map(0:0)(0)" in line)
    assert " map " in row and "buggy-" in row and row.endswith("main: Error (exit code 3): " + last.split("(exit code 3): ", 1)[1])
    log = next(line.split(": ", 1)[1] for line in proc.stderr.splitlines() if line.startswith("log of failed pod: "))
    assert "Traceback" in Path(log).read_text()  # the user's traceback, as `argo logs` would show it
    assert not (tmp_path / "out").exists()


def test_active_deadline_stops_a_pod(tmp_path: Path) -> None:
    doc = compile_doc(str(JOB_DIR / "sleepy.py"), "--param", "sleep=60", "--retries", "0")
    template(doc, "map")["activeDeadlineSeconds"] = 1
    (tmp_path / "in.txt").write_text("x\n")
    params = {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "work")}
    tree = run_spec(doc, params, options(tmp_path))
    assert tree.phase == "Failed"
    (pod,) = pods_of(tree, "map")
    assert pod.message == DEADLINE_MESSAGE and pod.exit_code in (137, 143)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_pods_and_removes_the_temporary_folders(tmp_path: Path, sig: int, code: int) -> None:
    # The pods' folders and the temporary store (with the split's list and
    # any map's partial data) are the run's own: none may outlive it.
    spec = tmp_path / "sleepy.yaml"
    spec.write_text(compile_text(str(JOB_DIR / "sleepy.py"), "--param", "sleep=60"))
    (tmp_path / "in.txt").write_text("x\n")
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    argv = ["run", str(spec), "-i", str(tmp_path / "in.txt"), "-o", str(out), "--no-backoff"]
    a_map_pod_runs = lambda: bool(glob.glob(str(tmp / "mrargo-pods-*" / "sleepy-*-map-*" / "main.log")))  # noqa: E731
    returncode, stderr, started, survivors = interrupt(argv, tmp, a_map_pod_runs, sig)
    assert returncode == code
    assert stderr.strip().splitlines()[-1] == INTERRUPTED_LINE
    assert started and survivors == []  # every pod's process stopped
    assert not out.exists()
    assert os.listdir(tmp) == []  # no mrargo-pods-*, no mrargo-store-*


def test_a_signal_that_lands_inside_a_futures_lock_still_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM delivered while the scheduler holds a pod's future lock, in concurrent.futures.wait.

    Raised from the handler, the exception left that lock held: the pod
    thread could never finish its future, and the abort waited for the
    thread for ever (a 60 s test timeout, once in a full run).  An alarm
    fails the test instead of hanging it.
    """
    from concurrent.futures import _base

    from mrargo.errors import EXIT_TERMINATED, Interrupted

    (tmp_path / "in.txt").write_text("x\n")
    doc = compile_doc(str(JOB_DIR / "sleepy.py"), "--param", "sleep=60")
    sent: list[int] = []

    def enter(self: Any) -> None:
        for future in self.futures:
            future._condition.acquire()
            if not sent and glob.glob(str(tmp_path / "pods" / "*-map-*" / "main.log")):
                sent.append(1)
                os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, with this lock held

    def too_long(signum: int, frame: Any) -> None:
        raise AssertionError("the run did not stop within 30 s of SIGTERM")

    monkeypatch.setattr(_base._AcquireFutures, "__enter__", enter)
    old = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(30)
    try:
        with pytest.raises(Interrupted) as e:
            run_spec(doc, {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "work")}, options(tmp_path))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert sent and e.value.exit_code == EXIT_TERMINATED
    assert not (tmp_path / "out").exists()


# -- refusals ----------------------------------------------------------------------------------


def _add_when(doc: dict[str, Any]) -> None:
    doc["spec"]["templates"][0]["dag"]["tasks"][1]["when"] = "{{tasks.split.outputs.parameters.count}} > 0"


def _steps_entry(doc: dict[str, Any]) -> None:
    doc["spec"]["templates"].append({"name": "main", "steps": [[{"name": "a", "template": "split"}]]})


def _script(doc: dict[str, Any]) -> None:
    doc["spec"]["templates"].append({"name": "hello", "script": {"image": "python", "source": "print(1)"}})


def _expression(doc: dict[str, Any]) -> None:
    template(doc, "map")["retryStrategy"]["expression"] = "asInt(lastRetry.exitCode) > 1"


def _format(doc: dict[str, Any]) -> None:
    doc["spec"]["templates"][0]["dag"]["tasks"][1]["withSequence"]["format"] = "%02d"


def _s3_artifact(doc: dict[str, Any]) -> None:
    template(doc, "map")["inputs"]["artifacts"][0] = {"name": "input", "path": "/in", "s3": {"key": "x"}}


def _unknown_variable(doc: dict[str, Any]) -> None:
    template(doc, "split")["container"]["args"].append("{{workflow.uid}}")


def _expression_tag(doc: dict[str, Any]) -> None:
    template(doc, "split")["container"]["args"].append("{{=sprig.env('HOME')}}")


def _shell(doc: dict[str, Any]) -> None:
    template(doc, "split")["container"]["command"] = ["sh", "-c", "echo hi"]


def _kind(doc: dict[str, Any]) -> None:
    doc["kind"] = "Pod"


REFUSALS = {
    _add_when: "spec.templates[mapreduce].dag.tasks[map].when is not supported by mrargo run",
    _steps_entry: "spec.templates[main].steps is not supported by mrargo run",
    _script: "spec.templates[hello].script is not supported by mrargo run",
    _expression: "spec.templates[map].retryStrategy.expression 'asInt(lastRetry.exitCode) > 1': unexpected text at '(lastRetry.exitCode)'",
    _format: "spec.templates[mapreduce].dag.tasks[map].withSequence.format is not supported by mrargo run",
    _s3_artifact: "spec.templates[map].inputs.artifacts[0].s3 is not supported by mrargo run",
    _unknown_variable: "spec.templates[split].container.args[11] uses {{workflow.uid}}, which is not defined there",
    _expression_tag: "spec.templates[split].container.args[11]: expression tag \"{{=sprig.env('HOME')}}\" is not supported by mrargo run",
    _shell: "spec.templates[split].container.command must start with python",
    _kind: "the spec is apiVersion 'argoproj.io/v1alpha1' kind 'Pod'",
}


@pytest.mark.parametrize("mutate", list(REFUSALS), ids=[f.__name__.strip("_") for f in REFUSALS])
def test_what_mrargo_never_emits_is_refused_naming_the_field(mutate: Any, tmp_path: Path) -> None:
    doc = copy.deepcopy(WORDCOUNT_DOC)
    mutate(doc)
    with pytest.raises(SpecError) as err:
        run_spec(doc, {"input": "x", "output": str(tmp_path / "o")}, options(tmp_path))
    message = str(err.value)
    assert message.startswith(REFUSALS[mutate]) and "\n" not in message, message
    assert not (tmp_path / "pods").exists()  # refused before any pod


def test_parameters_are_checked_before_any_pod(tmp_path: Path) -> None:
    doc = copy.deepcopy(WORDCOUNT_DOC)
    with pytest.raises(MrargoError, match=r"^-p nope: the spec has no parameter 'nope'; it declares input, "):
        run_spec(doc, {"nope": "1"}, options(tmp_path))
    for p in doc["spec"]["arguments"]["parameters"]:
        if p["name"] == "output":
            del p["value"]
    with pytest.raises(SpecError, match=r"^workflow parameter 'output' has no value; pass -p output=VALUE$"):
        run_spec(doc, {}, options(tmp_path))
    assert not (tmp_path / "pods").exists()


WORDCOUNT_DOC = yaml.safe_load((REPO / "workflows" / "wordcount.workflow.yaml").read_text())


# -- the pieces ---------------------------------------------------------------------------------


def _attempt(phase: str, exit_code: int | None, started: float, finished: float, message: str = "") -> Node:
    return Node("wf.map(0:0)(0)", "map(0:0)(0)", "Pod", "map", phase, message, started=started, finished=finished, exit_code=exit_code)


MRARGO_RETRY = RetryStrategy(limit=3, policy="Always", expression=parse_retry_expression('lastRetry.exitCode != "3"', "e"),
                             backoff=Backoff(duration=10, factor=2, max_duration=3600))  # fmt: skip


def test_retry_decision_follows_argo() -> None:
    crash = _attempt("Failed", 137, 0.0, 5.0)
    # Backoff doubles from the end of each attempt: 10 s, then 20 s.
    assert retry_decision(MRARGO_RETRY, [crash], now=5.0) == (10.0, "")
    assert retry_decision(MRARGO_RETRY, [crash, crash], now=5.0) == (20.0, "")
    assert retry_decision(MRARGO_RETRY, [crash] * 3, now=5.0, backoff=False) == (0.0, "")
    # limit 3 means 4 attempts in all.
    assert retry_decision(MRARGO_RETRY, [crash] * 4, now=5.0) == (None, "No more retries left")
    # Exit code 3, the job's own bug, is never retried.
    assert retry_decision(MRARGO_RETRY, [_attempt("Failed", 3, 0.0, 5.0)], now=5.0) == (None, "retryStrategy.expression evaluated to false")
    # The backoff may not run past maxDuration from the first attempt's start.
    late = _attempt("Failed", 1, 0.0, 3595.0)
    assert retry_decision(MRARGO_RETRY, [late], now=3595.0) == (None, "Backoff would exceed max duration limit")
    assert retry_decision(MRARGO_RETRY, [late], now=3601.0) == (None, "Max duration limit exceeded")
    # A policy decides by phase; a missing exit code reads as "-1".
    on_error = RetryStrategy(limit=3, policy="OnError")
    assert retry_decision(on_error, [_attempt("Failed", 1, 0, 1, "boom")], now=1) == (None, "boom")
    assert retry_decision(on_error, [_attempt("Error", None, 0, 1)], now=1) == (0.0, "")
    assert retry_decision(MRARGO_RETRY, [_attempt("Succeeded", 0, 0, 1)], now=1) == (None, "")


def test_retry_expressions() -> None:
    e = parse_retry_expression('lastRetry.exitCode == \'1\' || lastRetry.status != "Error" && lastRetry.exitCode != "3"', "x")
    assert e.evaluate({"lastRetry.exitCode": "1", "lastRetry.status": "Error"})
    assert e.evaluate({"lastRetry.exitCode": "2", "lastRetry.status": "Failed"})
    assert not e.evaluate({"lastRetry.exitCode": "3", "lastRetry.status": "Failed"})
    for bad in ("lastRetry.exitCode > 1", 'retries == "1"', 'lastRetry.exitCode != "3" &&', '(lastRetry.exitCode == "1")'):
        with pytest.raises(SpecError, match="mrargo run evaluates only comparisons"):
            parse_retry_expression(bad, "spec.templates[map].retryStrategy.expression")


def test_substitution_is_one_pass() -> None:
    scope = {"workflow.parameters.a": "{{workflow.parameters.b}}", "workflow.parameters.b": "no"}
    assert substitute("x={{ workflow.parameters.a }}", scope, "w") == "x={{workflow.parameters.b}}"
    with pytest.raises(SpecError, match=r"^w: failed to resolve \{\{nope\}\}$"):
        substitute("{{nope}}", scope, "w")


def test_fan_out_items() -> None:
    def seq(**kw: str) -> list[str]:
        return [label for label, _ in sequence_items(Sequence(**kw), {"tasks.split.outputs.parameters.count": "3"}, "t")]

    assert seq(count="{{tasks.split.outputs.parameters.count}}") == ["0", "1", "2"]
    assert seq(count="2", start="5") == ["5", "6"]
    assert seq(start="3", end="1") == ["3", "2", "1"]
    assert seq(count="0") == []
    with pytest.raises(SpecError, match="withSequence.count is 'x', not a whole number"):
        seq(count="x")
    items = param_items('["a", 2, {"k": "v", "n": 1}]', "t")
    assert [label for label, _ in items] == ["a", "2", "k:v,n:1"]
    assert items[2][1]["item.k"] == "v" and items[2][1]["item.n"] == "1"


def test_tree_renders_like_argo_get_without_utf8() -> None:
    nodes = (
        Node("wf", "wf", "DAG", "mapreduce", "Failed", "child 'wf.map' failed", children=("wf.map",), started=0, finished=9),
        Node("wf.map", "map", "TaskGroup", "map", "Failed", parent="wf", children=("wf.map(0:0)",), started=0, finished=9),
        Node("wf.map(0:0)", "map(0:0)", "Retry", "map", "Failed", "No more retries left", parent="wf.map",
             children=("wf.map(0:0)(0)", "wf.map(0:0)(1)"), started=0, finished=9),
        Node("wf.map(0:0)(0)", "map(0:0)(0)", "Pod", "map", "Failed", "main: Error (exit code 1): x\nTraceback\nboom",
             parent="wf.map(0:0)", started=0, finished=4, pod="wf-map-1", exit_code=1),
        Node("wf.map(0:0)(1)", "map(0:0)(1)", "Pod", "map", "Failed", "main: Error (exit code 1)", parent="wf.map(0:0)",
             started=5, finished=9, pod="wf-map-2", exit_code=1),
    )  # fmt: skip
    tree = NodeTree("wf", "", "Failed", "child 'wf.map' failed", nodes, "wf", started=0, finished=9)
    text = tree.render(utf8=False)
    assert " Failed wf" in text and " `-Failed map(0:0)" in text and "No more retries left" in text
    row = next(line for line in text.splitlines() if "map(0:0)(0)" in line)
    assert re.split(r"\s{2,}", row.strip()) == ["|-Failed map(0:0)(0)", "map", "wf-map-1", "4.0s", "main: Error (exit code 1): boom"]
    assert (
        tree.error_line() == "workflow wf Failed: node map(0:0) after 2 attempts failed (No more retries left): main: Error (exit code 1)"
    )
    assert (
        one_line("main: Error (exit code 3): Traceback\n  File x\nmrargo worker: error")
        == "main: Error (exit code 3): mrargo worker: error"
    )


def test_spec_files_are_read_with_clear_errors(tmp_path: Path) -> None:
    two = tmp_path / "two.yaml"
    two.write_text("a: 1\n---\nb: 2\n")
    proc = emulate_cli(str(two), tmp=tmp_path)
    assert proc.returncode == 3 and proc.stderr.startswith(f"mrargo: error: spec {two} is not one YAML document")
    shutil.rmtree(tmp_path / "tmp")


def test_container_paths_map_into_the_pod_folder(tmp_path: Path) -> None:
    spec = load_spec(WORDCOUNT_DOC)
    t = spec.template("split")
    assert t.container is not None
    scope = {"workflow.name": "wc-abcde", "inputs.parameters.step": "1"}
    scope |= {f"workflow.parameters.{p.name}": f"value of {p.name}" for p in spec.parameters}
    pod = prepare_pod(t, t.container, scope, "wc-abcde-split-1", str(tmp_path), deadline=None)
    root, scratch = str(tmp_path / "root"), str(tmp_path / "volumes" / "scratch")
    values = str(tmp_path / "volumes" / "values")  # an emptyDir of its own, mounted at /mrargo/values
    digest = pod.argv[pod.argv.index("--bundle") + 1]
    assert pod.argv == (sys.executable, "-m", "mrargo.worker", "split", "--values", values, "--run", "wc-abcde", "--bundle", digest,
                        "--step", "1", "--outputs", f"{scratch}/outputs")  # fmt: skip
    env = dict(pod.env)
    assert env["HOME"] == env["TMPDIR"] == scratch  # the emptyDir at /tmp, also where POSIX scratch goes
    assert env["MRARGO_BUNDLE"] and env[TERMINATION_ENV] == f"{root}/dev/termination-log"
    assert dict(pod.files)[f"{values}/work-root"] == "value of work-root"
    assert pod.outputs == (("count", "/tmp/outputs/count", f"{scratch}/outputs/count"),)


def _pod(tmp_path: Path, code: str, fallback: bool = True, outputs: tuple[tuple[str, str, str], ...] = ()) -> Pod:
    env = (("PATH", os.environ.get("PATH", "")), (TERMINATION_ENV, str(tmp_path / "termination-log")))
    return Pod("p", str(tmp_path), (sys.executable, "-c", code), env, (), outputs, None, str(tmp_path / "termination-log"), fallback)


def test_a_failed_pod_says_why_as_kubernetes_and_argo_word_it(tmp_path: Path) -> None:
    own = "import os, sys; print('working'); open(os.environ['MRARGO_TERMINATION_LOG'], 'w').write('one line'); sys.exit(5)"
    r = run_pod(_pod(tmp_path / "a", own), Supervisor())
    assert (r.phase, r.exit_code, r.message) == ("Failed", 5, "main: Error (exit code 5): one line")
    noisy = "import sys; print('a', flush=True); print('b', file=sys.stderr); sys.exit(2)"
    assert run_pod(_pod(tmp_path / "b", noisy), Supervisor()).message == "main: Error (exit code 2): a\nb"  # FallbackToLogsOnError
    assert run_pod(_pod(tmp_path / "c", noisy, fallback=False), Supervisor()).message == "main: Error (exit code 2)"
    missing = run_pod(_pod(tmp_path / "d", "pass", outputs=(("count", "/tmp/outputs/count", str(tmp_path / "nope")),)), Supervisor())
    assert (missing.phase, missing.message) == ("Error", "failed to save outputs: parameter 'count': /tmp/outputs/count does not exist")
    (tmp_path / "count").write_text("7\n")
    ok = run_pod(_pod(tmp_path / "e", "pass", outputs=(("count", "/tmp/outputs/count", str(tmp_path / "count")),)), Supervisor())
    assert (ok.phase, ok.outputs) == ("Succeeded", (("count", "7"),))  # one trailing newline trimmed, as Argo does


def test_pod_names_are_argos() -> None:
    # FNV-1a of the node name, as workflow/util/pod_name.go: "a" -> 0xe40c292c.
    assert pod_name("wc-abcde", "map", "a") == f"wc-abcde-map-{0xE40C292C}"


def test_flags_that_contradict_each_other_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(REPO / "workflows" / "wordcount.workflow.yaml")
    cases = {
        ("-o", "a", "-p", "output=b"): "-o and -p output= both set parameter 'output'; keep one",
        ("--param", "n=3"): "--param: the spec has no parameter 'param-n'; it declares input, output, work-root",
        (
            "--store",
            "s3://b/w",
            "-p",
            "work-root=s3://b/x",
        ): "--store and -p work-root= both say where the work root goes; pass one of them",
    }
    for argv, message in cases.items():
        assert cli_main(["run", spec, *argv]) == 2
        assert capsys.readouterr().err == f"mrargo: error: {message}\n"
    with pytest.raises(SystemExit):  # argparse's own usage error, exit 2
        cli_main(["run", spec, "-p", "oops"])
    assert "'oops' must look like NAME=VALUE, e.g. output=s3://bucket/out" in capsys.readouterr().err


def test_spec_compiled_without_io_runs_with_relative_local_paths(tmp_path: Path) -> None:
    """`mrargo compile job.py > x.yaml; mrargo run x.yaml -p input=examples/data …`,
    with the relative path taken from where mrargo runs, not from a pod's folder."""
    from conftest import mrargo as run_mrargo
    from conftest import output_bytes

    spec = tmp_path / "wc.yaml"
    spec.write_text(run_mrargo("compile", "examples/wordcount.py", "--work-root", "s3://unused/work", "--image", "mrargo/worker:test").stdout)
    run_mrargo("run", str(spec), "-p", "input=examples/data", "-p", f"output={tmp_path}/from-spec", "--no-backoff", "-q")
    run_mrargo("run", "examples/wordcount.py", "-i", "examples/data", "-o", f"{tmp_path}/direct", "-q")
    assert output_bytes(f"{tmp_path}/from-spec") == output_bytes(f"{tmp_path}/direct")
