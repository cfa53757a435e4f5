"""The job plan and the run binding: frozen, JSON-serialisable, validated once.

A ``JobPlan`` is what a job *is*: its steps (methods by name), input format,
sort and partition choices, side files and tuning options.  It is the same
for every run, so a compiled spec carries it in its bundle.  A ``Binding``
is where one run reads and writes: inputs, output, work folder, the job's
parameters and whether to overwrite.  Backends take both; compile takes a
plan alone, plus whatever defaults the user gave.

Step methods are recorded by name, and tasks look them up again on the job
class, so a plan never holds code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mrargo.api import INPUT_FORMATS, OUTPUT_FORMATS
from mrargo.errors import PlanError, UsageError

# 3: a step's reducers may be None, chosen for each run by its split.
# A version 2 plan (every number fixed) still loads.
PLAN_VERSION = 3
READABLE_VERSIONS = (2, 3)
DECODE_ERRORS = ("strict", "replace", "skip")
# Retries of a failed task, for every backend: `mrargo run` and the
# retryStrategy of a compiled spec.
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class JobRef:
    """Where the job class lives: a file path or an importable module."""

    class_name: str
    path: str = ""  # absolute path of the job's .py file (a file name inside a bundle)
    module: str = ""  # or a module name, for "module:Class"


@dataclass(frozen=True)
class StepPlan:
    """One step: the names of its methods and its reducer count (0 = map-only, None = chosen for each run)."""

    reducers: int | None
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

    # 100 MB (Hadoop's io.sort.mb), not 64: an inverted index's 50 MB map
    # task keeps ~97 MB of (word, [file]) values waiting, which then fits.
    # 500 MB index: 48.5 -> 34.9 s, peak RSS 230 -> 208 MiB (fewer spills).
    sort_buffer_mb: int = 100
    # 0: chosen for each run (runtime.inputs.split_bytes), so that a job of a
    # few MB keeps every worker busy.  A number: about that many MB a split.
    split_mb: int = 0
    # What the auto rule aims for: the tasks that run at once where the plan
    # runs (`--workers` locally, `--parallelism` on Argo), and the smallest
    # split worth a task (a forked process locally, a pod on Argo).
    parallel: int = 1
    min_split_mb: int = 1
    max_record_mb: int = 64
    merge_fan_in: int = 64
    max_bad_records: int = 0
    decode_errors: str = "strict"
    # The most map tasks, and the most reducers, of a one-step job; a job of
    # k steps gives each step max_tasks // k (JobPlan.task_cap).  Splits grow
    # to stay under it and reducers are refused over it.  On Argo every task
    # of every step adds nodes to the one workflow object, which must fit in
    # 1 MiB: 2,500 maps and 2,500 reducers, each retried once, take about
    # 0.75 MiB (tests/test_argo_scale.py), which leaves room for the model's
    # error.  At 50 MB splits that is 125 GB before the splits start to grow.
    max_tasks: int = 2_500


def shipped_name(rel: str) -> str:
    """The name a FILES (or DIRS) entry has where tasks run: its basename, a folder's too."""
    return os.path.basename(rel.rstrip("/"))


@dataclass(frozen=True)
class JobPlan:
    """Everything about a job that does not change from run to run."""

    job: JobRef
    steps: tuple[StepPlan, ...]
    input_format: str = "lines"
    output_format: str = "json"
    sort_values: bool = False
    custom_partition: bool = False
    files: tuple[str, ...] = ()
    options: Options = field(default_factory=Options)
    version: int = PLAN_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> JobPlan:
        try:
            d = json.loads(text)
            if d.get("version") not in READABLE_VERSIONS:
                raise PlanError(f"plan version {d.get('version')!r} is not {PLAN_VERSION}; recompile the job with this mrargo")
            plan = JobPlan(
                job=JobRef(**d["job"]),
                steps=tuple(StepPlan(**s) for s in d["steps"]),
                input_format=d["input_format"],
                output_format=d["output_format"],
                sort_values=d["sort_values"],
                custom_partition=d["custom_partition"],
                files=tuple(d["files"]),
                options=Options(**d["options"]),
            )
        except PlanError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise PlanError(f"the plan is not valid JSON for this mrargo version ({e}); recompile the job") from None
        validate_plan(plan)
        return plan

    def task_cap(self) -> int:
        """The most map tasks, and the most reducers, one step may have.

        The budget is the workflow's, not a step's: every step's tasks add
        nodes to the same workflow object, and a later step's maps are the
        step before's reducers.  So the steps share ``max_tasks`` evenly.
        """
        return max(1, self.options.max_tasks // len(self.steps))

    def step_label(self, step: int) -> str:
        return f"step {step + 1}/{len(self.steps)}"

    def with_(self, **changes: Any) -> JobPlan:
        plan = replace(self, **changes)
        validate_plan(plan)
        return plan


@dataclass(frozen=True)
class Binding:
    """Where one run reads and writes.  URLs are normalised (see plan.build.bind)."""

    inputs: tuple[str, ...]
    output: str
    work_dir: str  # this run's own folder: every task of the run shares it
    params: tuple[tuple[str, str], ...] = ()
    overwrite: bool = False


def validate_plan(plan: JobPlan) -> None:
    if not plan.steps:
        raise PlanError("the plan has no steps")
    if plan.input_format not in INPUT_FORMATS:
        raise PlanError(f"INPUT_FORMAT {plan.input_format!r} is not one of {', '.join(INPUT_FORMATS)}")
    if plan.output_format not in OUTPUT_FORMATS:
        raise PlanError(f"OUTPUT_FORMAT {plan.output_format!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    for i, s in enumerate(plan.steps):
        if s.reducer is not None and s.reducers is not None and not 1 <= s.reducers <= 100_000:
            raise PlanError(f"step {i + 1} has {s.reducers} reducers; --reducers (or REDUCERS) takes 0 (map-only) to 100000")
    # The options are flags of run and compile: a bad one is a usage error.
    o = plan.options
    for name in ("sort_buffer_mb", "max_record_mb", "max_tasks", "parallel", "min_split_mb"):
        if getattr(o, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(o, name)}")
    if o.split_mb < 0:
        raise UsageError(f"--split-mb must be 0 (chosen per run) or more, got {o.split_mb}")
    if o.merge_fan_in < 2:
        raise UsageError(f"merge fan-in must be at least 2, got {o.merge_fan_in}")
    if o.max_bad_records < 0:
        raise UsageError(f"--max-bad-records must be 0 or more, got {o.max_bad_records}")
    if o.decode_errors not in DECODE_ERRORS:
        raise UsageError(f"--decode-errors must be one of {', '.join(DECODE_ERRORS)}, got {o.decode_errors!r}")
    shipped = {os.path.basename(plan.job.path)} if plan.job.path else set()
    for f in plan.files:
        if f.startswith("/") or ".." in f.replace("\\", "/").split("/"):
            raise PlanError(f"FILES entry {f!r} must be a path inside the job's folder, without '..'")
        # Tasks see a file or folder under its own name, beside the job file.
        name = shipped_name(f)
        if name in shipped:
            raise PlanError(f"FILES entry {f!r} has the same name as another shipped file; rename one")
        shipped.add(name)
