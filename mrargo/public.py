"""The Python API: ``mrargo.run`` and ``mrargo.compile``, for notebooks, tests and scripts.

    import mrargo
    from wordcount import WordCount

    result = mrargo.run(WordCount, ["data/"], "/tmp/out", overwrite=True)
    result.counters["mrargo"]["reduce output records"]
    dict(result.records())                      # {"the": 4, ...}

    yaml_text = mrargo.compile(WordCount, work_root="s3://b/_work", image="REGISTRY/mrargo-worker:0.1.0")

A job is a MapReduce class or a JOB string (``path/job.py[:Class]``,
``module:Class``).  Both functions call the same typed entry points as the
CLI (``local.run_plan``, ``argo.compiler.compile_workflow``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from mrargo import store
from mrargo.errors import OutputExistsError
from mrargo.plan import DEFAULT_RETRIES, Options, bind, build_plan, parse_params
from mrargo.plan.build import JobLike

__all__ = ["RunResult", "compile", "run"]


@dataclass(frozen=True)
class RunResult:
    """A finished local run: where it wrote, how much, its counters, and its records."""

    output: str
    output_records: int
    parts: int
    counters: dict[str, dict[str, int]]
    output_format: str = "json"  # the job's OUTPUT_FORMAT
    step_counters: tuple[dict[str, dict[str, int]], ...] = ()  # the job's own counters, by step

    def records(self) -> Iterator[tuple[Any, Any]]:
        """Every (key, value) of the output, part file by part file, in key order within each.

        A job whose OUTPUT_FORMAT is ``raw`` wrote values alone, one a line:
        they come back as ``(None, line)``.
        """
        for name in store.list_dir(self.output):
            if name.startswith("part-"):
                for line in store.get_bytes(store.join(self.output, name)).decode("utf-8").splitlines():
                    if self.output_format == "raw":
                        yield None, line
                        continue
                    key, _, value = line.partition("\t")
                    yield json.loads(key), json.loads(value)


def run(
    job: JobLike,
    inputs: str | Sequence[str],
    output: str,
    *,
    params: Mapping[str, str] | None = None,
    reducers: int | None = None,
    overwrite: bool = False,
    work_dir: str | None = None,
    keep_intermediate: bool = False,
    workers: int | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float | None = None,
    progress: bool = False,
    **options: Any,
) -> RunResult:
    """Run ``job`` on this machine, as ``mrargo run`` does.

    ``options`` are the tuning knobs of mrargo.plan.Options: split_mb,
    sort_buffer_mb, max_record_mb, max_bad_records, decode_errors, max_tasks.
    """
    from mrargo import local

    opts = local.LocalOptions(
        workers=local.LocalOptions().workers if workers is None else workers,
        retries=retries,
        timeout=timeout,
        keep_intermediate=keep_intermediate,
        progress=progress,
    ).check()
    plan, job_dir = build_plan(job, reducers=reducers, options=_options({"parallel": opts.workers, **options}))
    urls = [inputs] if isinstance(inputs, str) else list(inputs)
    binding = bind(urls, output, local.new_work_dir(work_dir), params=dict(params or {}), overwrite=overwrite)
    try:
        summary = local.run_plan(plan, binding, opts, job_dir)
    except OutputExistsError as e:
        raise OutputExistsError(e.url, how="pass overwrite=True to replace it") from None
    return RunResult(output=summary.output, output_records=summary.records, parts=summary.parts, counters=summary.counters,
                     output_format=plan.output_format, step_counters=summary.step_counters)  # fmt: skip


def compile(
    job: JobLike,
    *,
    inputs: str | Sequence[str] = (),
    output: str = "",
    work_root: str = "",
    params: Mapping[str, str] | None = None,
    reducers: int | None = None,
    split_mb: int = Options.split_mb,
    sort_buffer_mb: int = Options.sort_buffer_mb,
    max_tasks: int = Options.max_tasks,
    max_record_mb: int = Options.max_record_mb,
    max_bad_records: int = Options.max_bad_records,
    decode_errors: str = Options.decode_errors,
    **options: Any,
) -> str:
    """The Argo spec of ``job`` as YAML, as ``mrargo compile`` prints it.

    ``options`` are the fields of mrargo.argo.options.CompileOptions: kind,
    name, namespace, schedule, image, image_has_job, retries, timeout,
    deadline, parallelism, s3_secret, s3_endpoint, overwrite, ...
    """
    from mrargo.argo.compiler import compile_workflow
    from mrargo.argo.options import DEFAULT_PARALLELISM, POD_MIN_SPLIT_MB, CompileOptions, RunDefaults

    known = {f.name for f in fields(CompileOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"compile() got unknown options {', '.join(unknown)}; it takes {', '.join(sorted(known))}")
    tuning = Options(
        split_mb=split_mb,
        sort_buffer_mb=sort_buffer_mb,
        max_tasks=max_tasks,
        max_record_mb=max_record_mb,
        max_bad_records=max_bad_records,
        decode_errors=decode_errors,
        parallel=options.get("parallelism") or DEFAULT_PARALLELISM,
        min_split_mb=POD_MIN_SPLIT_MB,
    )
    plan, job_dir = build_plan(job, reducers=reducers, options=tuning)
    defaults = RunDefaults(
        inputs=tuple([inputs] if isinstance(inputs, str) else inputs),
        output=output,
        work_root=work_root,
        params=parse_params(dict(params or {})),
    )
    name = getattr(job, "__name__", job)
    return compile_workflow(plan, job_dir, CompileOptions(**options), defaults, command=f"mrargo.compile({name})").to_yaml()


def _options(given: Mapping[str, Any]) -> Options:
    known = {f.name for f in fields(Options)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"run() got unknown options {', '.join(unknown)}; it takes {', '.join(sorted(known))}")
    return Options(**given)
