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

from mrargo.argo import contract
from mrargo.cli import main
from mrargo.errors import UsageError
from mrargo.plan import bundle
from mrargo.specrun import RunSpecOptions, SpecError, SpecOptions, run_spec
from mrargo.specrun.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "workflows"
EXAMPLES = {"wordcount": [], "indexer": [], "topwords": ["--param", "n=20"]}
VALIDATOR = ROOT / "tests" / "argo-validate" / "run.sh"
# What the committed specs name: the image `mrargo image build` tags by default.
GOLDEN_IMAGE = "mrargo/worker:0.1.0"


def example_args(name: str, kind: str) -> list[str]:
    base = f"s3://mrargo-examples/{name}"
    return ["compile", f"examples/{name}.py", "-i", f"{base}/input/", "-o", f"{base}/output/", "--kind", kind,
            "--image", GOLDEN_IMAGE, *EXAMPLES[name]]  # fmt: skip


def compile_doc(*extra: str, job: str = "examples/wordcount.py") -> dict[str, Any]:
    return checks.load(compile_args(["compile", job, "-i", "s3://b/in", "-o", "s3://b/out", *extra]))


def worker_templates(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in checks.spec_of(doc)["templates"] if "container" in t}


def validate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(VALIDATOR), *args], capture_output=True, text=True, timeout=1200)


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
            "--artifact-repository", "my-repos:minio", "--service-account", "mrargo-runner", "--namespace", "jobs",
            "--retries", "5", "--timeout", "600", "--deadline", "7200", "--cpu", "map=2", "--memory", "reduce=4Gi",
            "--parallelism", "20", "--keep-intermediate", "--s3-secret", "minio-cred", "--s3-endpoint", "http://minio.argo:9000",
            "--name", "wc", "--image-pull-policy", "Never", "--param", "empty=",
        ],
    }  # fmt: skip
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


def test_every_spec_passes_the_spec_runners_checks(tmp_path: Path) -> None:
    for f in all_variants(tmp_path):
        load_spec(checks.load(f.read_text()))


def test_the_spec_runner_catches_broken_references() -> None:
    doc = compile_doc()
    tasks = checks.spec_of(doc)["templates"][0]["dag"]["tasks"]
    broken = json.loads(json.dumps(doc))
    checks.spec_of(broken)["templates"][0]["dag"]["tasks"][1]["template"] = "mapp"
    with pytest.raises(SpecError, match="template 'mapp' does not exist"):
        load_spec(broken)
    tasks[3]["withSequence"]["count"] = "{{tasks.commit.outputs.parameters.count}}"
    with pytest.raises(SpecError, match=r"\{\{tasks.commit.outputs.parameters.count\}\}, which is not defined there"):
        load_spec(doc)


def test_argo_own_validator_accepts_every_spec(tmp_path: Path) -> None:
    assert VALIDATOR.exists(), "tests/argo-validate/run.sh is missing"
    files = all_variants(tmp_path)
    proc = validate(*map(str, files))
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
        proc = validate(str(path))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert message in proc.stdout + proc.stderr


