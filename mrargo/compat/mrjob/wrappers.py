"""The callables the engine runs for a lowered phase: decode, call the job's method, encode.

``build(job, index, spec)`` returns ``{name: function}`` for every phase of
the step that needs wrapping (see mrargo.compat.mrjob.lower).  MRJob keeps
them on the instance under those names, so every task finds them by name,
as the engine finds any method.  Each is a generator: a method of the job
that returns None (which mrjob accepts) yields nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, starmap
from typing import Any

from mrargo.compat.mrjob.compat import input_uri
from mrargo.compat.mrjob.lower import Edge, Phase, StepSpec
from mrargo.compat.mrjob.pipe import LinePipe
from mrargo.compat.mrjob.protocol import TextValueProtocol
from mrargo.compat.mrjob.step import identity_mapper, identity_reducer

Pair = tuple[Any, Any]
Writer = Callable[[Any, Any], Pair] | None
Fn = Callable[..., Iterator[Pair]]


def method_name(index: int, role: str, hook: str = "") -> str:
    return f"_mrjob_step{index}_{role}{'_' + hook if hook else ''}"


def build(job: Any, index: int, spec: StepSpec) -> dict[str, Fn]:
    out: dict[str, Fn] = {}
    for phase in (spec.mapper, spec.combiner, spec.reducer):
        if phase is None or not phase.wrap:
            continue
        fns = _phase_fns(job, phase)
        for hook, fn in fns.items():
            name = method_name(index, phase.role, hook)
            fn.__name__ = name
            fn.__qualname__ = f"{type(job).__name__}.{name}"
            out[name] = fn
    return out


# -- encoding and decoding at each kind of edge -------------------------------


def split_line(line: bytes) -> Pair:
    key, tab, value = line.partition(b"\t")
    return key.decode("latin-1"), (value.decode("latin-1") if tab else None)


def join_line(key: str, value: str | None) -> bytes:
    return key.encode("latin-1") if value is None else key.encode("latin-1") + b"\t" + value.encode("latin-1")


def writer(edge: Edge, proto: Any) -> Writer:
    """A script's (key, value) as the engine carries it on ``edge``; None: as it is."""
    if edge.rep == "lines":
        write = proto.write
        return lambda k, v: split_line(write(k, v))
    if edge.rep == "output":
        text = proto.text
        return lambda k, v: (None, text(k, v))
    return None


def line_writer(edge: Edge) -> Callable[[bytes], Pair]:
    """A command's output line as the engine carries it on ``edge``."""
    if edge.rep == "pairs":
        return edge.read.read  # type: ignore[no-any-return]  # the JSON end parses it
    if edge.rep == "lines":
        return split_line

    def output(line: bytes) -> Pair:
        try:
            return None, line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"the command wrote a line that is not UTF-8 (at byte {e.start}); mrargo writes text output") from None

    return output


def line_of(edge: Edge) -> Callable[[Any, Any], bytes]:
    """A record arriving on ``edge`` as the line mrjob would have written."""
    if edge.rep == "input":
        return lambda k, v: v.encode("utf-8")
    if edge.rep == "pairs":
        return edge.write.write  # type: ignore[no-any-return]
    return join_line


def emit(out: Iterable[Pair] | None, write: Writer) -> Iterable[Pair]:
    """What a job's method returned, encoded for the engine: None is nothing, as mrjob has it."""
    if out is None:
        return ()
    # starmap: the per-pair loop runs in C, with no generator frame of ours per pair.
    return out if write is None else starmap(write, out)


def _hook(fn: Any, write: Writer) -> Fn:
    def hook() -> Iterator[Pair]:
        yield from emit(fn(), write)

    return hook


def _phase_fns(job: Any, p: Phase) -> dict[str, Fn]:
    if p.kind == "cmd":
        return _command(job, p)
    write = writer(p.out, p.write)
    fns: dict[str, Fn] = {}
    if p.init is not None:
        fns["init"] = _hook(p.init, write)
    if p.final is not None:
        fns["final"] = _hook(p.final, write)
    if p.role == "mapper":
        if p.kind == "raw":
            fns[""] = _raw_mapper(p.fn, write)
        elif p.command is not None:
            fns.update(_pre_filtered(job, p, write, fns.get("final")))
        else:
            fns[""] = _mapper(p.fn or identity_mapper, _record_reader(p), write)
    elif p.fn is not None or p.role == "reducer":
        fns[""] = _reducer(p.fn or identity_reducer, p.read.read if p.inp.rep == "lines" else None, write)
    return fns


def _record_reader(p: Phase) -> Callable[[Any, Any], Pair] | None:
    if p.inp.rep == "lines":
        read = p.read.read
        return lambda k, v: read(join_line(k, v))
    if p.inp.rep == "input" and type(p.read) is not TextValueProtocol:
        read = p.read.read
        return lambda k, v: read(v.encode("utf-8"))
    return None


