"""The plan: JSON round trip, validation once, method names not code."""

from __future__ import annotations

import os

import pytest
from conftest import EXAMPLES, JOBS

from mrargo.build import build_plan
from mrargo.errors import JobDefinitionError, PlanError
from mrargo.plan import Plan, parse_params


def plan_for(job: str, **kw: object) -> Plan:
    plan, _ = build_plan(job, inputs=["/data/in"], output="/data/out", work_dir="/tmp/w", **kw)  # type: ignore[arg-type]
    return plan


def test_round_trip_is_exact() -> None:
    plan = plan_for(os.path.join(EXAMPLES, "topwords.py"), params=["n=5"], reducers=7)
    again = Plan.from_json(plan.to_json())
    assert again == plan
    assert [s.reducers for s in plan.steps] == [7, 1]
    assert plan.steps[0].mapper == "mapper_words" and plan.steps[1].reducer == "reducer_top"


def test_class_attributes_reach_the_plan() -> None:
    plan = plan_for(os.path.join(JOBS, "secondary.py"))
    assert plan.sort_values and plan.input_format == "jsonl"
    assert plan.steps[1].mapper is None and plan.steps[1].reducer == "count"
    features = plan_for(os.path.join(JOBS, "features.py"))
    assert features.custom_partition and features.files == ("stop_words.txt",)
    assert features.steps[0].mapper_init == "mapper_init" and features.steps[0].reducer_final == "reducer_final"


def test_map_only_step_has_no_reducers() -> None:
    plan = plan_for(os.path.join(JOBS, "maponly.py"))
    assert plan.steps[0].map_only and plan.steps[0].reducers == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"inputs": ()}, "no input given"),
        ({"input_format": "csv"}, "INPUT_FORMAT 'csv' is not one of"),
        ({"files": ("../secret",)}, "without '..'"),
    ],
)
def test_validation_names_the_field(change: dict[str, object], message: str) -> None:
    plan = plan_for(os.path.join(EXAMPLES, "wordcount.py"))
    with pytest.raises(PlanError, match=message):
        plan.with_(**change)


def test_bad_options_are_refused() -> None:
    with pytest.raises(PlanError, match="--sort-buffer-mb must be at least 1"):
        plan_for(os.path.join(EXAMPLES, "wordcount.py"), options={"sort_buffer_mb": 0})
    with pytest.raises(PlanError, match="reducers must be between 1 and 100000"):
        plan_for(os.path.join(EXAMPLES, "wordcount.py"), reducers=0)


def test_plan_from_other_version_or_garbage() -> None:
    with pytest.raises(PlanError, match="plan version"):
        Plan.from_json('{"version": 99}')
    with pytest.raises(PlanError, match="recompile"):
        Plan.from_json('{"version": 1}')


def test_params_parse() -> None:
    assert parse_params(["b=2", "a=x=y", "b=3"]) == (("a", "x=y"), ("b", "3"))
    with pytest.raises(PlanError, match="name=value"):
        parse_params(["=v"])


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