def test_specs_pass_argo_submit_validation_and_missing_values_are_named(tmp_path: Path) -> None:
    """`argo submit` refuses a parameter with no value; an empty one (--param k=) is a value."""
    full = tmp_path / "full.yaml"
    full.write_text(compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/in", "-o", "s3://b/out", "--param", "k="]))
    bare = tmp_path / "bare.yaml"
    bare.write_text(compile_args(["compile", "examples/wordcount.py", "--work-root", "s3://b/_work"]))
    assert validate("--submit", str(full)).returncode == 0
    refused = validate("--submit", str(bare))
    assert refused.returncode == 1 and "spec.arguments.input.value or spec.arguments.input.valueFrom is required" in refused.stdout
    given = validate("--submit", "-p", "input=s3://b/in", "-p", "output=s3://b/out", str(bare))
    assert given.returncode == 0, given.stdout + given.stderr


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
    assert [p["name"] for p in worker_templates(doc)["commit"]["outputs"]["parameters"]] == ["counters", "records"]


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
    few = compile_args(["compile", "examples/wordcount.py", "-i", "s3://splits/ten", "-o", "s3://b/o"])
    many = compile_args(["compile", "examples/wordcount.py", "-i", "s3://splits/lot", "-o", "s3://b/o"])
    assert len(few) == len(many)
    assert few.replace("/ten", "/lot") == many
    for key in [k for k in fs.store if k.startswith("/splits/")]:
        del fs.store[key]


def test_each_task_gets_only_the_values_it_reads() -> None:
    """A node keeps its inputs in the workflow's status, once per attempt: the long input list rides only where needed."""
    doc = compile_doc("--param", "n=1")
    got = {name: [a["name"] for a in t["inputs"]["artifacts"]] for name, t in worker_templates(doc).items()}
    assert got == {
        "split": ["input", "output", "work-root"], "map": ["work-root", "param-n"], "shuffle": ["work-root"],
        "reduce": ["work-root", "param-n"], "commit": ["input", "output", "work-root"], "cleanup": ["work-root"],
    }  # fmt: skip


def test_only_the_split_carries_the_bundle_and_every_task_checks_its_digest() -> None:
    doc = compile_doc(job="examples/topwords.py")
    templates = worker_templates(doc)
    env = {name: {e["name"]: e.get("value") for e in t["container"]["env"]} for name, t in templates.items()}
    text = env["split"][contract.BUNDLE_ENV]
    assert all(contract.BUNDLE_ENV not in e for name, e in env.items() if name != "split")
    import hashlib

    digest = hashlib.sha256(text.encode()).hexdigest()
    for t in templates.values():
        args = t["container"]["args"]
        assert args[args.index("--bundle") + 1] == digest
    b = bundle.decode(text)
    assert b.sources == {"topwords.py": (ROOT / "examples/topwords.py").read_bytes()} and b.plan.job.path == "topwords.py"
    assert "s3://" not in b.plan.to_json()
    params = {p["name"]: p.get("value") for p in checks.spec_of(doc)["arguments"]["parameters"]}
    assert contract.BUNDLE_ENV not in json.dumps(params) and params["input"] == "s3://b/in"


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
    with pytest.raises(UsageError, match="control characters"):
        compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/x\nkind: Evil", "-o", "s3://b/o"])


# -- user strings and options ----------------------------------------------------------


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
    with pytest.raises(UsageError, match=r"'\{\{'|'\$\('"):
        compile_args(["compile", "examples/wordcount.py", *argv])


def test_dollar_strings_reach_the_worker_only_as_file_data() -> None:
    hostile = "$(HOME)`id`;'\""
    doc = compile_doc("--param", f"x={hostile}", "-i", f"s3://b/{hostile}")
    spec = checks.spec_of(doc)
    values = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    assert values["param-x"] == hostile and hostile in values["input"]
    for name, t in worker_templates(doc).items():
        c = t["container"]
        for s in checks._strings([c["command"], c["args"], c.get("env", [])]):
            assert "$(" not in s and "s3://" not in s, (name, s)
        for a in t["inputs"]["artifacts"]:
            assert a["raw"]["data"] == f"{{{{workflow.parameters.{a['name']}}}}}"
            assert a["path"].startswith(contract.VALUES_DIR + "/")
    text = compile_args(["compile", "examples/wordcount.py", "-i", "s3://b/in", "-o", "s3://b/out", "--param", f"x={hostile}"])
    assert text.count(hostile) == 2  # the parameter's default and the header comment


def test_local_paths_and_schemes_the_image_cannot_read_are_refused() -> None:
    with pytest.raises(UsageError, match="local path, which pods cannot read"):
        compile_args(["compile", "examples/wordcount.py", "-i", "data/", "-o", "s3://b/o"])
    with pytest.raises(UsageError, match="the stock worker image reads s3://, s3a:// only; for gs:// build an image"):
        compile_args(["compile", "examples/wordcount.py", "-i", "gs://b/in", "-o", "gs://b/o", "--image", GOLDEN_IMAGE])
    compile_args(["compile", "examples/wordcount.py", "-i", "gs://b/in", "-o", "gs://b/o", "--image", "team/worker-gcs:1"])


def test_a_work_root_is_known_at_compile_time() -> None:
    """Without -o, where runs keep their data must be said: a bucket lifecycle rule applies to it."""
    with pytest.raises(UsageError, match="no work root: pass --work-root URL"):
        compile_args(["compile", "examples/wordcount.py"])
    params = {p["name"]: p for p in checks.spec_of(compile_doc())["arguments"]["parameters"]}
    assert params["work-root"]["value"] == "s3://b/_mrargo-work"


def test_compile_needs_an_image_it_can_vouch_for() -> None:
    from mrargo.cli import build_parser
    from mrargo.cli.compile import compile_args as compile_parsed

    args = build_parser("compile").parse_args(["compile", str(ROOT / "examples/wordcount.py"), "-o", "s3://b/o"])
    with pytest.raises(UsageError, match="not a published release.*mrargo image build"):
        compile_parsed(args)


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--name", "Word_Count"), ("--name", "x" * 58), ("--namespace", "jobs-"), ("--service-account", "A..b"), ("--s3-secret", "UPPER")],
)
def test_kubernetes_names_must_be_dns_1123(flag: str, value: str) -> None:
    with pytest.raises(UsageError, match="DNS-1123"):
        compile_doc(flag, value)


