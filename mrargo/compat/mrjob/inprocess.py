"""One step's mapper, combiner or reducer, run in this process: mrjob's ``map_pairs`` and ``run_mapper`` family.

These are for unit tests, as in mrjob: no engine, no processes, no
shuffle.  ``map_pairs(pairs)`` runs a step's ``mapper_init``, ``mapper``
and ``mapper_final`` over the pairs given; ``reduce_pairs`` groups runs of
equal keys (sort them first, as Hadoop would) and runs the reducer and its
hooks.  ``run_mapper()`` and friends read lines from ``job.stdin`` and
write lines to ``job.stdout`` with the step's protocols (sandbox() them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from mrargo.compat.mrjob.step import MRStep

Pair = tuple[Any, Any]


def _step(job: Any, step_num: int) -> MRStep:
    steps = job.steps()
    if not 0 <= step_num < len(steps):
        raise ValueError(f"Out-of-range step: {step_num}")
    step: MRStep = steps[step_num]
    return step


def _each(out: Iterable[Pair] | None) -> Iterator[Pair]:
    # mrjob takes a None from any method as no output, and unpacks each
    # item, so one that is not a pair fails here, as it does there.
    for k, v in out or ():  # noqa: UP028
        yield k, v


def map_pairs(job: Any, pairs: Iterable[Pair], step_num: int = 0) -> Iterator[Pair]:
    step = _step(job, step_num)
    if step["mapper_cmd"] or step["mapper_pre_filter"]:
        raise ValueError(f"step {step_num}'s mapper runs a command; run the job with make_runner() to test it")
    if step["mapper_init"]:
        yield from _each(step["mapper_init"]())
    if step["mapper_raw"]:
        raise ValueError(f"step {step_num} has a mapper_raw, which reads files; run the job with make_runner() to test it")
    mapper = step["mapper"]
    for key, value in pairs:
        yield from _each(mapper(key, value))
    if step["mapper_final"]:
        yield from _each(step["mapper_final"]())


def reduce_pairs(job: Any, pairs: Iterable[Pair], step_num: int = 0, role: str = "reducer") -> Iterator[Pair]:
    step = _step(job, step_num)
    task = step[role]
    if task is None or step[f"{role}_cmd"]:
        raise ValueError(f"No {role} in step {step_num}" if task is None else f"step {step_num}'s {role} runs a command; use make_runner()")
    if step[f"{role}_init"]:
        yield from _each(step[f"{role}_init"]())
    for key, group in itertools.groupby(pairs, key=lambda kv: kv[0]):
        yield from _each(task(key, (v for _, v in group)))
    if step[f"{role}_final"]:
        yield from _each(step[f"{role}_final"]())


def run_task(job: Any, role: str, step_num: int = 0) -> None:
    """Lines from job.stdin, through the step's ``role``, to job.stdout, each end with its protocol."""
    read, write = job.pick_protocols(step_num, role)
    pairs = (read(line.rstrip(b"\r\n")) for line in job.stdin)
    out = map_pairs(job, pairs, step_num) if role == "mapper" else reduce_pairs(job, pairs, step_num, role)
    for k, v in out:
        job.stdout.write(write(k, v) + b"\n")
    job.stdout.flush()