def _mapper(fn: Any, read: Callable[[Any, Any], Pair] | None, write: Writer) -> Fn:
    def mapper(key: Any, value: Any) -> Iterator[Pair]:
        if read is not None:
            key, value = read(key, value)
        yield from emit(fn(key, value), write)

    return mapper


def _reducer(fn: Any, read: Callable[[bytes], Pair] | None, write: Writer) -> Fn:
    def reducer(key: Any, values: Iterable[Any]) -> Iterator[Pair]:
        if read is not None:
            # Every line of a group has the same key text, so the first
            # line's key is the group's key, as mrjob decodes it.
            kb = key.encode("latin-1")
            it = iter(values)
            key, first = read(_join_bytes(kb, next(it)))
            values = chain((first,), (read(_join_bytes(kb, v))[1] for v in it))
        yield from emit(fn(key, values), write)

    return reducer


def _join_bytes(kb: bytes, value: str | None) -> bytes:
    return kb if value is None else kb + b"\t" + value.encode("latin-1")


def _raw_mapper(fn: Any, write: Writer) -> Fn:
    def mapper(url: str, _text: str) -> Iterator[Pair]:
        with _local_file(url) as path:
            yield from emit(fn(path, url), write)

    return mapper


@contextlib.contextmanager
def _local_file(url: str) -> Iterator[str]:
    """A local path holding the input file's bytes as stored (mrjob hands mapper_raw the file, not its text)."""
    if "://" not in url:
        yield url
        return
    from mrargo import store

    fd, path = tempfile.mkstemp(suffix="-" + os.path.basename(url))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(store.get_bytes(url))
        yield path
    finally:
        os.unlink(path)


# -- commands: *_cmd and mapper_pre_filter --------------------------------------


class _Running:
    """The command of one task, started at its first record (or at its end, for an empty task)."""

    def __init__(self, job: Any, what: str, command: Any, shell: bool, ok_codes: tuple[int, ...]) -> None:
        self.job, self.what, self.command, self.shell, self.ok_codes = job, what, command, shell, ok_codes
        self.pipe: LinePipe | None = None

    def started(self) -> LinePipe:
        if self.pipe is None:
            self.pipe = LinePipe(self.what, self.command, shell=self.shell, env=task_env(self.job), ok_codes=self.ok_codes)
        return self.pipe

    def finish(self) -> Iterator[bytes]:
        pipe = self.started()
        self.pipe = None
        yield from pipe.close()
        for group, name, n in pipe.counters:
            self.job.increment_counter(group, name, n)


def task_env(job: Any) -> dict[str, str]:
    """The environment a command runs in: as a Hadoop task's, with the job's jobconf and --cmdenv."""
    env = dict(os.environ)
    for key, value in job.task_jobconf().items():
        env[key.replace(".", "_")] = str(value)
    if job.input_file:
        env["mapreduce_map_input_file"] = env["map_input_file"] = input_uri(job.input_file)
    env.update(job.task_cmdenv())
    return env


def _command(job: Any, p: Phase) -> dict[str, Fn]:
    # mrjob runs a *_cmd without a shell (split as the shell would), so do we.
    run = _Running(job, f"{p.role}_cmd", p.command, shell=False, ok_codes=(0,))
    to_line, from_line = line_of(p.inp), line_writer(p.out)
    single = p.role == "mapper"

    def task(key: Any, value: Any) -> Iterator[Pair]:
        pipe = run.started()
        for v in ((value,) if single else value):
            for line in pipe.feed(to_line(key, v)):
                yield from_line(line)

    def final() -> Iterator[Pair]:
        for line in run.finish():
            yield from_line(line)

    return {"": task, "final": final}


def _pre_filtered(job: Any, p: Phase, write: Writer, user_final: Fn | None) -> dict[str, Fn]:
    # mrjob pipes the task's input through `sh -c FILTER`.  The filter's own
    # status is not checked by mrjob's shell; here 0 and 1 (grep's "nothing
    # matched") pass and anything else fails the task, so a broken filter
    # cannot silently empty the input.
    run = _Running(job, "mapper_pre_filter", p.command, shell=True, ok_codes=(0, 1))
    to_line, read, fn = line_of(p.inp), p.read.read, p.fn or identity_mapper

    def through(line: bytes) -> Iterator[Pair]:
        k, v = read(line)
        yield from emit(fn(k, v), write)

    def mapper(key: Any, value: Any) -> Iterator[Pair]:
        for line in run.started().feed(to_line(key, value)):
            yield from through(line)

    def final() -> Iterator[Pair]:
        for line in run.finish():
            yield from through(line)
        if user_final is not None:
            yield from user_final()

    return {"": mapper, "final": final}