def test_name_limits_are_per_kind() -> None:
    """A cron run is named NAME-<unix time>, so Argo allows 52 characters for a CronWorkflow (validate.go)."""
    compile_doc("--kind", "template", "--name", "x" * 63)
    with pytest.raises(UsageError, match="at most 52"):
        compile_doc("--kind", "cron", "--schedule", "@daily", "--name", "x" * 53)
    compile_doc("--kind", "cron", "--schedule", "@daily", "--name", "x" * 52)


def test_default_name_is_derived_from_the_job_file(tmp_path: Path) -> None:
    job = tmp_path / "My_Word_Count.py"
    shutil.copy(ROOT / "examples/wordcount.py", job)
    assert compile_doc(job=str(job))["metadata"]["generateName"] == "my-word-count-"


# -- retries, limits, safety -----------------------------------------------------------


def test_pods_run_as_a_user_that_argo_own_containers_inherit() -> None:
    """Argo's init and wait containers take the pod's securityContext; its stock executor image runs as root."""
    spec = checks.spec_of(compile_doc())
    assert spec["securityContext"] == {
        "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"},
    }  # fmt: skip


def test_worker_templates_are_hardened_and_retry_only_what_may_pass() -> None:
    doc = compile_doc("--timeout", "900", "--cpu", "map=2", "--memory", "reduce=3Gi")
    templates = worker_templates(doc)
    assert set(templates) == {"split", "map", "shuffle", "reduce", "commit", "cleanup"}
    for t in templates.values():
        r = t["retryStrategy"]
        assert r["expression"] == 'lastRetry.exitCode != "3"' and r["retryPolicy"] == "Always" and r["limit"] == 2
        assert r["backoff"] == {"duration": "10s", "factor": 2, "cap": "5m"}  # no maxDuration: it would cut a long task's retry
        assert t["activeDeadlineSeconds"] == 900
        c = t["container"]
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["seccompProfile"]["type"] == "RuntimeDefault"
        assert c["volumeMounts"] == [{"name": "scratch", "mountPath": "/tmp"}, {"name": "values", "mountPath": "/mrargo/values"}]
        assert c["imagePullPolicy"] == "IfNotPresent" and c["image"] == "mrargo/worker:test"
        assert t["metadata"]["labels"]["mrargo.io/job"] == "wordcount"
        res = c["resources"]
        assert res["requests"]["memory"] == res["limits"]["memory"]
    assert templates["map"]["container"]["resources"]["requests"]["cpu"] == "2"
    assert templates["reduce"]["container"]["resources"]["limits"]["memory"] == "3Gi"
    assert templates["map"]["metadata"]["labels"]["mrargo.io/step"] == "{{inputs.parameters.step}}"
    assert "--status" in templates["cleanup"]["container"]["args"]
    spec = checks.spec_of(doc)
    assert spec["podGC"] == {"strategy": "OnPodSuccess"} and "secondsAfterSuccess" in spec["ttlStrategy"]
    assert spec["volumes"] == [{"name": "scratch", "emptyDir": {}}, {"name": "values", "emptyDir": {}}]
    assert spec["activeDeadlineSeconds"] == 86400 and spec["parallelism"] == 100 and spec["serviceAccountName"] == "mrargo"
    assert "retryStrategy" not in worker_templates(compile_doc("--retries", "0"))["map"]
    unbounded = checks.spec_of(compile_doc("--deadline", "0", "--parallelism", "0"))
    assert "activeDeadlineSeconds" not in unbounded and "parallelism" not in unbounded


