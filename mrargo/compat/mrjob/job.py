"""mrjob's ``MRJob``, on mrargo: a ported job changes only its imports.

``MRJob`` is a ``mrargo.MapReduce``, so ``mrargo run job.py`` and ``mrargo
compile job.py`` take it as they take a native job, and ``python job.py``
runs it through ``MRJob.run()`` (mrargo.cli.mrjob).  Its ``steps()`` gives
the engine native steps: mrjob's MRSteps, lowered (mrargo.compat.mrjob.lower).
Where a step needs its records decoded or encoded with a protocol, or runs a
command, the engine calls wrappers that the job keeps under names such as
``_mrjob_step0_reducer``; ``__getattr__`` builds them again in every task.

A task's job is made by the engine without a command line.  The run's
options (the job's passthrough and file options), jobconf and cmdenv reach
it as the job parameter ``mrjob`` (JSON), and the ``params`` setter, which
the engine calls first thing in every task, loads them.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from io import BytesIO
from typing import Any, ClassVar

from mrargo.api import MapReduce
from mrargo.compat.mrjob import compat, inprocess, lower, wrappers
from mrargo.compat.mrjob.protocol import JSONProtocol, RawValueProtocol
from mrargo.compat.mrjob.step import STEP_FUNCS, MRStep, SparkStep
from mrargo.compat.mrjob.util import to_lines
from mrargo.errors import JobDefinitionError, UsageError

__all__ = ["MRJob", "UsageError"]

log = logging.getLogger("mrargo.compat.mrjob")

# The job parameter that carries the run's options to every task.
PARAM = "mrjob"
# The command line of the run being planned: the engine makes its own
# instance of the job to read its steps, and that one must see the same
# options (a job's steps may depend on them, as mrjob allows).
_planning: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("mrjob_planning", default=None)


@contextlib.contextmanager
def planning(args: list[str]) -> Iterator[None]:
    token = _planning.set(list(args))
    try:
        yield
    finally:
        _planning.reset(token)


def _lowering(user_steps: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def steps(self: MRJob) -> list[Any]:
        return self._engine_steps(user_steps(self))

    steps.__doc__ = user_steps.__doc__
    steps._mrjob_lowers = True  # type: ignore[attr-defined]
    return steps


class MRJob(MapReduce):
    """Base class of a ported mrjob job.  The README's "Coming from mrjob" says what is supported."""

    INPUT_PROTOCOL: ClassVar[type] = RawValueProtocol
    INTERNAL_PROTOCOL: ClassVar[type] = JSONProtocol
    OUTPUT_PROTOCOL: ClassVar[type] = JSONProtocol
    # The output protocol writes each line; the engine writes it as it is.
    OUTPUT_FORMAT: ClassVar[str] = "raw"
    # Map-only must be decided where the steps are lowered (the mapper then
    # writes the output protocol); a plain --reducers 0 comes too late.
    REDUCERS_ZERO_FIX: ClassVar[str] = "set REDUCERS = 0 on the class, or run python job.py -D mapreduce.job.reduces=0"
    HADOOP_INPUT_FORMAT: ClassVar[str | None] = None
    HADOOP_OUTPUT_FORMAT: ClassVar[str | None] = None
    PARTITIONER: ClassVar[str | None] = None
    LIBJARS: ClassVar[list[str]] = []
    DIRS: ClassVar[list[str]] = []
    ARCHIVES: ClassVar[list[str]] = []
    JOBCONF: ClassVar[dict[str, Any]] = {}
    _mrjob_implicit_files: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("steps")
        if own is not None and not getattr(own, "_mrjob_lowers", False):
            cls.steps = _lowering(own)  # type: ignore[method-assign,assignment]
        # mapper_raw reads whole files: the engine must give it files, not lines.
        explicit = any("INPUT_FORMAT" in k.__dict__ and not k.__dict__.get("_mrjob_implicit_files") for k in cls.__mro__[: cls.__mro__.index(MRJob)])
        if callable(getattr(cls, "mapper_raw", None)) and not explicit:
            cls.INPUT_FORMAT = "files"
            cls._mrjob_implicit_files = True

    def __init__(self, args: list[str] | None = None) -> None:
        from mrargo.cli.mrjob import job_arg_parser, lenient_defaults

        self._passthru_arg_dests: set[str] = set()
        self._file_arg_dests: set[str] = set()
        self._task: dict[str, Any] | None = None
        self._stdin: Any = None
        self._stdout: Any = None
        self._stderr: Any = None
        self.arg_parser = job_arg_parser()
        self.configure_args()
        # Unlike mrjob, no args never means sys.argv: the engine makes jobs
        # inside mrargo's own processes (run() passes sys.argv itself).
        cl = args if args is not None else _planning.get()
        self._cl_args = list(cl or [])
        if cl is None:
            self.options = lenient_defaults(self.arg_parser)
        else:
            self.load_args(self._cl_args)

    # -- arguments ------------------------------------------------------------

    def configure_args(self) -> None:
        """Define the job's arguments; call super().configure_args() first, then add_passthru_arg() ..."""
        from mrargo.cli.mrjob import add_switches

        add_switches(self.arg_parser)

    def load_args(self, args: list[str]) -> None:
        """Set ``self.options``; in a task, from the run's options rather than ``args``."""
        from mrargo.cli.mrjob import lenient_defaults, parse_job_args

        if self._task is not None:
            self.options = lenient_defaults(self.arg_parser)
            vars(self.options).update(self._task.get("options", {}))
        else:
            self.options = parse_job_args(self.arg_parser, args)

    def add_passthru_arg(self, *args: Any, **kwargs: Any) -> None:
        """An argument that the job's tasks see too, in ``self.options``."""
        self._passthru_arg_dests.add(self.arg_parser.add_argument(*args, **kwargs).dest)

    def add_file_arg(self, *args: Any, **kwargs: Any) -> None:
        """An argument naming a local file that every task can read (shipped with -r argo when it lies beside the job)."""
        if kwargs.get("type") not in (None, str):
            raise TypeError("file options must take strings")
        if kwargs.get("action") not in (None, "append", "store"):
            raise TypeError("file options must use the actions 'store' or 'append'")
        self._file_arg_dests.add(self.arg_parser.add_argument(*args, **kwargs).dest)

    def pass_arg_through(self, opt_str: str) -> None:
        """Let tasks see one of the built-in switches."""
        from mrargo.cli.mrjob import dest_of

        self._passthru_arg_dests.add(dest_of(self.arg_parser, opt_str))

    def is_task(self) -> bool:
        """True inside a map or reduce task."""
        return self._task is not None

    @property
    def params(self) -> dict[str, str]:
        return dict(self.__dict__.get("_params", {}))

    @params.setter
    def params(self, value: dict[str, str]) -> None:
        # The engine sets params on the job of each task before calling it.
        self.__dict__["_params"] = dict(value)
        try:
            task = json.loads(value.get(PARAM, "{}"))
        except ValueError as e:
            raise UsageError(f"job parameter {PARAM!r} is not JSON ({e}); it is written by python job.py -r ...") from None
        self._task = task if isinstance(task, dict) else {}
        for k in [k for k in self.__dict__ if k.startswith("_mrjob_")]:
            del self.__dict__[k]  # steps are lowered again, with this run's options
        os.environ.update({str(k): str(v) for k, v in self.task_cmdenv().items()})  # as mrjob's task environment
        self.load_args([])
        compat.set_task_job(self)

    def task_jobconf(self) -> dict[str, Any]:
        """The job-wide jobconf: JOBCONF or jobconf(), then --jobconf."""
        given = self._task.get("jobconf", {}) if self._task is not None else getattr(self.options, "jobconf", None) or {}
        return {**self.jobconf(), **given}

    def task_cmdenv(self) -> dict[str, str]:
        return dict(self._task.get("cmdenv", {}) if self._task is not None else getattr(self.options, "cmdenv", None) or {})

    # -- what mrjob lets a job override -----------------------------------------

    def input_protocol(self) -> Any:
        return self.INPUT_PROTOCOL()

    def internal_protocol(self) -> Any:
        return self.INTERNAL_PROTOCOL()

    def output_protocol(self) -> Any:
        return self.OUTPUT_PROTOCOL()

    def pick_protocols(self, step_num: int, step_type: str) -> tuple[Any, Any]:
        """The (read, write) functions of a substep: ``step_type`` is mapper, combiner or reducer.

        A job may override this for protocols per step; its records then go
        between tasks as lines (mrargo.compat.mrjob.lower).
        """
        descs = [s.description(i) for i, s in enumerate(self.steps())]
        try:
            read, write = lower.protocols(self, descs, custom=False)[(step_num, step_type)]  # mrjob's own choice
        except KeyError:
            raise ValueError(f"step {step_num} has no {step_type} that runs in Python, so it has no protocols") from None
        return read.read, write.write

    def jobconf(self) -> dict[str, Any]:
        return dict(self.JOBCONF)

    def hadoop_input_format(self) -> str | None:
        return self.HADOOP_INPUT_FORMAT

    def hadoop_output_format(self) -> str | None:
        return self.HADOOP_OUTPUT_FORMAT

    def partitioner(self) -> str | None:
        return self.PARTITIONER

    def libjars(self) -> list[str]:
        return list(self.LIBJARS)

    def dirs(self) -> list[str]:
        return list(self.DIRS)

    def archives(self) -> list[str]:
        return list(self.ARCHIVES)

    def sort_values(self) -> bool:
        return bool(self.SORT_VALUES)

    # -- steps ----------------------------------------------------------------

    def steps(self) -> list[Any]:
        """One MRStep from the methods the job defines; override to return several."""
        kwargs = {}
        for name in STEP_FUNCS:
            fn = getattr(type(self), name, None)
            if fn is None:
                continue
            value = getattr(self, name)
            # Commands are methods returning the command (or a plain string).
            kwargs[name] = value() if name.endswith(("_cmd", "_pre_filter")) and callable(value) else value
        if callable(getattr(self, "spark", None)):
            SparkStep()  # raises: mrargo has no Spark
        if not kwargs:
            raise JobDefinitionError(f"{type(self).__name__} defines no mapper, combiner or reducer, and no steps(); define them")
        return [MRStep(**kwargs)]

    def _engine_steps(self, mr_steps: Any) -> list[MRStep]:
        """The steps as the engine runs them: each MRStep with its engine fields set."""
        if self._task is not None and "_mrjob_engine" in self.__dict__:
            return list(self.__dict__["_mrjob_engine"])  # lowered once per task: wrappers keep their state
        self._refuse_unsupported()
        custom = type(self).pick_protocols is not MRJob.pick_protocols
        specs = lower.lower(self, mr_steps, self.task_jobconf(), type(self).INPUT_FORMAT, custom_protocols=custom, warn=self._task is None)
        for k in [k for k in self.__dict__ if k.startswith("_mrjob_step")]:
            del self.__dict__[k]
        engine = []
        for i, (step, spec) in enumerate(zip(mr_steps, specs, strict=True)):
            fns = wrappers.build(self, i, spec)
            self.__dict__.update(fns)
            fields: dict[str, Any] = {"reducers": spec.reducers}
            for p in (spec.mapper, spec.combiner, spec.reducer):
                if p is None:
                    continue
                for hook, own in (("", p.fn), ("_init", p.init), ("_final", p.final)):
                    fields[p.role + hook] = fns.get(wrappers.method_name(i, p.role, hook[1:])) if p.wrap else own
            engine.append(step._lowered(**fields))
        self.__dict__["_mrjob_engine"] = engine
        return list(engine)

    def __getattr__(self, name: str) -> Any:
        # Called for missing attributes only.  A task asks for the wrappers
        # by name, as for any method, before anything lowered its steps.
        if not name.startswith("_mrjob_step"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        if "_mrjob_engine" not in self.__dict__:
            self.steps()  # lowers them, and keeps the wrappers on the instance
            if name in self.__dict__:
                return self.__dict__[name]
        raise JobDefinitionError(
            f"{type(self).__name__}.steps() gives other steps in this task than when the job was planned ({name} is not among them); "
            "steps() may depend only on options that reach every task: the job's passthrough options, given to python job.py"
        )

    def _refuse_unsupported(self) -> None:
        cls = type(self).__name__
        checks = (
            (self.hadoop_input_format(), "HADOOP_INPUT_FORMAT", "mrargo reads text lines, or whole files with mapper_raw"),
            (self.hadoop_output_format(), "HADOOP_OUTPUT_FORMAT", "mrargo writes the output protocol's lines"),
            (self.partitioner(), "PARTITIONER", "define partition(self, key, n) on the job to route keys"),
            (self.libjars(), "LIBJARS", "mrargo runs no Java"),
            (self.archives(), "ARCHIVES", "mrargo unpacks no archives: list the files or folder in FILES or DIRS, or install the contents in the worker image"),
        )
        for value, what, fix in checks:
            if value:
                raise JobDefinitionError(f"{cls} sets {what}, which mrargo does not support: {fix}")
        if self.sort_values() != bool(type(self).SORT_VALUES):
            raise JobDefinitionError(f"{cls}.sort_values() differs from SORT_VALUES; set SORT_VALUES on the class, which mrargo reads before any job exists")
        if type(self).OUTPUT_FORMAT != "raw":
            raise JobDefinitionError(f"{cls} sets OUTPUT_FORMAT; an mrjob job's output is OUTPUT_PROTOCOL's lines, so remove it")
        for what in ("FILES", "DIRS"):
            for f in getattr(type(self), what):
                if "#" in f:
                    raise JobDefinitionError(f"{cls}.{what} entry {f!r}: mrargo ships them under their own names; rename it instead of using #")
        if self.dirs() != list(type(self).DIRS):
            raise JobDefinitionError(f"{cls}.dirs() differs from DIRS; set DIRS on the class, which mrargo reads before any job exists")

    # -- counters, status ----------------------------------------------------------

    def increment_counter(self, group: Any, counter: Any, amount: int = 1) -> None:
        """Add to a counter; as in mrjob, commas in names become semicolons."""
        if not isinstance(amount, int):
            raise TypeError(f"amount must be an integer, not {amount!r}")
        super().increment_counter(str(group).replace(",", ";"), str(counter).replace(",", ";"), int(amount))

    def set_status(self, msg: str) -> None:
        """Hadoop's task status.  mrargo has none: the message is logged at debug level (python job.py -v shows it)."""
        log.debug("status: %s", msg)

    # -- running and testing ------------------------------------------------------

    @classmethod
    def run(cls) -> None:
        """``python job.py ...``: run the job as mrjob's command line does, and exit."""
        from mrargo.cli.mrjob import main

        sys.exit(main(cls, sys.argv[1:]))

    def make_runner(self) -> Any:
        """A runner for this job's command line: ``with job.make_runner() as r: r.run()``."""
        from mrargo.compat.mrjob.runner import Runner

        return Runner(self)

    # One step's parts in this process, for unit tests (mrargo.compat.mrjob.inprocess).

    def map_pairs(self, pairs: Iterable[tuple[Any, Any]], step_num: int = 0) -> Iterator[tuple[Any, Any]]:
        return inprocess.map_pairs(self, pairs, step_num)

    def combine_pairs(self, pairs: Iterable[tuple[Any, Any]], step_num: int = 0) -> Iterator[tuple[Any, Any]]:
        return inprocess.reduce_pairs(self, pairs, step_num, "combiner")

    def reduce_pairs(self, pairs: Iterable[tuple[Any, Any]], step_num: int = 0) -> Iterator[tuple[Any, Any]]:
        return inprocess.reduce_pairs(self, pairs, step_num, "reducer")

    def run_mapper(self, step_num: int = 0) -> None:
        inprocess.run_task(self, "mapper", step_num)

    def run_combiner(self, step_num: int = 0) -> None:
        inprocess.run_task(self, "combiner", step_num)

    def run_reducer(self, step_num: int = 0) -> None:
        inprocess.run_task(self, "reducer", step_num)

    def parse_output(self, chunks: Iterable[bytes]) -> Iterator[tuple[Any, Any]]:
        """Output bytes (runner.cat_output()) as (key, value) pairs, read with the output protocol."""
        read = self.output_protocol().read
        for line in to_lines(chunks):
            # As mrjob: each line is read with its newline.
            yield read(line)

    @classmethod
    def mr_job_script(cls) -> str | None:
        try:
            return inspect.getsourcefile(cls)
        except TypeError:
            return None

    @property
    def stdin(self) -> Any:
        return self._stdin or getattr(sys.stdin, "buffer", sys.stdin)

    @property
    def stdout(self) -> Any:
        return self._stdout or getattr(sys.stdout, "buffer", sys.stdout)

    @property
    def stderr(self) -> Any:
        return self._stderr or getattr(sys.stderr, "buffer", sys.stderr)

    def sandbox(self, stdin: Any = None, stdout: Any = None, stderr: Any = None) -> MRJob:
        """Use these file objects (BytesIO by default) for stdin, stdout and stderr: mrjob's unit-testing pattern."""
        self._stdin = stdin or BytesIO()
        self._stdout = stdout or BytesIO()
        self._stderr = stderr or BytesIO()
        return self


MRJob.steps = _lowering(MRJob.steps)  # type: ignore[method-assign,assignment]
