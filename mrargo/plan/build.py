"""Build a job plan from a job, and bind a run to its inputs, output and work folder.

``build_plan`` reads the job's class (steps, attributes) and calls no
storage; ``bind`` normalises the run's URLs and refuses an output that
meets an input before any work starts, on every backend.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mrargo import store
from mrargo.api import HOOKS, METHODS, MapReduce, Step
from mrargo.errors import JobDefinitionError, UsageError
from mrargo.plan.loader import parse_job_spec, ref_of_class, resolve_class
from mrargo.plan.model import Binding, JobPlan, JobRef, Options, StepPlan, validate_plan

JobLike = str | type[MapReduce]
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def load_job(job: JobLike) -> tuple[JobRef, type[MapReduce]]:
    """A JOB argument (path/job.py[:Class], module:Class) or a class, loaded."""
    ref = ref_of_class(job) if isinstance(job, type) else parse_job_spec(job)
    return resolve_class(ref)


def build_plan(job: JobLike, *, reducers: int | None = None, options: Options | None = None) -> tuple[JobPlan, str]:
    """Load the job and read its class: (plan, the folder its FILES are relative to)."""
    ref, cls = load_job(job)
    try:
        instance = cls()
    except Exception as e:  # user code
        raise JobDefinitionError(f"{cls.__name__}() raised {type(e).__name__}: {e}") from e
    plan = JobPlan(
        job=ref,
        steps=step_plans(instance, reducers),
        input_format=cls.INPUT_FORMAT,
        output_format=cls.OUTPUT_FORMAT,
        sort_values=bool(cls.SORT_VALUES),
        custom_partition=callable(getattr(cls, "partition", None)),
        files=(*cls.FILES, *getattr(cls, "DIRS", ())),  # DIRS: a ported mrjob job's folders
        options=options or Options(),
    )
    validate_plan(plan)
    return plan, job_folder(ref)


def job_folder(ref: JobRef) -> str:
    """Where the job's FILES are: beside its file, or beside its module."""
    if ref.path:
        return os.path.dirname(ref.path)
    module_file = getattr(sys.modules.get(ref.module), "__file__", None)
    return os.path.dirname(os.path.abspath(module_file)) if module_file else os.getcwd()


def bind(
    inputs: Sequence[str],
    output: str,
    work_dir: str,
    *,
    params: Mapping[str, str] | Sequence[str] = (),
    overwrite: bool = False,
) -> Binding:
    """The run's binding: URLs normalised, and checked apart before any work."""
    if not inputs:
        raise UsageError("no input given; pass -i PATH (a file, directory, glob or URL)")
    if not output:
        raise UsageError("no output given; pass -o PATH")
    binding = Binding(
        inputs=tuple(store.normalize(i) for i in inputs),
        output=store.normalize(output),
        work_dir=store.normalize(work_dir),
        params=parse_params(params),
        overwrite=overwrite,
    )
    store.check_apart(binding.inputs, binding.output, binding.work_dir)
    return binding


def parse_params(items: Mapping[str, str] | Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``k=v`` strings or a mapping, sorted by name; the last of repeated names wins."""
    pairs = list(items.items()) if isinstance(items, Mapping) else [_split_param(i) for i in items]
    out: dict[str, str] = {}
    for name, value in pairs:
        if not _PARAM_NAME.match(name):
            raise UsageError(f"--param {name}={value} has a bad name: use letters, digits, _ . - (starting with a letter or _)")
        out[name] = str(value)
    return tuple(sorted(out.items()))


def _split_param(item: str) -> tuple[str, str]:
    name, eq, value = item.partition("=")
    if not eq:
        raise UsageError(f"--param {item!r} must look like name=value")
    return name, value


def step_plans(job: MapReduce, reducers: int | None = None) -> tuple[StepPlan, ...]:
    """Turn ``job.steps()`` into StepPlans, checking each method belongs to the job."""
    cls = type(job).__name__
    try:
        steps = job.steps()
    except Exception as e:  # user code
        raise JobDefinitionError(f"{cls}.steps() raised {type(e).__name__}: {e}") from e
    if not isinstance(steps, (list, tuple)) or not steps:
        raise JobDefinitionError(f"{cls}.steps() must return a non-empty list of Step, got {steps!r}")
    fix = getattr(type(job), "REDUCERS_ZERO_FIX", "")
    if reducers == 0 and fix:
        raise UsageError(f"--reducers 0 cannot make {cls} map-only: its steps write mrjob's protocols; {fix}")
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, Step):
            raise JobDefinitionError(f"{cls}.steps()[{i}] must be a Step, got {type(step).__name__}")
        names: dict[str, str | None] = {}
        for attr in METHODS + HOOKS:
            fn = getattr(step, attr)
            names[attr] = None if fn is None else _method_name(job, fn, f"step {i + 1} {attr}")
        if names["mapper"] is None and names["reducer"] is None:
            raise JobDefinitionError(f"{cls} step {i + 1} has neither a mapper nor a reducer; give it at least one")
        n = step.reducers if step.reducers is not None else (reducers if reducers is not None else type(job).REDUCERS)
        if n == 0:
            # No reducers, as in Hadoop: the step is map-only, and its
            # combiner and reducer are not run.
            names.update(combiner=None, reducer=None, combiner_init=None, combiner_final=None, reducer_init=None, reducer_final=None)
        if names["reducer"] is None:
            n = 0
        out.append(StepPlan(reducers=n, **names))
    return tuple(out)


def _method_name(job: MapReduce, fn: Any, where: str) -> str:
    name = getattr(fn, "__name__", None)
    bound = getattr(job, name, None) if isinstance(name, str) else None
    if bound is None or getattr(bound, "__func__", bound) is not getattr(fn, "__func__", fn):
        raise JobDefinitionError(
            f"{type(job).__name__} {where} must be a method of the job class (self.{name or '...'}), got {fn!r}"
        )
    return str(name)
