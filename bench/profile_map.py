"""Where a map task's CPU goes, against P0, on one input file.

    python bench/profile_map.py bench/corpus/500000000b-64f/part-0000.txt

Prints CPU seconds (the minimum of N runs, so a busy machine matters less)
for P0 and for each stage of mrargo's word-count map task.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrargo.runtime.inputs import DecodePolicy, Piece, Position, read_piece  # noqa: E402
from mrargo.runtime.mapside import MapOutput  # noqa: E402

WORD = re.compile(r"[a-z]+")


def mapper(_: Any, line: str) -> Iterator[tuple[str, int]]:
    for word in WORD.findall(line.lower()):
        yield word, 1


def combiner(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def cpu(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("-n", type=int, default=4, help="runs per stage (default 4)")
    path = ap.parse_args().file
    runs = ap.parse_args().n

    def records() -> Iterator[tuple[Any, Any]]:
        return read_piece(Piece(path), DecodePolicy("strict"), Position(), 1 << 26)

    def p0() -> None:
        c: collections.Counter[str] = collections.Counter()
        with open(path, encoding="utf-8") as f:
            for line in f:
                c.update(WORD.findall(line.lower()))

    def read_only() -> None:
        for _ in records():
            pass

    def read_map() -> None:
        for k, v in records():
            for _ in mapper(k, v):
                pass

    timings: dict[str, list[float]] = {"group": [], "finish": []}

    def whole() -> None:
        out = MapOutput(partitions=4, label="profile", buffer_bytes=64 << 20, tmpdir=tempfile.mkdtemp(), combiner=combiner, counters={})
        t = time.process_time()
        out.map_records(records(), mapper)
        t2 = time.process_time()
        out.finish(io.BytesIO())
        timings["group"].append(t2 - t)
        timings["finish"].append(time.process_time() - t2)

    print(f"{'P0 (Counter loop)':34s} {cpu(p0, runs):6.3f} s")
    print(f"{'read + decode':34s} {cpu(read_only, runs):6.3f} s")
    print(f"{'read + user mapper':34s} {cpu(read_map, runs):6.3f} s")
    cpu(whole, runs)
    print(f"{'read + mapper + grouping':34s} {min(timings['group']):6.3f} s")
    print(f"{'finish (combine, encode, sort, write)':34s} {min(timings['finish']):6.3f} s")


if __name__ == "__main__":
    main()
