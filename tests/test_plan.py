"""The job plan and the run binding: JSON round trip, validation once, method names not code."""

from __future__ import annotations

import os

import pytest
from conftest import EXAMPLES, JOBS

from mrargo.errors import JobDefinitionError, PlanError, UsageError
from mrargo.plan import JobPlan, Options, bind, build_plan, parse_params


def plan_for(job: str, **kw: object) -> JobPlan:
    plan, _ = build_plan(job, **kw)  # type: ignore[arg-type]
    return plan


def test_round_trip_is_exact() -> None:
    plan = plan_for(os.path.join(EXAMPLES, "topwords.py"), reducers=7)
    again = JobPlan.from_json(plan.to_json())
    assert again == plan
    assert [s.reducers for s in plan.steps] == [7, 1]
    assert plan.steps[0].mapper == "mapper_words" and plan.steps[1].reducer == "reducer_top"


def test_reducers_left_to_the_run_are_none_and_a_version_2_plan_still_loads() -> None:
    """A job without REDUCERS leaves them to each run's split; a plan compiled before that (every number fixed) still loads."""
    plan = plan_for(os.path.join(EXAMPLES, "topwords.py"))
    assert [s.reducers for s in plan.steps] == [None, 1]  # step 2 fixes its own: one reducer sees every count
    assert JobPlan.from_json(plan.to_json()) == plan
    older = plan_for(os.path.join(EXAMPLES, "topwords.py"), reducers=4).to_json().replace('"version":3', '"version":2')
    assert [s.reducers for s in JobPlan.from_json(older).steps] == [4, 1]


def test_a_plan_holds_no_run_values() -> None:
    """Inputs, output, work folder and parameters are the binding's: one plan serves every run."""
    text = plan_for(os.path.join(EXAMPLES, "wordcount.py")).to_json()
    for word in ("inputs", "output", "work_dir", "params", "overwrite"):
        assert f'"{word}"' not in text


def test_class_attributes_reach_the_plan() -> None:
    plan = plan_for(os.path.join(JOBS, "secondary.py"))
    assert plan.sort_values and plan.input_format == "jsonl"
    assert plan.steps[1].mapper is None and plan.steps[1].reducer == "count"
    features = plan_for(os.path.join(JOBS, "features.py"))
    assert features.custom_partition and features.files == ("stop_words.txt",)
    assert features.steps[0].mapper_init == "mapper_init" and features.steps[0].reducer_final == "reducer_final"
    assert not plan_for(os.path.join(EXAMPLES, "wordcount.py")).custom_partition


def test_a_class_builds_the_same_plan_as_its_file() -> None:
    plan = plan_for(os.path.join(EXAMPLES, "wordcount.py"))
    from mrargo.plan.build import load_job

    _, cls = load_job(os.path.join(EXAMPLES, "wordcount.py"))
    assert plan_for(cls) == plan  # type: ignore[arg-type]


def test_map_only_step_has_no_reducers() -> None:
    plan = plan_for(os.path.join(JOBS, "maponly.py"))
    assert plan.steps[0].map_only and plan.steps[0].reducers == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"input_format": "csv"}, "INPUT_FORMAT 'csv' is not one of"),
        ({"files": ("../secret",)}, "without '..'"),
        ({"files": ("a/x.txt", "b/x.txt/")}, "'b/x.txt/' has the same name as another shipped file"),  # a file and a folder
        ({"files": ("lib/wordcount.py",)}, "has the same name as another shipped file"),  # as the job file
        ({"options": Options(max_tasks=0)}, "--max-tasks must be at least 1"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], message: str) -> None:
    plan = plan_for(os.path.join(EXAMPLES, "wordcount.py"))
    with pytest.raises((PlanError, UsageError), match=message):
        plan.with_(**change)


def test_bad_options_are_refused() -> None:
    with pytest.raises(UsageError, match="--sort-buffer-mb must be at least 1"):
        plan_for(os.path.join(EXAMPLES, "wordcount.py"), options=Options(sort_buffer_mb=0))
    with pytest.raises(PlanError, match=r"step 1 has -1 reducers; --reducers \(or REDUCERS\) takes 0 \(map-only\) to 100000"):
        plan_for(os.path.join(EXAMPLES, "wordcount.py"), reducers=-1)
    assert plan_for(os.path.join(EXAMPLES, "wordcount.py"), reducers=0).steps[0].map_only


def test_plan_from_other_version_or_garbage() -> None:
    with pytest.raises(PlanError, match="plan version"):
        JobPlan.from_json('{"version": 99}')
    with pytest.raises(PlanError, match="recompile"):
        JobPlan.from_json('{"version": 2}')


def test_params_parse() -> None:
    assert parse_params(["b=2", "a=x=y", "b=3"]) == (("a", "x=y"), ("b", "3"))
    assert parse_params({"k": "v"}) == (("k", "v"),)
    with pytest.raises(UsageError, match="bad name"):
        parse_params(["=v"])
    with pytest.raises(UsageError, match="name=value"):
        parse_params(["novalue"])


def test_bind_normalises_and_checks(tmp_path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    b = bind([f"file://{src}/"], str(tmp_path / "out") + "/", str(tmp_path / "work"), params=["n=3"])
    assert b.inputs == (str(src),) and b.output == str(tmp_path / "out") and b.params == (("n", "3"),)
    with pytest.raises(UsageError, match="no input given"):
        bind([], str(tmp_path / "out"), str(tmp_path / "work"))
    with pytest.raises(UsageError, match="no output given"):
        bind([str(src)], "", str(tmp_path / "work"))
    with pytest.raises(PlanError, match="is inside input"):
        bind([str(src)], str(src / "out"), str(tmp_path / "work"))


def test_step_methods_must_belong_to_the_job(tmp_path) -> None:
    job = tmp_path / "lam.py"
    job.write_text(
        "from mrargo import MapReduce, Step\n"
        "class Lam(MapReduce):\n"
        "    def steps(self):\n"
        "        return [Step(mapper=lambda k, v: [(k, v)])]\n"
    )
    with pytest.raises(JobDefinitionError, match="must be a method of the job class"):
        plan_for(str(job))
