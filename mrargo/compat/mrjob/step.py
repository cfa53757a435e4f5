"""mrjob's steps: ``MRStep`` runs on mrargo; Hadoop jar and Spark steps are refused.

An ``MRStep`` is also a native ``mrargo.Step``, so the engine accepts the
list a job's ``steps()`` returns.  As the job writes it, every engine field
is None and ``_steps`` holds mrjob's keyword arguments; the job lowers it
(mrargo.compat.mrjob.lower) into a copy whose fields are the methods that
tasks call by name.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any, ClassVar

from mrargo.api import Step
from mrargo.errors import JobDefinitionError, MrargoError

__all__ = ["GENERIC_ARGS", "INPUT", "OUTPUT", "JarStep", "MRStep", "SparkJarStep", "SparkScriptStep", "SparkStep", "StepFailedException"]

MAPPER_FUNCS = ("mapper", "mapper_init", "mapper_final", "mapper_cmd", "mapper_pre_filter", "mapper_raw")
COMBINER_FUNCS = ("combiner", "combiner_init", "combiner_final", "combiner_cmd", "combiner_pre_filter")
REDUCER_FUNCS = ("reducer", "reducer_init", "reducer_final", "reducer_cmd", "reducer_pre_filter")
STEP_FUNCS = MAPPER_FUNCS + COMBINER_FUNCS + REDUCER_FUNCS
STEP_PARAMS = (*STEP_FUNCS, "jobconf")

# Placeholders mrjob substitutes in a JarStep's args; kept so imports work.
INPUT = "<input>"
OUTPUT = "<output>"
GENERIC_ARGS = "<generic args>"


def identity_mapper(key: Any, value: Any) -> Iterator[tuple[Any, Any]]:
    yield key, value


def identity_reducer(key: Any, values: Any) -> Iterator[tuple[Any, Any]]:
    for value in values:
        yield key, value


class MRStep(Step):
    """One map/combine/reduce step, given as mrjob's keyword arguments.

    ``mapper``, ``combiner`` and ``reducer`` (and their ``_init``/``_final``
    hooks, ``mapper_raw``) are callables; ``*_cmd`` and ``*_pre_filter``
    are shell commands; ``jobconf`` is a dict of Hadoop properties, of
    which mrargo honours the number of reducers.
    """

    _steps: dict[str, Any]
    __hash__: ClassVar[None]  # type: ignore[assignment]  # mrjob's MRStep compares by value and is unhashable

    def __init__(self, **kwargs: Any) -> None:
        bad = sorted(set(kwargs) - set(STEP_PARAMS))
        if bad:
            raise TypeError(f"MRStep() got an unexpected keyword argument {bad[0]!r}")
        if not set(kwargs) & set(STEP_FUNCS):
            raise ValueError("Step has no mappers and no reducers")
        steps: dict[str, Any] = dict.fromkeys(STEP_PARAMS)
        steps.update(kwargs)
        _check_conflict(steps, "mapper_cmd", MAPPER_FUNCS)
        _check_conflict(steps, "mapper_raw", ("mapper", "mapper_pre_filter"))
        _check_conflict(steps, "combiner_cmd", COMBINER_FUNCS)
        _check_conflict(steps, "reducer_cmd", REDUCER_FUNCS)
        super().__init__()
        object.__setattr__(self, "_steps", steps)

    def _lowered(self, **fields: Any) -> MRStep:
        """A copy whose engine fields are set: what the job hands the engine."""
        out = object.__new__(type(self))
        Step.__init__(out, **fields)
        object.__setattr__(out, "_steps", dict(self._steps))
        return out

    @property
    def has_explicit_mapper(self) -> bool:
        return any(self._steps[f] for f in MAPPER_FUNCS)

    @property
    def has_explicit_combiner(self) -> bool:
        return any(self._steps[f] for f in COMBINER_FUNCS)

    @property
    def has_explicit_reducer(self) -> bool:
        return any(self._steps[f] for f in REDUCER_FUNCS)

    def __getitem__(self, key: str) -> Any:
        # As mrjob: a step that has some reducer (or combiner) function but
        # no reducer itself reduces with the identity.
        if key == "mapper" and self._steps["mapper"] is None:
            return identity_mapper
        if key in ("reducer", "combiner") and self._steps[key] is None:
            explicit = self.has_explicit_reducer if key == "reducer" else self.has_explicit_combiner
            if explicit:
                return identity_reducer
        return self._steps[key]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MRStep) and self._steps == other._steps

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self._steps.items() if v is not None)
        return f"{type(self).__name__}({given})"

    def _substep(self, cmd_key: str, pre_filter_key: str) -> dict[str, Any]:
        cmd = self._steps[cmd_key]
        if cmd:
            if pre_filter_key and self._steps[pre_filter_key]:
                raise ValueError(f"Cannot specify both {cmd_key} and {pre_filter_key}")
            return {"type": "command", "command": cmd if isinstance(cmd, str) else shlex.join(str(c) for c in cmd)}
        sub: dict[str, Any] = {"type": "script"}
        if self._steps[pre_filter_key]:
            sub["pre_filter"] = self._steps[pre_filter_key]
        return sub

    def description(self, step_num: int = 0) -> dict[str, Any]:
        """mrjob's description: which of mapper, combiner and reducer run, and how (script or command)."""
        desc: dict[str, Any] = {"type": "streaming"}
        # The first step always maps (with the identity if need be); a later
        # step without a mapper passes its input straight to the shuffle.
        if step_num == 0 or self.has_explicit_mapper or self.has_explicit_combiner:
            desc["mapper"] = self._substep("mapper_cmd", "mapper_pre_filter")
        if self.has_explicit_combiner:
            desc["combiner"] = self._substep("combiner_cmd", "combiner_pre_filter")
        if self.has_explicit_reducer:
            desc["reducer"] = self._substep("reducer_cmd", "reducer_pre_filter")
        if self._steps["mapper_raw"]:
            desc["input_manifest"] = True
        if self._steps["jobconf"]:
            desc["jobconf"] = self._steps["jobconf"]
        return desc


