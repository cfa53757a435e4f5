# Types of the optional C module (mrargo/runtime/_speedups.c).  Each function is a
# kernel with one contract; the control flow around it (memory budget checks,
# spills, error messages) is Python's alone, in mapside.py, runfile.py and
# codec.py, and each has a Python twin there.  The whole suite runs with and
# without this module (MRARGO_PURE_PYTHON=1).

from collections.abc import Callable, Iterator
from typing import Any

Record = tuple[bytes, bytes]

class OnesTable:
    """str -> count of (str, 1) pairs, in one open-addressing table."""

    def add(self, key: str, n: int = 1) -> None: ...
    def items(self) -> list[tuple[str, int]]: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

class Repeat:
    """A value (an exact str or int) that came ``n`` times in a row for one key."""

    value: Any
    n: int
    def __init__(self, value: Any, n: int) -> None: ...

class Records:
    """A partition's (key bytes, value bytes) records, packed in run-file form with a sort index."""

    nbytes: int
    def append(self, record: Record) -> None: ...
    def sort(self) -> None: ...
    def pack(self, start: int, limit: int) -> tuple[bytes, int]: ...
    def records(self) -> list[Record]: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

def group_pairs(ones: OnesTable, groups: dict[str, list[Any]], pairs: Iterator[Any], limit: int, taken: list[int], recent: list[Any]) -> Any:
    """Take at most ``limit`` pairs: None when ``pairs`` is exhausted, Ellipsis after ``limit``, else the first item it cannot take."""

def iter_values(values: list[Any]) -> tuple[int, Iterator[Any]]:
    """How many values a key's waiting list stands for, and an iterator over them, each repeat written out."""

def combine_counts(single: list[tuple[str, int]], combiner: Callable[[str, Iterator[int]], Any], repeat: Callable[[int, int], Iterator[int]], chunk: list[Any], limit: int, at: list[int]) -> None:
    """The combiner over (key, count) from ``at[0]`` into ``chunk`` until it holds ``limit`` pairs; ``at``: [next index, input, output]."""

def bucket_pairs(pairs: list[Any], start: int, bufs: list[list[Record]] | list[Records], encode_value: Callable[[Any], bytes], json_values: bool) -> int:
    """Encode and partition exact (str, value) tuples from ``start``; return the index of the first one it left."""

def unpack_records(payload: bytes, count: int) -> list[Record]: ...
def merge_runs(runs: list[list[Record]]) -> list[Record]: ...
def decode_value(fallback: Callable[[bytes], Any], b: bytes) -> Any: ...
def dumps_text(fallback: Callable[[Any], str], x: Any) -> str: ...
