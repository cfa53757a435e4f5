"""`python -m mrargo.worker`: light imports, exit codes, values read as data, the bundle staged and checked."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mrargo import worker as worker_mod
from mrargo.plan import build_plan
from mrargo.plan import bundle

ROOT = Path(__file__).resolve().parent.parent
BROKEN = """from mrargo import MapReduce

class Broken(MapReduce):
    def mapper(self, _, line):
        raise ValueError("bad line " + line)
        yield None, None
"""


def test_importing_the_worker_loads_no_hera_kubernetes_or_cli() -> None:
    code = "import sys, mrargo.worker; print(sorted(m for m in sys.modules if m.split('.')[0] in ('hera', 'kubernetes', 'jinja2', 'pydantic', 'yaml') or m.startswith('mrargo.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


class Pod:
    """A bundle in the environment and a values folder, as an Argo pod has them."""

    def __init__(self, tmp_path: Path, job: Path, values: dict[str, str], image_has_job: bool = False) -> None:
        plan, job_dir = build_plan(str(job))
        sources = {} if image_has_job else bundle.collect_sources(plan, job_dir)
        text = bundle.encode(bundle.Bundle(plan=bundle.portable_plan(plan), sources=sources, job_dir=str(tmp_path / "baked")))
        self.digest = hashlib.sha256(text.encode()).hexdigest()
        self.values = tmp_path / "values"
        self.values.mkdir()
        for k, v in values.items():
            (self.values / k).write_text(v)
        (tmp_path / "scratch").mkdir()
        self.outputs = tmp_path / "o"
        self.env = dict(os.environ, MRARGO_BUNDLE=text, TMPDIR=str(tmp_path / "scratch"), ARGO_PROGRESS_FILE=str(tmp_path / "progress"))

    def run(self, task: str, *args: str, run: str = "wf-1", digest: str = "") -> subprocess.CompletedProcess[str]:
        argv = [task, "--values", str(self.values), "--run", run, "--bundle", digest or self.digest, "--outputs", str(self.outputs), *args]
        env = self.env if task == "split" else {k: v for k, v in self.env.items() if k != "MRARGO_BUNDLE"}
        return subprocess.run([sys.executable, "-m", "mrargo.worker", *argv], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)


def values(tmp_path: Path, src: Path | str) -> dict[str, str]:
    return {"input": str(src), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "w")}


def test_user_code_error_exits_3_with_a_one_line_error(tmp_path: Path) -> None:
    job = tmp_path / "broken.py"
    job.write_text(BROKEN)
    (tmp_path / "in.txt").write_text("x\n")
    pod = Pod(tmp_path, job, values(tmp_path, tmp_path / "in.txt"))
    split = pod.run("split")
    assert split.returncode == 0, split.stderr
    assert (tmp_path / "o/count").read_text() == "1" and (tmp_path / "progress").read_text() == "1/1\n"
    mapped = pod.run("map", "--index", "0")
    assert mapped.returncode == 3
    last = mapped.stderr.strip().splitlines()[-1]
    assert last.startswith("mrargo worker: error in job code: map 1/1 of step 1: mapper raised ValueError: bad line x")
    assert "Traceback" in mapped.stderr  # the user's traceback, for the pod log


def test_the_split_stages_the_bundle_and_the_others_check_it(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a\n")
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, tmp_path / "in.txt"))
    early = pod.run("map", "--index", "0")
    assert early.returncode == 1 and "the job bundle" in early.stderr and "is missing" in early.stderr  # retried: the split may come
    assert pod.run("split").returncode == 0
    staged = tmp_path / "w/wf-1/bundle.mrargo"
    assert staged.read_text() == pod.env["MRARGO_BUNDLE"]
    wrong = pod.run("map", "--index", "0", digest="0" * 64)
    assert wrong.returncode == 3 and "recompile it" in wrong.stderr.splitlines()[-1]
    assert pod.run("map", "--index", "0").returncode == 0


def test_a_missing_bundle_or_a_damaged_spec_exits_3(tmp_path: Path) -> None:
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, "s3://b/in"))
    pod.env.pop("MRARGO_BUNDLE")
    proc = pod.run("split")
    assert proc.returncode == 3 and "MRARGO_BUNDLE is not set" in proc.stderr
    pod.env["MRARGO_BUNDLE"] = "not base64!"
    proc = pod.run("split", digest=hashlib.sha256(b"not base64!").hexdigest())
    assert proc.returncode == 3 and proc.stderr.strip().endswith("recompile the job")
    proc = pod.run("split", "--bogus")
    assert proc.returncode == 3 and "the spec's arguments are wrong" in proc.stderr


def test_an_image_without_the_job_is_a_one_line_error_exit_3(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a\n")
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, tmp_path / "in.txt"), image_has_job=True)
    proc = pod.run("split")
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].endswith("or compile without --image-has-job so the spec carries the job")


def test_bad_input_exits_3_so_argo_does_not_retry_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad.txt").write_bytes(b"ok\nbad \xff\n")
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, data))
    assert pod.run("split").returncode == 0
    proc = pod.run("map", "--index", "0")
    assert proc.returncode == 3
    assert "invalid UTF-8 at byte 7" in proc.stderr.strip().splitlines()[-1]


def test_an_existing_output_fails_the_split_with_a_fix_for_a_spec(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("keep")
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, tmp_path / "in.txt"))
    proc = pod.run("split")
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].endswith("choose another output, or compile with --overwrite to replace it")


def test_argo_syntax_left_in_a_value_is_refused(tmp_path: Path) -> None:
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", {"input": "s3://b/{{workflow.name}}", "output": "s3://b/o", "work-root": "s3://b/w"})
    proc = pod.run("split")
    assert proc.returncode == 3 and "parameter 'input'" in proc.stderr and "contains '{{'" in proc.stderr


def test_values_are_read_verbatim_and_inputs_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    for k, v in {
        "input": "s3://b/a\n\n s3://b/$(HOME) \n",
        "output": "s3://b/o\n",
        "work-root": "s3://w",
        "param-x": " $(HOME) `id` ",
    }.items():
        (tmp_path / "values" / k).write_text(v)
    b = worker_mod.binding_of(worker_mod.read_values(str(tmp_path / "values")), "wf-1", overwrite=False)
    assert b.inputs == ("s3://b/a", "s3://b/$(HOME)") and b.output == "s3://b/o" and b.params == (("x", " $(HOME) `id` "),)
    assert b.work_dir == "s3://w/wf-1"


def test_bundle_round_trip_is_deterministic(tmp_path: Path) -> None:
    plan, job_dir = build_plan(str(ROOT / "examples/wordcount.py"))
    b = bundle.Bundle(plan=bundle.portable_plan(plan), sources=bundle.collect_sources(plan, job_dir))
    text = bundle.encode(b)
    assert text == bundle.encode(b) and "{{" not in text and "$(" not in text
    back = bundle.decode(text)
    assert back == b
    installed, where = bundle.install(back, str(tmp_path / "job"))
    assert installed.job.path == str(tmp_path / "job/wordcount.py") and where == str(tmp_path / "job")
    assert (tmp_path / "job/wordcount.py").read_bytes() == (ROOT / "examples/wordcount.py").read_bytes()


def test_commit_writes_counters_and_cleanup_keeps_a_failed_run(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a b a\n")
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", values(tmp_path, tmp_path / "in.txt"))
    assert pod.run("split").returncode == 0
    assert pod.run("map", "--index", "0").returncode == 0
    assert pod.run("shuffle").returncode == 0
    for r in range(int((tmp_path / "o/count").read_text())):
        assert pod.run("reduce", "--index", str(r)).returncode == 0
    assert pod.run("commit").returncode == 0
    counters = json.loads((tmp_path / "o/counters").read_text())
    assert counters["mrargo"]["map input records"] == 1 and (tmp_path / "o/records").read_text() == "2"
    assert (tmp_path / "w/wf-1").exists()
    kept = pod.run("cleanup", "--status", "Failed")
    assert kept.returncode == 0 and "is kept for argo retry" in kept.stderr and (tmp_path / "w/wf-1").exists()
    assert pod.run("cleanup", "--status", "Succeeded").returncode == 0 and not (tmp_path / "w/wf-1").exists()


@pytest.mark.parametrize("run", ["../etc", "WF", "a/b"])
def test_run_name_must_be_a_workflow_name(run: str, tmp_path: Path) -> None:
    pod = Pod(tmp_path, ROOT / "examples/wordcount.py", {"input": "s3://i", "output": "s3://o", "work-root": "s3://w"})
    proc = pod.run("cleanup", run=run)
    assert proc.returncode == 3 and "is not a workflow name" in proc.stderr


def test_a_folder_in_files_ships_whole_and_unsafe_names_are_refused(tmp_path: Path) -> None:
    """FILES may name a folder: its files travel at their paths inside it; a bundle naming a path outside is refused."""
    from mrargo.errors import PlanError

    (tmp_path / "lookup" / "more").mkdir(parents=True)
    (tmp_path / "lookup" / "a.txt").write_text("a\n")
    (tmp_path / "lookup" / "more" / "b.txt").write_text("b\n")
    (tmp_path / "job.py").write_text(
        "from mrargo import MapReduce\n\nclass J(MapReduce):\n    FILES = ['lookup/']\n\n    def mapper(self, _, line):\n        yield line, 1\n"
    )
    plan, job_dir = build_plan(str(tmp_path / "job.py"))
    sources = bundle.collect_sources(plan, job_dir)
    assert sorted(sources) == ["job.py", "lookup/a.txt", "lookup/more/b.txt"]
    dest = tmp_path / "task"
    bundle.install(bundle.Bundle(plan=bundle.portable_plan(plan), sources=sources), str(dest))
    assert (dest / "lookup" / "more" / "b.txt").read_text() == "b\n"
    for bad in ("../x", "lookup/../../x", "/etc/x", "lookup//x"):
        with pytest.raises(PlanError, match="unsafe file name"):
            bundle.install(bundle.Bundle(plan=bundle.portable_plan(plan), sources={"job.py": b"", bad: b"x"}), str(tmp_path / "t2"))
    assert not (tmp_path / "x").exists()


def test_an_input_whose_storage_backend_is_missing_exits_3(tmp_path: Path) -> None:
    """gs:// on an image without gcsfs fails the same way on every retry: exit 3, one line that names the fix."""
    assert subprocess.run([sys.executable, "-c", "import gcsfs"], capture_output=True).returncode != 0  # the test needs it absent
    pod = Pod(tmp_path, Path(ROOT) / "examples" / "wordcount.py", values(tmp_path, "gs://bucket/in/"))
    split = pod.run("split")
    assert split.returncode == 3, split.stderr
    lines = split.stderr.strip().splitlines()
    assert len(lines) == 1 and "gs://" in lines[0] and "mrargo image build --extra gcsfs" in lines[0], lines


