"""`mrargo compile`: the specs are valid Argo, safe, deterministic, and they run.

``MRARGO_REGENERATE=1 pytest tests/test_argo.py`` rewrites workflows/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import argo_checks as checks
import fsspec
import pytest
from conftest import compile_args

from mrargo import argo, bundle
from mrargo.cli import build_parser, main
from mrargo.errors import PlanError

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "workflows"
EXAMPLES = {"wordcount": [], "indexer": [], "topwords": ["--param", "n=20"]}
VALIDATOR = ROOT / "tests" / "argo-validate" / "run.sh"


def example_args(name: str, kind: str) -> list[str]:
    base = f"s3://mrargo-examples/{name}"
    return ["compile", f"examples/{name}.py", "-i", f"{base}/input/", "-o", f"{base}/output/", "--kind", kind, *EXAMPLES[name]]


def compile_doc(*extra: str, job: str = "examples/wordcount.py") -> dict[str, Any]:
    return checks.load(compile_args(["compile", job, "-i", "s3://b/in", "-o", "s3://b/out", *extra]))


def worker_templates(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in checks.spec_of(doc)["templates"] if "container" in t]


# -- the committed specs ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["workflow", "template"])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_committed_spec_matches_a_fresh_compile(name: str, kind: str) -> None:
    text = compile_args(example_args(name, kind))
    path = GOLDEN / f"{name}.{kind}.yaml"
    if os.environ.get("MRARGO_REGENERATE") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run MRARGO_REGENERATE=1 pytest tests/test_argo.py"
    assert path.read_text(encoding="utf-8") == text, f"{path} is stale; run MRARGO_REGENERATE=1 pytest tests/test_argo.py"


def all_variants(tmp_path: Path) -> list[Path]:
    """The committed specs plus one cron and one with every option set."""
    files = sorted(GOLDEN.glob("*.yaml"))
    variants = {
        "cron": [*example_args("topwords", "cron"), "--schedule", "0 3 * * *", "--overwrite"],
        "options": [
            *example_args("wordcount", "workflow"),
            "--artifact-repository",
            "my-repos:minio",
            "--service-account",
            "mrargo-runner",
            "--namespace",
            "jobs",
            "--retries",
            "5",
            "--timeout",
            "600",
            "--cpu",
            "map=2",
            "--memory",
            "reduce=4Gi",
            "--parallelism",
            "20",
            "--keep-intermediate",
            "--s3-secret",
            "minio-cred",
            "--s3-endpoint",
            "http://minio.argo:9000",
            "--name",
            "wc",
        ],  # fmt: skip
    }
    for label, argv in variants.items():
        p = tmp_path / f"{label}.yaml"
        p.write_text(compile_args(argv), encoding="utf-8")
        files.append(p)
    assert len(files) >= 8
    return files


def test_every_spec_loads_into_hera_models_with_extra_forbid(tmp_path: Path) -> None:
    files = all_variants(tmp_path)
    proc = checks.strict_load([str(f) for f in files])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK ") == len(files)


def test_strict_load_catches_a_misspelt_field(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    bad.write_text(compile_args(example_args("wordcount", "workflow")).replace("retryPolicy:", "retryPolicyy:"), encoding="utf-8")
    proc = checks.strict_load([str(bad)])
    assert proc.returncode == 1
    assert "retryPolicyy" in proc.stdout and "Extra inputs are not permitted" in proc.stdout


def test_every_spec_passes_the_semantic_checks(tmp_path: Path) -> None:
    for f in all_variants(tmp_path):
        assert checks.semantic_errors(checks.load(f.read_text())) == [], f


def test_semantic_checks_catch_broken_references() -> None:
    doc = compile_doc()
    tasks = checks.spec_of(doc)["templates"][0]["dag"]["tasks"]
    tasks[1]["template"] = "mapp"
    tasks[3]["withSequence"]["count"] = "{{tasks.commit.outputs.parameters.count}}"
    worker_templates(doc)[0]["container"]["args"].append("{{inputs.parameters.nope}}")
    errors = "\n".join(checks.semantic_errors(doc))
    assert "template 'mapp' does not exist" in errors
    assert "{{tasks.commit.outputs.parameters.count}} names a task that is not upstream" in errors
    assert "{{inputs.parameters.nope}} is not declared" in errors


def test_argo_own_validator_accepts_every_spec(tmp_path: Path) -> None:
    assert VALIDATOR.exists(), "tests/argo-validate/run.sh is missing"
    files = all_variants(tmp_path)
    proc = subprocess.run(["bash", str(VALIDATOR), *map(str, files)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("OK ") == len(files)


def test_argo_own_validator_rejects_a_broken_spec(tmp_path: Path) -> None:
    """The harness can fail: a compiled spec, broken two ways, is refused by Argo's code."""
    good = (ROOT / "workflows" / "wordcount.workflow.yaml").read_text()
    missing = tmp_path / "missing-template.yaml"
    missing.write_text(good.replace("template: reduce", "template: no-such-template", 1))
    typo = tmp_path / "unknown-field.yaml"
    typo.write_text(good.replace("entrypoint:", "entrypiont:", 1))
    for path, message in [(missing, "no-such-template"), (typo, 'unknown field "spec.entrypiont"')]:
        proc = subprocess.run(["bash", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert message in proc.stdout + proc.stderr


# -- shape ------------------------------------------------------------------------


def test_one_step_dag_shape_and_fan_outs() -> None:
    doc = compile_doc()
    spec = checks.spec_of(doc)
    tasks = {t["name"]: t for t in spec["templates"][0]["dag"]["tasks"]}
    assert list(tasks) == ["split", "map", "shuffle", "reduce", "commit"]
    assert tasks["map"]["withSequence"] == {"count": "{{tasks.split.outputs.parameters.count}}"}
    assert tasks["reduce"]["withSequence"] == {"count": "{{tasks.shuffle.outputs.parameters.count}}"}
    assert doc["metadata"]["generateName"] == "wordcount-" and "name" not in doc["metadata"]
    assert spec["onExit"] == "cleanup"
    commit = next(t for t in spec["templates"] if t["name"] == "commit")
    assert [p["name"] for p in commit["outputs"]["parameters"]] == ["counters", "records"]


def test_multi_step_tasks_chain_steps() -> None:
    tasks = checks.spec_of(compile_doc(job="examples/topwords.py"))["templates"][0]["dag"]["tasks"]
    deps = {t["name"]: t.get("dependencies") for t in tasks}
    assert deps == {
        "split-1": None, "map-1": ["split-1"], "shuffle-1": ["map-1"], "reduce-1": ["shuffle-1"],
        "split-2": ["reduce-1"], "map-2": ["split-2"], "shuffle-2": ["map-2"], "reduce-2": ["shuffle-2"],
        "commit": ["reduce-2"],
    }  # fmt: skip


def test_spec_bytes_do_not_depend_on_the_number_of_splits() -> None:
    """The same spec serves 10 or 100,000 map tasks: only split's count differs."""
    fs = fsspec.filesystem("memory")
    for n, name in ((10, "ten"), (100_000, "lot")):
        for i in range(n):
            fs.pipe(f"/splits/{name}/f{i:06d}.txt", b"a b\n")
    few = compile_args(["compile", "examples/wordcount.py", "-i", "memory://splits/ten", "-o", "s3://b/o"])
    many = compile_args(["compile", "examples/wordcount.py", "-i", "memory://splits/lot", "-o", "s3://b/o"])
    assert len(few) == len(many)
    assert few.replace("/ten", "/lot") == many
    # The fan-out is a count that the split task computes at run time.
    tasks = checks.spec_of(checks.load(many))["templates"][0]["dag"]["tasks"]
    count = next(t for t in tasks if t["name"] == "map")["withSequence"]["count"]
    for m in (10, 100_000):
        assert int(checks.substitute(count, {"tasks.split.outputs.parameters.count": str(m)})) == m
    # fs.rm is quadratic in the number of files; drop the keys directly.
    for key in [k for k in fs.store if k.startswith("/splits/")]:
        del fs.store[key]


# -- determinism and the header -------------------------------------------------------


def test_compiling_is_deterministic_under_any_hash_seed() -> None:
    argv = ["-m", "mrargo", *example_args("topwords", "template")]
    outs = set()
    for seed in ("0", "1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
        assert proc.stderr == ""  # YAML on stdout, nothing else
        outs.add(proc.stdout)
    assert outs == {compile_args(example_args("topwords", "template"))}


def test_header_names_the_command_and_cannot_be_escaped() -> None:
    text = compile_args(example_args("topwords", "workflow"))
    first = text.splitlines()[0]
    assert first.startswith("# Generated by mrargo") and "mrargo compile examples/topwords.py" in first and "--param n=20" in first
    with pytest.raises(PlanError, match="control characters"):
        compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/x\nkind: Evil", "-o", "s3://b/o"])


# -- user strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-i", "s3://b/{{workflow.name}}", "-o", "s3://b/o"],
        ["-i", "s3://b/i", "-o", "s3://b/{{workflow.uid}}"],
        ["-i", "s3://b/i", "-o", "s3://b/o", "--param", "x={{workflow.name}}"],
        ["-i", "s3://b/i", "-o", "s3://b/o", "--work-root", "s3://w/{{=sprig.env('X')}}"],
        ["-i", "s3://b/i", "-o", "s3://b/o", "--s3-endpoint", "http://$(HOME):9000"],
    ],
)
def test_strings_argo_or_kubernetes_would_expand_are_refused(argv: list[str]) -> None:
    with pytest.raises(PlanError, match=r"'\{\{'|'\$\('"):
        compile_args(["compile", "examples/wordcount.py", *argv])


def test_dollar_strings_reach_the_worker_only_as_file_data() -> None:
    hostile = "$(HOME)`id`;'\""
    doc = compile_doc("--param", f"x={hostile}", "-i", f"s3://b/{hostile}")
    spec = checks.spec_of(doc)
    values = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    assert values["param-x"] == hostile and hostile in values["input"]
    for t in worker_templates(doc):
        c = t["container"]
        for s in checks._strings([c["command"], c["args"], c.get("env", [])]):
            assert "$(" not in s and "s3://" not in s, (t["name"], s)
        for a in t["inputs"]["artifacts"]:
            assert a["raw"]["data"] == f"{{{{workflow.parameters.{a['name']}}}}}"
    text = compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/in", "-o", "s3://b/out", "--param", f"x={hostile}"])
    assert text.count(hostile) == 2  # the parameter's default and the header comment


def test_local_paths_are_refused_because_pods_cannot_read_them() -> None:
    with pytest.raises(PlanError, match="local path, which pods cannot read"):
        compile_args(["compile", "examples/wordcount.py", "-i", "data/", "-o", "s3://b/o"])


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--name", "Word_Count"), ("--name", "x" * 58), ("--namespace", "jobs-"), ("--service-account", "A..b"), ("--s3-secret", "UPPER")],
)
def test_kubernetes_names_must_be_dns_1123(flag: str, value: str) -> None:
    with pytest.raises(PlanError, match="DNS-1123"):
        compile_doc(flag, value)