def test_credentials_are_secret_references_and_options_land_in_the_spec() -> None:
    doc = compile_doc(
        "--s3-secret", "minio-cred", "--s3-secret-keys", "ak,sk", "--artifact-repository", "repos:minio",
        "--parallelism", "7", "--keep-intermediate", "--service-account", "runner", "--overwrite",
    )  # fmt: skip
    spec = checks.spec_of(doc)
    templates = worker_templates(doc)
    env = {e["name"]: e for e in templates["map"]["container"]["env"]}
    assert env["AWS_ACCESS_KEY_ID"] == {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "minio-cred", "key": "ak"}}}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "minio-cred", "key": "sk"}
    assert spec["artifactRepositoryRef"] == {"configMap": "repos", "key": "minio"}
    assert spec["parallelism"] == 7 and spec["serviceAccountName"] == "runner"
    assert "onExit" not in spec and "cleanup" not in templates
    assert [n for n, t in templates.items() if "--overwrite" in t["container"]["args"]] == ["split", "commit"]


def test_template_and_cron_kinds() -> None:
    t = compile_doc("--kind", "template")
    assert t["kind"] == "WorkflowTemplate" and t["metadata"]["name"] == "wordcount"
    assert t["spec"]["workflowMetadata"]["labels"] == {"mrargo.io/job": "wordcount"}
    c = compile_doc("--kind", "cron", "--schedule", "0 3 * * *")
    assert c["kind"] == "CronWorkflow" and c["spec"]["schedules"] == ["0 3 * * *"] and c["spec"]["concurrencyPolicy"] == "Forbid"
    with pytest.raises(UsageError, match="needs --schedule"):
        compile_doc("--kind", "cron")
    with pytest.raises(UsageError, match="not a cron schedule"):
        compile_doc("--kind", "cron", "--schedule", "every day")


