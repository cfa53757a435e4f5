"""What counting one (word, 1) pair costs, apart from the mapper that makes it.

    python bench/micro_pairs.py bench/corpus/100000000b-16f/part-0000.txt

The mapper is word count's; its pairs are made once, then counted several
ways, each on words made afresh (as the mapper makes them, so no hash is
cached).  CPU nanoseconds a pair, the best of 5 runs.
"""

from __future__ import annotations

import argparse
import collections
import gc
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import chain, repeat
from typing import Any

from mrargo.runtime._speedups import GroupTable, group_pairs
from mrargo.runtime.context import TASK_GC_THRESHOLDS

WORD = re.compile(r"[a-z]+")
ALL = 1 << 40  # group_pairs' limit: take every pair


def mapper(_: Any, line: str) -> Iterator[tuple[str, int]]:
    for word in WORD.findall(line.lower()):
        yield word, 1


def best(fn: Callable[[], float], runs: int = 5) -> float:
    return min(fn() for _ in range(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    with open(ap.parse_args().file, encoding="utf-8") as f:
        lines = f.read().split("\n")
    words = [w for line in lines for w, _ in mapper(None, line)]
    n = len(words)
    print(f"{n:,} pairs, {len(set(words)):,} distinct words; CPU ns a pair:")
    gc.set_threshold(*TASK_GC_THRESHOLDS)

    def fresh() -> list[str]:
        return [w.encode().decode() for w in words]

    def timed(work: Callable[[list[str]], object]) -> Callable[[], float]:
        def run() -> float:
            data = fresh()
            t = time.process_time()
            work(data)
            return time.process_time() - t

        return run

    def dict_loop(ws: list[str]) -> None:
        d: dict[str, int] = {}
        get = d.get
        for w in ws:
            d[w] = get(w, 0) + 1

    cases: list[tuple[str, Callable[[], float]]] = [
        ("iterate the words", timed(lambda ws: deque(iter(ws), maxlen=0))),
        ("hash() each word", timed(lambda ws: deque(map(hash, ws), maxlen=0))),
        ("group_pairs into a GroupTable", timed(lambda ws: group_pairs(GroupTable(), zip(ws, repeat(1)), ALL, [0, 0], [None]))),
        ("Counter(words)", timed(collections.Counter)),
        ("a Python dict loop", timed(dict_loop)),
    ]

    def whole(work: Callable[[Iterator[Any]], object]) -> Callable[[], float]:
        def run() -> float:
            t = time.process_time()
            work(chain.from_iterable(map(mapper, repeat(None), lines)))
            return time.process_time() - t

        return run

    cases += [
        ("the mapper, drained in C", whole(lambda pairs: deque(pairs, maxlen=0))),
        ("the mapper + group_pairs (the map loop)", whole(lambda pairs: group_pairs(GroupTable(), pairs, ALL, [0, 0], [None]))),
    ]
    for name, run in cases:
        print(f"  {name:42s} {best(run) / n * 1e9:6.1f}")


if __name__ == "__main__":
    main()
