"""The plan: a frozen, JSON-serialisable description of one job run.

Both backends consume a Plan and nothing else of the job definition: the
local executor runs it, the Argo compiler lowers it to a Workflow.  A plan
is validated once, where it is built or loaded, with errors that name the
field and the fix.  Step methods are recorded by name, and the worker
looks them up again on the job class, so a plan never holds code.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mrargo.api import HOOKS, INPUT_FORMATS, PHASES, MapReduce, Step
from mrargo.errors import JobDefinitionError, PlanError

PLAN_VERSION = 1
DECODE_ERRORS = ("strict", "replace", "skip")


@dataclass(frozen=True)
class JobRef:
    """Where the job class lives: a file path or an importable module."""

    class_name: str
    path: str = ""  # absolute path of the job's .py file
    module: str = ""  # or a module name, for "module:Class"


@dataclass(frozen=True)
class StepPlan:
    """One step: the names of its methods and its reducer count (0 = map-only)."""

    reducers: int
    mapper: str | None = None
    combiner: str | None = None
    reducer: str | None = None
    mapper_init: str | None = None
    mapper_final: str | None = None
    combiner_init: str | None = None
    combiner_final: str | None = None
    reducer_init: str | None = None
    reducer_final: str | None = None

    @property
    def map_only(self) -> bool:
        return self.reducer is None


@dataclass(frozen=True)
class Options:
    """Tuning and failure-policy knobs, with the defaults users get."""

    # 100 MB (Hadoop's io.sort.mb), not 64: an inverted index's 32 MB map
    # task keeps ~60 MB of (word, [file]) values waiting, which then fits.
    # 500 MB index: 48.5 -> 34.9 s, peak RSS 230 -> 208 MiB (fewer spills).
    sort_buffer_mb: int = 100
    # 32 MB.  64 MB made word count faster (32.3 -> 25.5 s on 500 MB) but
    # kept twice the index's values waiting: 293 MiB peak with a 100 MB
    # buffer, or spills and 49.8 s with a 64 MB one.
    split_mb: int = 32
    max_record_mb: int = 64
    merge_fan_in: int = 64
    max_bad_records: int = 0
    decode_errors: str = "strict"


@dataclass(frozen=True)
class Plan:
    job: JobRef
    steps: tuple[StepPlan, ...]
    inputs: tuple[str, ...]
    output: str
    work_dir: str
    input_format: str = "lines"
    sort_values: bool = False
    custom_partition: bool = False
    params: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()
    options: Options = field(default_factory=Options)
    overwrite: bool = False
    version: int = PLAN_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Plan:
        try:
            d = json.loads(text)
            if d.get("version") != PLAN_VERSION:
                raise PlanError(f"plan version {d.get('version')!r} is not {PLAN_VERSION}; recompile the job with this mrargo")
            plan = Plan(
                job=JobRef(**d["job"]),
                steps=tuple(StepPlan(**s) for s in d["steps"]),
                inputs=tuple(d["inputs"]),
                output=d["output"],
                work_dir=d["work_dir"],
                input_format=d["input_format"],
                sort_values=d["sort_values"],
                custom_partition=d["custom_partition"],
                params=tuple((str(k), str(v)) for k, v in d["params"]),
                files=tuple(d["files"]),
                options=Options(**d["options"]),
                overwrite=d["overwrite"],
            )
        except PlanError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PlanError(f"the plan is not valid JSON for this mrargo version ({e}); recompile the job") from None
        validate_plan(plan)
        return plan

    def step_label(self, step: int) -> str:
        return f"step {step + 1}/{len(self.steps)}"

    def with_(self, **changes: Any) -> Plan:
        plan = replace(self, **changes)
        validate_plan(plan)
        return plan


def step_plans(job: MapReduce, reducers: int | None = None) -> tuple[StepPlan, ...]:
    """Turn ``job.steps()`` into StepPlans, checking each method belongs to the job."""
    cls = type(job).__name__
    try:
        steps = job.steps()
    except Exception as e:  # user code
        raise JobDefinitionError(f"{cls}.steps() raised {type(e).__name__}: {e}") from e
    if not isinstance(steps, (list, tuple)) or not steps:
        raise JobDefinitionError(f"{cls}.steps() must return a non-empty list of Step, got {steps!r}")
    out = []
    for i, step in enumerate(steps):
        if not isinstance(step, Step):
            raise JobDefinitionError(f"{cls}.steps()[{i}] must be a Step, got {type(step).__name__}")
        names: dict[str, str | None] = {}
        for attr in PHASES + HOOKS:
            fn = getattr(step, attr)
            names[attr] = None if fn is None else _method_name(job, fn, f"step {i + 1} {attr}")
        if names["mapper"] is None and names["reducer"] is None:
            raise JobDefinitionError(f"{cls} step {i + 1} has neither a mapper nor a reducer; give it at least one")
        n = step.reducers if step.reducers is not None else (reducers if reducers is not None else type(job).REDUCERS)
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


_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_params(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Parse ``k=v`` strings; the last of repeated names wins."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not _PARAM_NAME.match(name):
            raise PlanError(f"--param {item!r} must look like name=value (name: letters, digits, _ . -)")
        out[name] = value
    return tuple(sorted(out.items()))


def validate_plan(plan: Plan) -> None:
    if not plan.steps:
        raise PlanError("the plan has no steps")
    if not plan.inputs:
        raise PlanError("no input given; pass -i PATH (a file, directory, glob or URL)")
    if not plan.output:
        raise PlanError("no output given; pass -o PATH")
    if plan.input_format not in INPUT_FORMATS:
        raise PlanError(f"INPUT_FORMAT {plan.input_format!r} is not one of {', '.join(INPUT_FORMATS)}")
    for i, s in enumerate(plan.steps):
        if s.reducer is not None and not 1 <= s.reducers <= 100_000:
            raise PlanError(f"step {i + 1} reducers must be between 1 and 100000, got {s.reducers}")
    o = plan.options
    for name in ("sort_buffer_mb", "split_mb", "max_record_mb"):
        if getattr(o, name) < 1:
            raise PlanError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(o, name)}")
    if o.merge_fan_in < 2:
        raise PlanError(f"merge fan-in must be at least 2, got {o.merge_fan_in}")
    if o.max_bad_records < 0:
        raise PlanError(f"--max-bad-records must be 0 or more, got {o.max_bad_records}")
    if o.decode_errors not in DECODE_ERRORS:
        raise PlanError(f"--decode-errors must be one of {', '.join(DECODE_ERRORS)}, got {o.decode_errors!r}")
    for f in plan.files:
        if f.startswith("/") or ".." in f.replace("\\", "/").split("/"):
            raise PlanError(f"FILES entry {f!r} must be a path inside the job's folder, without '..'")
