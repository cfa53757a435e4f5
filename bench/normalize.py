"""Read each peer's output back into one shape, and compare it with P0's.

The shapes: word count is ``{word: count}``, the index ``{word: (file, ...)}``
with the files sorted, and top-20 a ranked list of ``(word, count)``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator

from results_io import INDEXES

Result = dict[str, int] | dict[str, tuple[str, ...]] | list[tuple[str, int]]

# Output formats: "json" is mrjob's JSONProtocol (also mrargo's), one
# ``"key"<TAB>value`` line per pair; "tsv" is results_io's ``word<TAB>value``;
# "uniq" is ``uniq -c``'s ``   count word``.
FORMATS = ("json", "tsv", "uniq")


class OutputError(ValueError):
    """A peer wrote something that is not a valid answer."""


def output_lines(out: str) -> Iterator[str]:
    """Every line of every output file under out, in file-name order.

    Names starting with '.' or '_' are skipped: _SUCCESS markers and Hadoop's
    .crc side files.
    """
    if os.path.isfile(out):
        paths = [out]
    else:
        names = sorted(n for n in os.listdir(out) if not n.startswith((".", "_")))
        paths = [os.path.join(out, n) for n in names]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")


def pairs(out: str, fmt: str) -> Iterator[tuple[str, object]]:
    for line in output_lines(out):
        if fmt == "uniq":
            fields = line.split()
            if len(fields) == 2:  # a lone count is the empty word from a leading separator
                yield fields[1], int(fields[0])
            continue
        key, sep, value = line.partition("\t")
        if not sep:
            raise OutputError(f"line without a tab: {line[:80]!r}")
        if fmt == "json":
            yield json.loads(key), json.loads(value)
        else:
            yield key, value


def as_count(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise OutputError(f"expected a count, found {value!r}")


def as_names(value: object) -> tuple[str, ...]:
    # Interned: the same few file names repeat across ~200k words.
    names = value.split(" ") if isinstance(value, str) else value
    if not isinstance(names, list):
        raise OutputError(f"expected file names, found {value!r}")
    return tuple(sys.intern(str(n)) for n in names)


def read_result(out: str, fmt: str, workload: str) -> Result:
    """The answer a peer left in out, in the shape of its workload."""
    if workload == "topwords":
        return [(str(k), as_count(v)) for k, v in pairs(out, fmt)]
    convert = as_names if workload in INDEXES else as_count
    result: dict[str, object] = {}
    for key, value in pairs(out, fmt):
        if key in result:
            raise OutputError(f"key {key!r} appears twice")
        result[str(key)] = convert(value)
    return result  # type: ignore[return-value]


def compare(got: Result, want: Result) -> str:
    """'' when equal, else a one-line account of the first differences."""
    if got == want:
        return ""
    if isinstance(got, list) or isinstance(want, list):
        return f"top list differs: got {list(got)[:3]}..., want {list(want)[:3]}..."
    missing = want.keys() - got.keys()
    extra = got.keys() - want.keys()
    differ = [k for k in want.keys() & got.keys() if got[k] != want[k]]
    parts = [f"{len(missing)} missing", f"{len(extra)} extra", f"{len(differ)} differ"]
    if differ:
        k = min(differ)
        parts.append(f"e.g. {k!r}: {got[k]!r} vs {want[k]!r}")
    return ", ".join(parts)