CHATTY = """
import sys
from mrargo import MapReduce

class Chatty(MapReduce):
    def mapper(self, _, line):
        print("mapped", line)  # stdout is a pipe in a pod: block-buffered
        yield line, 1

    def mapper_final(self):
        sys.stderr.write("no newline at the end")
        return ()

    def reducer(self, key, counts):
        yield key, sum(counts)
"""


def test_what_a_task_prints_reaches_the_pod_log(tmp_path: Path) -> None:
    # The worker ends without the interpreter's teardown; its streams are flushed first.
    job = tmp_path / "chatty.py"
    job.write_text(CHATTY)
    (tmp_path / "in.txt").write_text("x\ny\n")
    pod = Pod(tmp_path, job, values(tmp_path, tmp_path / "in.txt"))
    pod.env.pop("PYTHONUNBUFFERED", None)  # the spec sets it, but an image may run the worker without
    assert pod.run("split").returncode == 0
    mapped = pod.run("map", "--index", "0")
    assert mapped.returncode == 0, mapped.stderr
    assert mapped.stdout == "mapped x\nmapped y\n" and mapped.stderr.endswith("no newline at the end")
    marker = json.loads(next((tmp_path / "w/wf-1").rglob("map/00000.json")).read_text())
    assert marker["counters"]["mrargo"]["map input records"] == 2


def test_what_a_local_task_prints_reaches_the_run_output(tmp_path: Path) -> None:
    # A local task's process ends with os._exit as a pod's does: what the
    # mapper printed into a block-buffered pipe must be flushed first.
    job = tmp_path / "chatty.py"
    job.write_text(CHATTY)
    (tmp_path / "in.txt").write_text("x\ny\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    cmd = [sys.executable, "-m", "mrargo", "run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    assert "mapped x" in proc.stdout and "mapped y" in proc.stdout, proc.stdout
    assert "no newline at the end" in proc.stderr, proc.stderr