def _check_conflict(steps: dict[str, Any], func: str, others: tuple[str, ...]) -> None:
    if steps[func]:
        for other in others:
            if other != func and steps[other]:
                raise ValueError(f"Can't specify both {func} and {other}")


class StepFailedException(MrargoError):
    """A run failed; raised by ``runner.run()`` (mrjob's name), with the cause's exit code."""

    def __init__(self, reason: str = "", step_num: int | None = None, num_steps: int | None = None, exit_code: int = 1) -> None:
        where = f"Step {step_num + 1}{f' of {num_steps}' if num_steps else ''}" if step_num is not None else "Job"
        super().__init__(f"{where} failed: {reason}" if reason else f"{where} failed")
        self.reason = reason
        self.step_num = step_num
        self.num_steps = num_steps
        self.exit_code = exit_code


class _RefusedStep:
    """A step kind mrargo cannot run; constructing one says so and what to do."""

    WHY = ""

    def __init__(self, **kwargs: Any) -> None:
        raise JobDefinitionError(f"{type(self).__name__} is not supported: {self.WHY}")


class JarStep(_RefusedStep):
    WHY = "mrargo runs Python map/reduce steps, not Hadoop jars; run the jar on Hadoop or EMR, or port that step to an MRStep"


class SparkStep(_RefusedStep):
    WHY = "mrargo has no Spark runner; keep this job on mrjob's Spark runner, or port the step to MRSteps"


class SparkJarStep(_RefusedStep):
    WHY = "mrargo has no Spark runner and runs no jars; run it with spark-submit"


class SparkScriptStep(_RefusedStep):
    WHY = "mrargo has no Spark runner; run the script with spark-submit"