def test_default_name_is_derived_from_the_job_file(tmp_path: Path) -> None:
    job = tmp_path / "My_Word_Count.py"
    shutil.copy(ROOT / "examples/wordcount.py", job)
    assert compile_doc(job=str(job))["metadata"]["generateName"] == "my-word-count-"


# -- retries, limits, safety -----------------------------------------------------------


def test_worker_templates_are_hardened_and_retry_only_infrastructure_failures() -> None:
    doc = compile_doc("--timeout", "900", "--cpu", "map=2", "--memory", "reduce=3Gi")
    templates = worker_templates(doc)
    assert {t["name"] for t in templates} == {"split", "map", "shuffle", "reduce", "commit", "cleanup"}
    for t in templates:
        r = t["retryStrategy"]
        assert r["expression"] == 'lastRetry.exitCode != "3"' and r["retryPolicy"] == "Always" and r["limit"] == 3
        assert r["backoff"]["duration"] == "10s"
        assert t["activeDeadlineSeconds"] == 900
        sc = t["container"]["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert t["container"]["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}]
        assert t["metadata"]["labels"]["mrargo.io/job"] == "wordcount"
        res = t["container"]["resources"]
        assert res["requests"]["memory"] == res["limits"]["memory"]
    by = {t["name"]: t for t in templates}
    assert by["map"]["container"]["resources"]["requests"]["cpu"] == "2"
    assert by["reduce"]["container"]["resources"]["limits"]["memory"] == "3Gi"
    assert by["map"]["metadata"]["labels"]["mrargo.io/step"] == "{{inputs.parameters.step}}"
    spec = checks.spec_of(doc)
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["podGC"] == {"strategy": "OnPodSuccess"} and "secondsAfterSuccess" in spec["ttlStrategy"]
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    assert "retryStrategy" not in worker_templates(compile_doc("--retries", "0"))[0]


