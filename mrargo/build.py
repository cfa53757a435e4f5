"""Build a Plan from a JOB argument and command-line choices."""

from __future__ import annotations

import os
from typing import Any

from mrargo import store
from mrargo.loader import parse_job_spec, resolve_class
from mrargo.plan import Options, Plan, parse_params, step_plans, validate_plan


def build_plan(
    job_spec: str,
    *,
    inputs: list[str] | tuple[str, ...],
    output: str,
    work_dir: str,
    reducers: int | None = None,
    params: list[str] | tuple[str, ...] = (),
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
) -> tuple[Plan, str]:
    """Load the job, read its class attributes, and return (plan, job folder)."""
    ref, cls = resolve_class(parse_job_spec(job_spec))
    job = cls()
    plan = Plan(
        job=ref,
        steps=step_plans(job, reducers),
        inputs=tuple(store.normalize(i) for i in inputs),
        output=store.normalize(output) if output else "",
        work_dir=work_dir,
        input_format=cls.INPUT_FORMAT,
        sort_values=bool(cls.SORT_VALUES),
        custom_partition=type(job).partition is not _base_partition(),
        params=parse_params(params),
        files=tuple(cls.FILES),
        options=Options(**(options or {})),
        overwrite=overwrite,
    )
    validate_plan(plan)
    job_dir = os.path.dirname(ref.path) if ref.path else os.getcwd()
    return plan, job_dir


def _base_partition() -> Any:
    from mrargo.api import MapReduce

    return MapReduce.partition
