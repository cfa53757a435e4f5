"""The user-facing job API: subclass MapReduce, write generator methods.

    class WordCount(MapReduce):
        def mapper(self, _, line):
            for word in line.split():
                yield word, 1
        def reducer(self, word, counts):
            yield word, sum(counts)

A job with several steps returns them from ``steps()``; a Step names the
job's own methods.  Task logic is pure pairs-in, pairs-out: the runtime
owns every byte of I/O, so the same class runs locally and on Argo.

This module imports nothing of mrargo but its errors: no runtime, no
backend.  The engine reads a job only through ``mrargo.plan``.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

Pair = tuple[Any, Any]
Method = Callable[..., Any]

# The methods a step is made of, and the hooks around them.
METHODS = ("mapper", "combiner", "reducer")
HOOKS = ("mapper_init", "mapper_final", "combiner_init", "combiner_final", "reducer_init", "reducer_final")
INPUT_FORMATS = ("lines", "files", "jsonl")
OUTPUT_FORMATS = ("json", "raw")
# Where increment_counter keeps a task's counts; the runtime reads them
# through mrargo.plan.loader.counters_of.
COUNTERS_ATTR = "_mrargo_counters"


@dataclass(frozen=True)
class Step:
    """One map/shuffle/reduce round.  Each field is a method of the job.

    No reducer makes a map-only step; no mapper passes records through.
    ``reducers`` overrides the job's reducer count for this step.
    """

    mapper: Method | None = None
    combiner: Method | None = None
    reducer: Method | None = None
    mapper_init: Method | None = None
    mapper_final: Method | None = None
    combiner_init: Method | None = None
    combiner_final: Method | None = None
    reducer_init: Method | None = None
    reducer_final: Method | None = None
    reducers: int | None = None


class MapReduce:
    """Base class of every job.

    Class attributes configure the job; the CLI can override some of them:

    - ``INPUT_FORMAT``: ``"lines"`` (key None, value a line without its
      newline), ``"files"`` (key the file URL, value its whole text) or
      ``"jsonl"`` (key None, value the parsed JSON of each line).
    - ``OUTPUT_FORMAT``: ``"json"`` (each line ``json(key) TAB json(value)``)
      or ``"raw"`` (each value, a str, as a line of its own; keys are dropped),
      for output that other tools read as plain text.
    - ``REDUCERS``: partitions per step (``--reducers``; 0 makes the job
      map-only).  The output is one ``part-NNNNN`` file per partition.
      ``None``, the default, leaves it to each run, from the step's input
      size alone: 4 up to 1 GiB, then twice as many for each doubling.
    - ``SORT_VALUES``: a reducer's values arrive sorted by the key order.
    - ``FILES``: side files, relative to the job file, that tasks can open
      by name.

    Optional methods, found by name: ``mapper``, ``combiner``, ``reducer``,
    the ``*_init``/``*_final`` hooks, and ``partition(self, key, n)``, which
    routes keys to reducers (it must return an int in ``range(n)``; the
    default is a stable hash of the key's encoding).
    """

    INPUT_FORMAT: ClassVar[str] = "lines"
    OUTPUT_FORMAT: ClassVar[str] = "json"
    REDUCERS: ClassVar[int | None] = None
    SORT_VALUES: ClassVar[bool] = False
    FILES: ClassVar[list[str]] = []

    # Set by the runtime before any user method runs.
    params: dict[str, str]
    input_file: str | None

    def steps(self) -> list[Step]:
        """The job's steps; by default one step from the methods defined."""
        kwargs = {name: getattr(self, name) for name in METHODS + HOOKS if callable(getattr(self, name, None))}
        return [Step(**kwargs)]

    def increment_counter(self, group: str, name: str, amount: int = 1) -> None:
        """Add to a user counter; totals appear in the summary and _SUCCESS.

        Counters are whole numbers: a float or a bool is refused rather
        than truncated.
        """
        try:
            n = operator.index(amount)  # ints, and int-like numbers such as numpy's
        except TypeError:
            n = None
        if n is None or isinstance(amount, bool):
            raise TypeError(
                f"increment_counter({group!r}, {name!r}, {amount!r}): the amount must be an int, "
                f"got {type(amount).__name__}; counters count whole things, so round it if you mean to"
            )
        counters: dict[tuple[str, str], int] = self.__dict__.setdefault(COUNTERS_ATTR, {})
        k = (str(group), str(name))
        counters[k] = counters.get(k, 0) + n

    def file_path(self, name: str) -> str:
        """The local path of a side file listed in FILES."""
        if name not in {os.path.basename(f.rstrip("/")) for f in self.FILES}:
            raise KeyError(f"{name!r} is not in {type(self).__name__}.FILES")
        return os.path.abspath(name)