def test_credentials_are_secret_references_and_options_land_in_the_spec() -> None:
    doc = compile_doc(
        "--s3-secret", "minio-cred", "--s3-secret-keys", "ak,sk", "--artifact-repository", "repos:minio",
        "--parallelism", "7", "--keep-intermediate", "--service-account", "runner",
    )  # fmt: skip
    spec = checks.spec_of(doc)
    env = {e["name"]: e for e in worker_templates(doc)[0]["container"]["env"]}
    assert env["AWS_ACCESS_KEY_ID"] == {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "minio-cred", "key": "ak"}}}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "minio-cred", "key": "sk"}
    assert spec["artifactRepositoryRef"] == {"configMap": "repos", "key": "minio"}
    assert spec["parallelism"] == 7 and spec["serviceAccountName"] == "runner"
    assert "onExit" not in spec and "cleanup" not in {t["name"] for t in spec["templates"]}


def test_template_and_cron_kinds() -> None:
    t = compile_doc("--kind", "template")
    assert t["kind"] == "WorkflowTemplate" and t["metadata"]["name"] == "wordcount"
    assert t["spec"]["workflowMetadata"]["labels"] == {"mrargo.io/job": "wordcount"}
    c = compile_doc("--kind", "cron", "--schedule", "0 3 * * *")
    assert c["kind"] == "CronWorkflow" and c["spec"]["schedules"] == ["0 3 * * *"] and c["spec"]["concurrencyPolicy"] == "Forbid"
    with pytest.raises(PlanError, match="needs --schedule"):
        compile_doc("--kind", "cron")
    with pytest.raises(PlanError, match="not a cron schedule"):
        compile_doc("--kind", "cron", "--schedule", "every day")


