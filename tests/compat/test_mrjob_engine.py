"""A ported job on mrargo's own commands: `python job.py`, `mrargo run job.py` and a compiled spec give the same bytes.

    python job.py -o OUT INPUT...                          (MRJob.run, mrjob's command line)
    mrargo run job.py -i INPUT -o OUT                      (a compat job is a native job)
    mrargo compile job.py --image ... > spec.yaml          (and python job.py -r argo > spec.yaml)
    mrargo run spec.yaml -p input=... -p output=...        (the spec, run as Argo would)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import TEST_IMAGE, mrargo
from mrjob_helpers import JOBS, part_bytes, run_script, write_corpus

WORK_ROOT = "s3://b/w"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three text files in one folder, so one URL names them all."""
    data = write_corpus(tmp_path_factory.mktemp("mrjob-engine-data"))
    d = tmp_path_factory.mktemp("mrjob-engine-in")
    for name in ("text0", "text1", "text2"):
        shutil.copy(data[name], d / data[name].name)
    return d


def run_spec(spec_text: str, inputs: Path, out: Path, tmp: Path) -> None:
    spec = tmp / f"{out.name}.yaml"
    spec.write_text(spec_text)
    mrargo("run", str(spec), "-p", f"input={inputs}", "-p", f"output={out}", "-q", "--no-backoff", "--workers", "2")


# Each job, with the command-line options it runs with in `python job.py`.
JOBS_HERE = [
    ("word_freq", []),
    ("hooks", []),
    ("repr_pairs", []),
    ("options_files", []),
    ("file_stats", []),
    ("grep_lines", []),
    ("prefiltered", []),
    ("shares", []),
    ("per_file", []),
    ("dir_lookup", []),
]


@pytest.mark.parametrize("name", [j for j, _ in JOBS_HERE])
def test_python_job_mrargo_run_and_the_compiled_spec_agree(name: str, inputs: Path, tmp_path: Path) -> None:
    job = JOBS / f"{name}.py"
    proc = run_script(job, "-q", "-o", str(tmp_path / "script"), str(inputs))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""  # -o means no output on stdout, as in mrjob
    mrargo("run", str(job), "-i", str(inputs), "-o", str(tmp_path / "native"), "-q")
    spec = mrargo("compile", str(job), "--image", TEST_IMAGE, "--work-root", WORK_ROOT).stdout
    run_spec(spec, inputs, tmp_path / "spec", tmp_path)
    want = part_bytes(tmp_path / "script")
    assert want and b"".join(want.values())
    assert part_bytes(tmp_path / "native") == want
    assert part_bytes(tmp_path / "spec") == want


def test_r_argo_prints_a_spec_that_carries_the_options(inputs: Path, tmp_path: Path) -> None:
    """`python job.py -r argo` compiles with the job's options (and file options' files) in the spec."""
    job = JOBS / "options_files.py"
    args = ["--min-count", "20", "--prefix", "b", "--extra-stop-words", str(JOBS / "extra_stop_words.txt")]
    proc = run_script(job, "-r", "argo", "--image", TEST_IMAGE, "--work-root", WORK_ROOT, "-o", "s3://b/out", *args, "s3://b/in/")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = yaml.safe_load(proc.stdout)
    params = {p["name"]: p.get("value") for p in doc["spec"]["arguments"]["parameters"]}
    task = json.loads(params["param-mrjob"])
    assert task["options"]["min_count"] == 20 and task["options"]["prefix"] == ["b"]
    assert task["options"]["extra_stop_words"] == "extra_stop_words.txt"  # shipped beside the job, opened by name
    run_spec(proc.stdout.decode(), inputs, tmp_path / "spec", tmp_path)
    local = run_script(job, "-q", "-r", "local", "-o", str(tmp_path / "local"), *args, str(inputs))
    assert local.returncode == 0, local.stderr.decode()
    # The job passes --runner through to its tasks (pass_arg_through) and outputs it.
    assert {k: v.replace(b'"argo"', b'"local"') for k, v in part_bytes(tmp_path / "spec").items()} == part_bytes(tmp_path / "local")
    lines = b"".join(part_bytes(tmp_path / "local").values()).decode().splitlines()
    assert lines and all(json.loads(line.split("\t")[0]).startswith("b") for line in lines)


def test_r_argo_refuses_what_pods_cannot_read(tmp_path: Path) -> None:
    proc = run_script(JOBS / "word_freq.py", "-r", "argo", "--image", TEST_IMAGE, "--work-root", WORK_ROOT, "-")
    assert proc.returncode == 2 and b"-r argo cannot read stdin" in proc.stderr
    outside = tmp_path / "stop.txt"
    outside.write_text("x\n")
    proc = run_script(JOBS / "options_files.py", "-r", "argo", "--image", TEST_IMAGE, "--work-root", WORK_ROOT, "--extra-stop-words", str(outside), "s3://b/in/")
    assert proc.returncode == 2 and b"must be in the job's folder" in proc.stderr


def test_options_given_to_mrargo_run_as_the_mrjob_parameter(inputs: Path, tmp_path: Path) -> None:
    """`mrargo run job.py --param mrjob=JSON` is how python job.py passes options; steps() must not depend on them there."""
    job = JOBS / "options_files.py"
    param = json.dumps({"options": {"min_count": 40}})
    mrargo("run", str(job), "-i", str(inputs), "-o", str(tmp_path / "out"), "-q", "--param", f"mrjob={param}")
    lines = b"".join(part_bytes(tmp_path / "out").values()).decode().splitlines()
    assert lines and all(json.loads(line.split("\t")[1])[0] >= 40 for line in lines)
    edges = tmp_path / "edges.txt"
    edges.write_text("a b\n")
    bad = mrargo("run", str(JOBS / "components.py"), "-i", str(edges), "-o", str(tmp_path / "c"), "-q", "--param", 'mrjob={"options": {"iterations": 1}}', check=False)
    assert bad.returncode == 3
    assert "steps() gives other steps in this task than when the job was planned" in bad.stderr