def test_too_big_a_bundle_asks_for_an_image_with_the_job(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(os.urandom(200_000))
    job = tmp_path / "bigjob.py"
    job.write_text((ROOT / "examples/wordcount.py").read_text() + "    FILES = ['big.bin']\n")
    with pytest.raises(UsageError, match="--image IMG --image-has-job"):
        compile_doc(job=str(job))
    doc = compile_doc("--image", "team/bigjob:1", "--image-has-job", job=str(job))
    split = worker_templates(doc)["split"]
    shipped = bundle.decode(next(e["value"] for e in split["container"]["env"] if e["name"] == contract.BUNDLE_ENV))
    assert shipped.sources == {} and shipped.job_dir == contract.BAKED_JOB_DIR and shipped.plan.job.path == "bigjob.py"
    assert split["container"]["image"] == "team/bigjob:1"
    with pytest.raises(UsageError, match="--image-has-job needs --image"):
        from mrargo.argo.options import CompileOptions, check_options
        from mrargo.plan import build_plan

        check_options(build_plan(str(job))[0], CompileOptions(image_has_job=True))


def test_reducers_over_the_task_cap_are_refused() -> None:
    with pytest.raises(UsageError, match="more than --max-tasks 50"):
        compile_doc("--reducers", "51", "--max-tasks", "50")


def test_cli_writes_yaml_to_stdout_only(capsys: pytest.CaptureFixture[str]) -> None:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(example_args("wordcount", "workflow")) == 0
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("# Generated by mrargo") and checks.load(out)["kind"] == "Workflow"
    assert main(["compile", "examples/none.py", "-i", "s3://b/i", "-o", "s3://b/o", "--image", "x/y:1"]) == 3
    assert capsys.readouterr().err.count("\n") == 1


# -- end to end: the spec runs, on mrargo's own spec runner -------------------------------


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


def _quiet(pods_dir: str = "") -> RunSpecOptions:
    # A failed run keeps its pods' folders for their logs: give it one under tmp_path.
    return RunSpecOptions(scheduler=SpecOptions(progress=False, backoff=False, pods_dir=pods_dir))


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
    tree = run_spec(checks.load(text), {"input": str(data), "output": str(got), "work-root": str(work)}, _quiet())
    assert tree.phase == "Succeeded", tree.error_line()
    expected = sorted(p.name for p in (tmp_path / "expected").iterdir())
    assert sorted(p.name for p in got.iterdir()) == expected
    for part in expected:
        if part.startswith("part-"):
            assert (got / part).read_bytes() == (tmp_path / "expected" / part).read_bytes(), part
    assert _success(got) == _success(tmp_path / "expected")
    assert list(work.iterdir()) == []  # the exit handler removed the run's folder after the success


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
    assert run_spec(doc, params, _quiet()).phase == "Succeeded"
    assert (tmp_path / "got/part-00000").read_bytes() == (tmp_path / "expected/part-00000").read_bytes()
    assert hostile in (tmp_path / "got/part-00000").read_text()


def test_a_failed_run_keeps_its_work_folder_for_a_retry(tmp_path: Path) -> None:
    """The exit handler cleans up only after a success (argo retry re-runs failed nodes in the same folder)."""
    (tmp_path / "in.txt").write_text("a\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old").write_text("x")
    doc = checks.load(compile_args(["compile", "examples/wordcount.py", "-i", "s3://x/i", "-o", "s3://x/o"]))
    work = tmp_path / "w"
    params = {"input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out"), "work-root": str(work)}
    tree = run_spec(doc, params, _quiet(str(tmp_path / "pods")))
    assert tree.phase == "Failed" and "already exists" in tree.error_line()
    assert [p.name for p in work.iterdir()] == [tree.workflow]  # kept, with the staged bundle


def test_the_steps_of_a_job_share_the_task_cap() -> None:
    """Every step's tasks go into one workflow object: two steps get half the cap each."""
    with pytest.raises(UsageError, match=r"more than --max-tasks 50 shared by 2 steps \(25 each\); pass --reducers 25 or fewer"):
        compile_doc("--reducers", "26", "--max-tasks", "50", job="examples/topwords.py")
    compile_doc("--reducers", "25", "--max-tasks", "50", job="examples/topwords.py")


def test_compile_says_which_parameters_must_come_at_submit() -> None:
    """A Workflow compiled without -i/-o is valid, but Argo refuses it at submit until -p gives them."""
    from conftest import TEST_IMAGE, mrargo

    base = ["compile", "examples/wordcount.py", "--image", TEST_IMAGE, "--work-root", "s3://b/w"]
    note = mrargo(*base).stderr
    assert note == "mrargo compile: note: input and output have no default; give them at submit: argo submit - -p input=URL -p output=URL\n"
    assert "output has no default" in mrargo(*base, "--kind", "cron", "--schedule", "@daily", "-i", "s3://b/i").stderr
    assert mrargo(*base, "-i", "s3://b/i", "-o", "s3://b/o").stderr == ""
    assert mrargo(*base, "--kind", "template").stderr == ""  # a template is given its values by design
