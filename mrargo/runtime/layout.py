"""Task identities and where each task's files live in the work directory.

    {work}/bundle.mrargo                        the job bundle (Argo runs only)
    {work}/step-1/splits.json                   split list
    {work}/step-1/map/00003.<attempt>.run       map output (attempt-unique)
    {work}/step-1/map/00003.json                map commit marker
    {work}/step-1/shuffle.json                  step summary (counts, counters)
    {work}/step-1/shuffle/00002.json            reducer 2's segments
    {work}/step-1/reduce/00002.<attempt>.part   reduce output (attempt-unique)
    {work}/step-1/reduce/00002.json             reduce commit marker

A task's data files carry its attempt id and are only ever read through its
commit marker (a small JSON document naming them, with their counts and
counters), which is written last, in one atomic put.  A failed or killed
attempt's files are therefore never read, even when a retry reuses the key
of the marker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mrargo import store
from mrargo.errors import CorruptDataError

TASK_KINDS = ("split", "map", "shuffle", "reduce", "commit")
FRAMEWORK = "mrargo"  # the counter group of mrargo's own counters


@dataclass(frozen=True, order=True)
class TaskId:
    step: int  # 0-based; commit uses the last step
    kind: str
    index: int = 0
    count: int = 0  # fan-out width, for labels

    @property
    def key(self) -> str:
        """A stable name: split-1, map-1-00003, commit."""
        if self.kind == "commit":
            return "commit"
        if self.kind in ("map", "reduce"):
            return f"{self.kind}-{self.step + 1}-{self.index:05d}"
        return f"{self.kind}-{self.step + 1}"

    @property
    def label(self) -> str:
        """For people: 'map 4/40 of step 1'."""
        if self.kind == "commit":
            return "commit"
        if self.kind in ("map", "reduce"):
            of = f"/{self.count}" if self.count else ""
            return f"{self.kind} {self.index + 1}{of} of step {self.step + 1}"
        return f"{self.kind} of step {self.step + 1}"

    @staticmethod
    def parse(key: str) -> TaskId:
        parts = key.split("-")
        if parts == ["commit"]:
            return TaskId(0, "commit")
        if parts[0] in ("map", "reduce") and len(parts) == 3:
            return TaskId(int(parts[1]) - 1, parts[0], int(parts[2]))
        if parts[0] in ("split", "shuffle") and len(parts) == 2:
            return TaskId(int(parts[1]) - 1, parts[0])
        raise ValueError(f"not a task name: {key!r}")


def new_attempt() -> str:
    return store.token(6)


def step_dir(work: str, step: int) -> str:
    return store.join(work, f"step-{step + 1}")


def splits_url(work: str, step: int) -> str:
    return store.join(step_dir(work, step), "splits.json")


def data_url(work: str, step: int, kind: str, index: int, attempt: str, ext: str) -> str:
    return store.join(step_dir(work, step), kind, f"{index:05d}.{attempt}.{ext}")


def marker_url(work: str, step: int, kind: str, index: int) -> str:
    return store.join(step_dir(work, step), kind, f"{index:05d}.json")


def shuffle_url(work: str, step: int) -> str:
    return store.join(step_dir(work, step), "shuffle.json")


def partition_url(work: str, step: int, r: int) -> str:
    return store.join(step_dir(work, step), "shuffle", f"{r:05d}.json")


def write_json(url: str, obj: Any) -> None:
    store.put_bytes(url, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def read_json(url: str, what: str, producer: str) -> Any:
    """Read a commit marker or split list; a missing or unparsable one names its producer."""
    try:
        data = store.get_bytes(url)
    except FileNotFoundError:
        raise CorruptDataError(f"{what} is missing: {url} (expected from {producer})", path=url, producer=producer) from None
    try:
        return json.loads(data)
    except ValueError:
        raise CorruptDataError(f"{what} is corrupt: {url} (written by {producer})", path=url, producer=producer) from None
