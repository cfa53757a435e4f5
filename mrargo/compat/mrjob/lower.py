"""Lowering: an mrjob job's MRSteps, as the engine will run them.

mrjob passes every record between tasks as a line of bytes, encoded by a
protocol (mrjob.job.MRJob.pick_protocols): the first script substep reads
with INPUT_PROTOCOL, the last writes with OUTPUT_PROTOCOL, the others use
INTERNAL_PROTOCOL; a command (``*_cmd``) reads and writes plain lines.
mrargo's engine passes JSON data instead.  So each link between two
substeps is carried as one of:

    pairs   the engine's own JSON pairs: when both ends speak JSONProtocol,
            or one end is a command whose lines the JSON end parses; the
            fast path, where the engine calls the user's methods directly
    lines   the line mrjob would have written, cut at its first tab into
            (key text, value text or None), latin-1 so any bytes survive
            and keys sort in byte order, as Hadoop sorts them
    input   the first step's input records (a line, or a whole file)
    output  the job's output line, which the engine writes as it is

``lower`` returns one StepSpec per step: which phases run, how their data
is carried, and whether a phase needs wrappers (mrargo.compat.mrjob.wrappers)
or the engine can call the job's own generator methods.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mrargo.compat.mrjob.protocol import (
    PICKLE_REFUSED,
    JSONProtocol,
    PickleProtocol,
    PickleValueProtocol,
    Protocol,
    RawValueProtocol,
    TextValueProtocol,
)
from mrargo.compat.mrjob.step import MRStep
from mrargo.errors import JobDefinitionError

log = logging.getLogger("mrargo.compat.mrjob")

REDUCES = ("mapreduce.job.reduces", "mapred.reduce.tasks")
# Properties that change how Hadoop cuts, sorts or partitions keys: ignoring
# them would give other output, so they are refused.
REFUSED_JOBCONF = {
    "stream.num.map.output.key.fields", "stream.map.output.field.separator", "stream.reduce.output.field.separator",
    "stream.num.reduce.output.key.fields", "map.output.key.field.separator", "mapreduce.map.output.key.field.separator",
    "num.key.fields.for.partition", "mapreduce.partition.keypartitioner.options", "mapred.text.key.partitioner.options",
    "mapreduce.partition.keycomparator.options", "mapred.text.key.comparator.options",
    "mapreduce.job.output.key.comparator.class", "mapred.output.key.comparator.class",
    "mapreduce.job.partitioner.class", "mapred.partitioner.class",
    "mapreduce.output.fileoutputformat.compress", "mapred.output.compress",
}  # fmt: skip
# Tuning that cannot change the output: ignored without a word.
SILENT_JOBCONF_PREFIXES = ("mapreduce.map.memory", "mapreduce.reduce.memory", "mapreduce.map.java", "mapreduce.reduce.java",
                           "mapreduce.task.timeout", "mapred.task.timeout", "mapreduce.job.name", "mapred.job.name",
                           "mapreduce.job.maps", "mapred.map.tasks", "mapreduce.map.speculative", "mapreduce.reduce.speculative",
                           "mapred.map.tasks.speculative", "mapred.reduce.tasks.speculative", "mapreduce.job.queuename",
                           "mapred.job.queue.name", "mapreduce.job.priority", "mapred.job.priority")  # fmt: skip


@dataclass(frozen=True)
class Edge:
    """How records go from one substep to the next; ``write``/``read`` are the protocols at each end (None for a command)."""

    rep: str  # input | native | pairs | lines | output
    write: Any = None
    read: Any = None


@dataclass(frozen=True)
class Phase:
    """The mapper, combiner or reducer of a step, with its hooks and its two edges."""

    role: str  # mapper | combiner | reducer
    kind: str  # script | raw (mapper_raw) | cmd (*_cmd)
    fn: Any = None  # the job's mapper/combiner/reducer/mapper_raw; None: the identity
    init: Any = None
    final: Any = None
    command: Any = None  # the *_cmd, or the mapper_pre_filter of a script mapper
    read: Any = None  # this substep's protocols (mrjob's pick_protocols)
    write: Any = None
    inp: Edge = Edge("pairs")
    out: Edge = Edge("pairs")
    wrap: bool = True  # False: the engine calls the job's own methods


@dataclass(frozen=True)
class StepSpec:
    mapper: Phase | None  # None: the engine passes records to the shuffle as they are
    combiner: Phase | None
    reducer: Phase | None  # None: map-only
    reducers: int | None  # from jobconf; None leaves it to --reducers and REDUCERS


def lower(job: Any, steps: Sequence[Any], jobconf: Mapping[str, Any], input_format: str, *, custom_protocols: bool, warn: bool) -> tuple[StepSpec, ...]:
    """Check the job's steps and turn them into StepSpecs (see the module docstring).

    ``custom_protocols``: the job overrides pick_protocols.  ``warn``: say
    which jobconf keys are ignored (not in tasks, which would say it again).
    """
    cls = type(job).__name__
    if not isinstance(steps, (list, tuple)) or not steps:
        raise JobDefinitionError(f"{cls}.steps() must return a non-empty list of MRStep, got {steps!r}")
    for i, s in enumerate(steps):
        if not isinstance(s, MRStep):
            raise JobDefinitionError(f"{cls}.steps()[{i}] must be an MRStep, got {type(s).__name__}")
    descs = [s.description(i) for i, s in enumerate(steps)]
    reducers = [_reducers(cls, i, {**jobconf, **(descs[i].get("jobconf") or {})}, warn) for i in range(len(steps))]
    if type(job).REDUCERS == 0:
        # REDUCERS = 0 makes every step map-only, as jobconf reduces=0 does one.
        reducers = [0 if n is None else n for n in reducers]
    protos = protocols(job, descs, custom=custom_protocols)
    phases: list[list[Phase | None]] = []
    for i, (s, d) in enumerate(zip(steps, descs, strict=True)):
        where = f"{cls} step {i + 1}"
        _refuse_substeps(where, s, d)
        if s._steps["mapper_raw"] and (i > 0 or input_format != "files"):
            fix = "mapper_raw reads whole files, so only the first step can have one" if i else "set INPUT_FORMAT = 'files' on the class"
            raise JobDefinitionError(f"{where} has a mapper_raw: {fix}")
        mapper = _phase(s, d, "mapper", protos.get((i, "mapper"))) if "mapper" in d else None
        reducer = _phase(s, d, "reducer", protos.get((i, "reducer"))) if "reducer" in d and reducers[i] != 0 else None
        combiner = None
        if "combiner" in d and reducer is not None:
            if mapper is None or mapper.kind == "cmd":
                raise JobDefinitionError(f"{where} has a combiner after a mapper_cmd; mrargo runs combiners only after Python mappers")
            p = protos[(i, "combiner")][1]
            combiner = Phase("combiner", "script", s._steps["combiner"], s["combiner_init"], s["combiner_final"], read=p, write=p)
        phases.append([mapper, combiner, reducer])
    if input_format == "files" and (phases[0][0] is None or phases[0][0].kind != "raw") and getattr(type(job), "_mrjob_implicit_files", False):
        raise JobDefinitionError(f"{cls} defines mapper_raw but its first step does not use it; set INPUT_FORMAT = 'lines' on the class")
    return tuple(_link(job, phases, reducers, input_format))


def _phase(s: MRStep, d: dict[str, Any], role: str, proto: tuple[Any, Any] | None) -> Phase:
    sub = d[role]
    read, write = proto if proto is not None else (None, None)
    if sub["type"] == "command":
        return Phase(role, "cmd", command=s._steps[f"{role}_cmd"])
    raw = role == "mapper" and s._steps["mapper_raw"]
    fn = s._steps["mapper_raw"] if raw else s._steps[role]
    if fn is None and role == "reducer":
        fn = s["reducer"]  # the identity, when only a hook was given
    return Phase(role, "raw" if raw else "script", fn, s[f"{role}_init"], s[f"{role}_final"], sub.get("pre_filter"), read, write)


def _refuse_substeps(where: str, s: MRStep, d: dict[str, Any]) -> None:
    for key, why in (
        ("combiner_cmd", "a combiner is an optimization: drop it, or fold the command into mapper_cmd"),
        ("combiner_pre_filter", "a combiner is an optimization: drop the filter, or move it to mapper_pre_filter"),
        ("reducer_pre_filter", "filter in the reducer itself, or in a reducer_cmd"),
    ):
        if s._steps[key]:
            raise JobDefinitionError(f"{where} has a {key}, which mrargo does not run; {why}")


def jobconf_problem(key: str, value: Any) -> str | None:
    """Why mrargo cannot honour this jobconf property, or None."""
    if key in REDUCES:
        try:
            if int(str(value)) >= 0:
                return None
        except ValueError:
            pass
        return f"jobconf {key}={value!r} must be a whole number, 0 or more"
    if key in REFUSED_JOBCONF:
        return (
            f"jobconf {key} changes how Hadoop cuts, sorts or partitions keys, which mrargo does not do; "
            "sort values with SORT_VALUES = True, route keys with a partition(self, key, n) method, and remove it"
        )
    return None


# What was already warned about, so that the job made by the runner and the
# ones the engine makes for its plan say it once.
_warned: set[tuple[str, str]] = set()


def _reducers(cls: str, i: int, conf: Mapping[str, Any], warn: bool) -> int | None:
    n: int | None = None
    for key, value in conf.items():
        problem = jobconf_problem(key, value)
        if problem:
            raise JobDefinitionError(f"{cls} step {i + 1}: {problem}")
        if key in REDUCES:
            n = int(str(value))
        elif warn and not key.startswith(SILENT_JOBCONF_PREFIXES) and (cls, key) not in _warned:
            _warned.add((cls, key))
            log.warning("%s: jobconf %s is ignored (mrargo has no Hadoop; only the number of reducers is honoured)", cls, key)
    return n


def protocols(job: Any, descs: list[dict[str, Any]], custom: bool) -> dict[tuple[int, str], tuple[Any, Any]]:
    """Each script substep's (read, write) protocols, chosen as mrjob chooses them.

    With ``custom`` (the job overrides pick_protocols) they come from the
    job, as functions.  A combiner reads and writes what its mapper writes.
    """
    script = [(i, role) for i, d in enumerate(descs) for role in ("mapper", "reducer") if role in d and d[role]["type"] == "script"]
    out: dict[tuple[int, str], tuple[Any, Any]] = {}
    for n, (i, role) in enumerate(script):
        if custom:
            f = _Functions(*job.pick_protocols(i, role))
            out[(i, role)] = (f, f)
            continue
        read = job.input_protocol() if n == 0 else job.internal_protocol()
        write = job.output_protocol() if n == len(script) - 1 else job.internal_protocol()
        pickled = isinstance(read, _PICKLES) or (n < len(script) - 1 and isinstance(write, _PICKLES))
        if pickled:
            which, proto = ("INPUT_PROTOCOL", read) if n == 0 and isinstance(read, _PICKLES) else ("INTERNAL_PROTOCOL", write if isinstance(write, _PICKLES) else read)
            raise JobDefinitionError(f"{type(job).__name__}: {which} {type(proto).__name__} is refused: {PICKLE_REFUSED}")
        out[(i, role)] = (read, write)
    for i, d in enumerate(descs):
        if "combiner" in d:
            p = out[(i, "mapper")][1] if (i, "mapper") in out else RawValueProtocol()
            out[(i, "combiner")] = (p, p)
    return out


_PICKLES = (PickleProtocol, PickleValueProtocol)


class _Functions(Protocol):
    """A job's own pick_protocols gives functions, not protocols: carried as lines, always."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read = read
        self._write = write

    def read(self, line: bytes) -> tuple[Any, Any]:
        return self._read(line)  # type: ignore[no-any-return]

    def write(self, key: Any, value: Any) -> bytes:
        return self._write(key, value)  # type: ignore[no-any-return]


