"""`python -m mrargo.worker`: light imports, exit codes, values read as data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mrargo import bundle
from mrargo import worker as worker_mod
from mrargo.build import build_plan

ROOT = Path(__file__).resolve().parent.parent
BROKEN = """from mrargo import MapReduce

class Broken(MapReduce):
    def mapper(self, _, line):
        raise ValueError("bad line " + line)
        yield None, None
"""


def test_importing_the_worker_loads_no_hera_kubernetes_or_cli() -> None:
    code = "import sys, mrargo.worker; print(sorted(m for m in sys.modules if m.split('.')[0] in ('hera', 'kubernetes', 'jinja2', 'pydantic') or m == 'mrargo.cli'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def make_pod(tmp_path: Path, job: Path, values: dict[str, str]) -> tuple[dict[str, str], Path]:
    """A bundle in the environment and a values folder, as an Argo pod has them."""
    plan, job_dir = build_plan(
        str(job),
        inputs=["unset://i"],
        output="unset://o",
        work_dir="unset://w",
        params=[f"{k[6:]}=" for k in values if k.startswith("param-")],
    )
    text = bundle.encode(bundle.Bundle(plan=bundle.portable_plan(plan), sources=bundle.collect_sources(plan, job_dir)))
    vdir = tmp_path / "values"
    vdir.mkdir()
    for k, v in values.items():
        (vdir / k).write_text(v)
    env = dict(os.environ, MRARGO_BUNDLE=text, TMPDIR=str(tmp_path / "scratch"), ARGO_PROGRESS_FILE=str(tmp_path / "progress"))
    (tmp_path / "scratch").mkdir()
    return env, vdir


def worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mrargo.worker", *args], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_user_code_error_exits_3_with_a_one_line_error(tmp_path: Path) -> None:
    job = tmp_path / "broken.py"
    job.write_text(BROKEN)
    (tmp_path / "in.txt").write_text("x\n")
    env, vdir = make_pod(
        tmp_path, job, {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "w")}
    )
    run = ["--values", str(vdir), "--run", "wf-1"]
    split = worker(env, "split", *run, "--outputs", str(tmp_path / "o"))
    assert split.returncode == 0, split.stderr
    assert (tmp_path / "o/count").read_text() == "1" and (tmp_path / "progress").read_text() == "1/1\n"
    mapped = worker(env, "map", *run, "--index", "0")
    assert mapped.returncode == 3
    last = mapped.stderr.strip().splitlines()[-1]
    assert last.startswith("mrargo worker: error in job code: map 1/1 of step 1: mapper raised ValueError: bad line x")
    assert "Traceback" in mapped.stderr  # the user's traceback, for the pod log


def test_other_errors_exit_1(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("MRARGO_BUNDLE", None)
    proc = worker(env, "split", "--values", str(tmp_path), "--run", "wf-1")
    assert proc.returncode == 1 and "MRARGO_BUNDLE is not set" in proc.stderr
    env["MRARGO_BUNDLE"] = "not base64!"
    proc = worker(env, "split", "--values", str(tmp_path), "--run", "wf-1")
    assert proc.returncode == 1 and proc.stderr.strip().endswith("recompile the job")


def test_bad_input_exits_3_so_argo_does_not_retry_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "bad.txt").write_bytes(b"ok\nbad \xff\n")
    env, vdir = make_pod(
        tmp_path, ROOT / "examples/wordcount.py", {"input": str(data), "output": str(tmp_path / "o"), "work-root": str(tmp_path / "w")}
    )
    assert worker(env, "split", "--values", str(vdir), "--run", "wf-1").returncode == 0
    proc = worker(env, "map", "--values", str(vdir), "--run", "wf-1", "--index", "0")
    assert proc.returncode == 3
    assert "invalid UTF-8 at byte 7" in proc.stderr.strip().splitlines()[-1]


def test_argo_syntax_left_in_a_value_is_refused(tmp_path: Path) -> None:
    env, vdir = make_pod(
        tmp_path, ROOT / "examples/wordcount.py", {"input": "s3://b/{{workflow.name}}", "output": "s3://b/o", "work-root": "s3://b/w"}
    )
    proc = worker(env, "split", "--values", str(vdir), "--run", "wf-1")
    assert proc.returncode == 1 and "parameter 'input' contains '{{'" in proc.stderr


def test_values_are_read_verbatim_and_inputs_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "values").mkdir()
    for k, v in {
        "input": "s3://b/a\n\n s3://b/$(HOME) \n",
        "output": "s3://b/o\n",
        "work-root": "s3://w",
        "param-x": " $(HOME) `id` ",
    }.items():
        (tmp_path / "values" / k).write_text(v)
    plan, _ = build_plan(str(ROOT / "examples/wordcount.py"), inputs=["s3://u"], output="s3://u", work_dir="s3://u", params=["x="])
    v = worker_mod.read_values(str(tmp_path / "values"), plan)
    assert v.inputs == ("s3://b/a", "s3://b/$(HOME)") and v.output == "s3://b/o" and v.params == (("x", " $(HOME) `id` "),)


def test_bundle_round_trip_is_deterministic(tmp_path: Path) -> None:
    plan, job_dir = build_plan(str(ROOT / "examples/wordcount.py"), inputs=["s3://i"], output="s3://o", work_dir="s3://w")
    b = bundle.Bundle(plan=bundle.portable_plan(plan), sources=bundle.collect_sources(plan, job_dir))
    text = bundle.encode(b)
    assert text == bundle.encode(b) and "{{" not in text and "$(" not in text
    back = bundle.decode(text)
    assert back == b
    installed, where = bundle.install(back, str(tmp_path / "job"))
    assert installed.job.path == str(tmp_path / "job/wordcount.py") and where == str(tmp_path / "job")
    assert (tmp_path / "job/wordcount.py").read_bytes() == (ROOT / "examples/wordcount.py").read_bytes()


def test_commit_writes_counters_as_output_parameters(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("a b a\n")
    vals = {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out"), "work-root": str(tmp_path / "w")}
    env, vdir = make_pod(tmp_path, ROOT / "examples/wordcount.py", vals)
    run = ["--values", str(vdir), "--run", "wf-1", "--outputs", str(tmp_path / "o")]
    assert worker(env, "split", *run).returncode == 0
    assert worker(env, "map", *run, "--index", "0").returncode == 0
    assert worker(env, "shuffle", *run).returncode == 0
    for r in range(int((tmp_path / "o/count").read_text())):
        assert worker(env, "reduce", *run, "--index", str(r)).returncode == 0
    assert worker(env, "commit", *run).returncode == 0
    counters = json.loads((tmp_path / "o/counters").read_text())
    assert counters["mrargo"]["map input records"] == 1 and (tmp_path / "o/records").read_text() == "2"
    assert (tmp_path / "w/wf-1").exists()
    assert worker(env, "cleanup", *run).returncode == 0 and not (tmp_path / "w/wf-1").exists()


@pytest.mark.parametrize("run", ["../etc", "WF", "a/b"])
def test_run_name_must_be_a_workflow_name(run: str, tmp_path: Path) -> None:
    env, vdir = make_pod(tmp_path, ROOT / "examples/wordcount.py", {"input": "s3://i", "output": "s3://o", "work-root": "s3://w"})
    proc = worker(env, "cleanup", "--values", str(vdir), "--run", run)
    assert proc.returncode == 1 and "is not a workflow name" in proc.stderr
