"""MRStep: mrjob's checks, its description and item access, and a native Step for the engine."""

from __future__ import annotations

from typing import Any

import pytest

from mrargo.api import Step
from mrargo.compat.mrjob.step import MRStep, identity_mapper, identity_reducer
from mrargo.errors import JobDefinitionError


def m(key: Any, value: Any) -> Any:
    yield key, value


def r(key: Any, values: Any) -> Any:
    yield key, sum(values)


def test_an_mrstep_is_a_native_step_with_no_fields_until_lowered() -> None:
    s = MRStep(mapper=m, reducer=r)
    assert isinstance(s, Step) and s.mapper is None and s["mapper"] is m
    low = s._lowered(mapper=m, reducers=3)
    assert low.mapper is m and low.reducers == 3 and low == s


def test_mrjobs_checks() -> None:
    with pytest.raises(ValueError, match="Step has no mappers and no reducers"):
        MRStep(jobconf={})
    with pytest.raises(TypeError, match="unexpected keyword argument 'mapperr'"):
        MRStep(mapperr=m)
    with pytest.raises(ValueError, match="Can't specify both mapper_cmd and mapper"):
        MRStep(mapper=m, mapper_cmd="cat")
    with pytest.raises(ValueError, match="Can't specify both mapper_raw and mapper"):
        MRStep(mapper=m, mapper_raw=m)


def test_identities_and_description() -> None:
    s = MRStep(reducer_init=lambda: None)
    assert s["mapper"] is identity_mapper and s["reducer"] is identity_reducer and s["combiner"] is None
    assert s.description(0) == {"type": "streaming", "mapper": {"type": "script"}, "reducer": {"type": "script"}}
    assert s.description(1) == {"type": "streaming", "reducer": {"type": "script"}}
    c = MRStep(mapper_cmd=["grep", "a b"], reducer=r, jobconf={"x": 1})
    assert c.description(1) == {"type": "streaming", "mapper": {"type": "command", "command": "grep 'a b'"}, "reducer": {"type": "script"}, "jobconf": {"x": 1}}
    f = MRStep(mapper_pre_filter="grep x", mapper=m)
    assert f.description(0)["mapper"] == {"type": "script", "pre_filter": "grep x"}


def test_equality_and_repr_follow_mrjob() -> None:
    assert MRStep(mapper=m) == MRStep(mapper=m) and MRStep(mapper=m) != MRStep(reducer=r)
    assert repr(MRStep(mapper=m)).startswith("MRStep(mapper=<function m")
    with pytest.raises(TypeError):
        hash(MRStep(mapper=m))


@pytest.mark.parametrize("name", ["JarStep", "SparkStep", "SparkJarStep", "SparkScriptStep"])
def test_jar_and_spark_steps_refuse(name: str) -> None:
    from mrargo.compat.mrjob import step

    with pytest.raises(JobDefinitionError, match=f"{name} is not supported"):
        getattr(step, name)(args=[])