def test_too_big_a_bundle_asks_for_a_baked_image(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(200_000))
    job = tmp_path / "bigjob.py"
    job.write_text((ROOT / "examples/wordcount.py").read_text() + "    FILES = ['big.bin']\n")
    with pytest.raises(PlanError, match="--image"):
        compile_doc(job=str(job))
    doc = compile_doc("--image", "registry.example.com/team/bigjob:1", job=str(job))
    params = {p["name"]: p["value"] for p in checks.spec_of(doc)["arguments"]["parameters"]}
    shipped = bundle.decode(params["mrargo-bundle"])
    assert shipped.sources == {} and shipped.job_dir == argo.BAKED_JOB_DIR and shipped.plan.job.path == "bigjob.py"
    assert worker_templates(doc)[0]["container"]["image"] == "registry.example.com/team/bigjob:1"


def test_bundle_carries_the_code_but_no_run_time_values() -> None:
    doc = compile_doc("--param", "n=3", job="examples/topwords.py")
    params = {p["name"]: p["value"] for p in checks.spec_of(doc)["arguments"]["parameters"]}
    b = bundle.decode(params["mrargo-bundle"])
    assert b.sources == {"topwords.py": (ROOT / "examples/topwords.py").read_bytes()}
    assert b.plan.job.path == "topwords.py" and b.plan.params == (("n", ""),)
    assert "s3://" not in json.dumps(b.plan.to_json())
    assert params["param-n"] == "3" and params["input"] == "s3://b/in"


def test_dockerfile_renders_a_non_root_worker_image() -> None:
    stock = argo.render_dockerfile()
    assert stock.startswith("# Worker image") and "FROM python:3.11-slim" in stock
    assert 'pip install "mrargo==' in stock and "USER 10001:10001" in stock and "COPY" not in stock
    args = build_parser("compile").parse_args(["compile", "x"])  # parser exists; dockerfile args are separate
    assert args.job == "x"
    from argparse import ArgumentParser

    p = ArgumentParser()
    argo.add_dockerfile_arguments(p)
    baked = argo.dockerfile_from_args(p.parse_args([str(ROOT / "examples/wordcount.py")]))
    assert 'COPY ["wordcount.py", "/opt/mrargo/job/wordcount.py"]' in baked