def is_json(p: Any) -> bool:
    return type(p) is JSONProtocol


def _edge(w: Phase | None, r: Phase | None, input_format: str) -> Edge:
    if w is None:
        # "native": INPUT_FORMAT 'files' or 'jsonl' records, given to the mapper as the engine reads them.
        return Edge("input" if input_format == "lines" else "native", read=r.read if r else None)
    if r is None:
        return Edge("output", write=w.write)
    w_cmd, r_cmd = w.kind == "cmd", r.kind == "cmd"
    pairs = (w_cmd or is_json(w.write)) and (r_cmd or is_json(r.read)) and not (w_cmd and r_cmd)
    return Edge("pairs" if pairs else "lines", w.write, r.read)


def _link(job: Any, phases: list[list[Phase | None]], reducers: list[int | None], input_format: str) -> list[StepSpec]:
    """Give every phase its edges and its wrap decision, in the order records flow."""
    chain = [p for mapper, _, reducer in phases for p in (mapper, reducer) if p is not None]
    edges = [_edge(w, r, input_format) for w, r in zip([None, *chain], [*chain, None], strict=True)]
    first = chain[0] if chain else None
    if first is not None and edges[0].rep == "native" and (first.kind == "cmd" or first.command is not None):
        raise JobDefinitionError(f"{type(job).__name__} step 1: mapper_cmd and mapper_pre_filter read lines; remove INPUT_FORMAT = {input_format!r}")
    if first is not None and edges[0].rep == "native" and first.kind == "script" and type(first.read) is not TextValueProtocol:
        raise JobDefinitionError(
            f"{type(job).__name__}: INPUT_PROTOCOL reads lines, but INPUT_FORMAT = {input_format!r} gives the mapper whole records; remove one of them"
        )
    specs = []
    for i, (mapper, combiner, reducer) in enumerate(phases):
        m = r = c = None
        if mapper is not None:
            k = chain.index(mapper)
            m = replace(mapper, inp=edges[k], out=edges[k + 1])
            m = replace(m, wrap=_wrap(job, m))
        if reducer is not None:
            k = chain.index(reducer)
            r = replace(reducer, inp=edges[k], out=edges[k + 1])
            r = replace(r, wrap=_wrap(job, r))
        if combiner is not None and m is not None:
            c = replace(combiner, inp=m.out, out=m.out)
            c = replace(c, wrap=_wrap(job, c))
        if m is not None and not m.wrap and m.fn is None and m.init is None and m.final is None:
            m = None  # the engine's identity mapper does the same, faster
        specs.append(StepSpec(m, c, r, reducers[i]))
    return specs


def _wrap(job: Any, p: Phase) -> bool:
    if p.kind != "script" or p.command is not None:
        return True
    if p.fn is None and p.role != "mapper":
        return True
    if p.fn is not None and not is_own_method(job, p.fn, generator=True):
        return True
    if any(h is not None and not is_own_method(job, h) for h in (p.init, p.final)):
        return True
    if p.inp.rep == "lines" or (p.inp.rep == "input" and type(p.read) is not TextValueProtocol):
        return True
    return p.out.rep != "pairs"


def is_own_method(job: Any, fn: Any, generator: bool = False) -> bool:
    """Whether the engine can call ``fn`` by name: a method of this job, found again under its name."""
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or getattr(fn, "__self__", None) is not job:
        return False
    again = getattr(job, name, None)
    if getattr(again, "__func__", None) is not getattr(fn, "__func__", fn):
        return False
    return not generator or inspect.isgeneratorfunction(fn)