def test_cli_writes_yaml_to_stdout_only(capsys: pytest.CaptureFixture[str]) -> None:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(example_args("wordcount", "workflow")) == 0
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("# Generated by mrargo") and checks.load(out)["kind"] == "Workflow"
    assert main(["compile", "examples/none.py", "-i", "s3://b/i", "-o", "s3://b/o"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


# -- end to end: run the spec's own commands ------------------------------------------------


def _local_run(job: str, inputs: str, out: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "mrargo", "run", job, "-i", inputs, "-o", str(out), "-q", *extra], check=True, cwd=ROOT, timeout=300
    )


def _success(path: Path) -> dict[str, Any]:
    summary = json.loads((path / "_SUCCESS").read_text())
    # Attempt counts are the local executor's; on Argo they live in the UI.
    for name in ("task attempts", "task retries"):
        summary["counters"]["mrargo"].pop(name, None)
    return summary


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_compiled_spec_runs_and_matches_mrargo_run(name: str, tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota"]
    for f in range(4):
        lines = [" ".join(words[(f * 7 + i * j) % len(words)] for j in range(9)) for i in range(900)]
        (data / f"part{f}.txt").write_text("\n".join(lines) + "\n")
    job = f"examples/{name}.py"
    _local_run(job, str(data), tmp_path / "expected", "--split-mb", "1", "--reducers", "3", *EXAMPLES[name])
    text = compile_args(["compile", job, "-i", "s3://x/in", "-o", "s3://x/out", "--split-mb", "1", "--reducers", "3", *EXAMPLES[name]])
    got, work = tmp_path / "got", tmp_path / "work"
    sim = checks.Simulator(checks.load(text), {"input": str(data), "output": str(got), "work-root": str(work)}, str(tmp_path / "pods"))
    sim.run()
    expected = sorted(p.name for p in (tmp_path / "expected").iterdir())
    assert sorted(p.name for p in got.iterdir()) == expected
    for part in expected:
        if part.startswith("part-"):
            assert (got / part).read_bytes() == (tmp_path / "expected" / part).read_bytes(), part
    assert _success(got) == _success(tmp_path / "expected")
    assert [argv[3] for argv in sim.pods].count("map") >= 1
    assert sim.pods[-1][3] == "cleanup" and not (work / "mrargo-test-abcde").exists()


def test_map_only_job_compiles_without_shuffle_and_runs(tmp_path: Path) -> None:
    job = tmp_path / "upper.py"
    job.write_text(
        "from mrargo import MapReduce, Step\n\n"
        "class Upper(MapReduce):\n"
        "    def steps(self):\n"
        "        return [Step(mapper=self.up)]\n\n"
        "    def up(self, _, line):\n"
        "        yield line.upper(), self.params.get('tag', '')\n"
    )
    (tmp_path / "in.txt").write_text("a\nb\nc\n")
    hostile = "$(HOME)`id`"
    _local_run(str(job), str(tmp_path / "in.txt"), tmp_path / "expected", "--param", f"tag={hostile}")
    doc = checks.load(compile_args(["compile", str(job), "-i", "s3://x/i", "-o", "s3://x/o", "--param", "tag=default"]))
    assert [t["name"] for t in checks.spec_of(doc)["templates"][0]["dag"]["tasks"]] == ["split", "map", "commit"]
    params = {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "got"), "work-root": str(tmp_path / "w"), "param-tag": hostile}
    checks.Simulator(doc, params, str(tmp_path / "pods")).run()
    assert (tmp_path / "got/part-00000").read_bytes() == (tmp_path / "expected/part-00000").read_bytes()
    assert hostile in (tmp_path / "got/part-00000").read_text()


def test_compile_without_input_or_output_leaves_them_to_submit_time(tmp_path: Path) -> None:
    """`mrargo compile job.py | argo submit - -p input=… -p output=…` works."""
    text = compile_args(["compile", "examples/wordcount.py"])
    params = {p["name"]: p for p in checks.spec_of(checks.load(text))["arguments"]["parameters"]}
    assert "value" not in params["input"] and "value" not in params["output"] and "value" not in params["work-root"]
    path = tmp_path / "noio.yaml"
    path.write_text(text)
    proc = subprocess.run(["bash", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
