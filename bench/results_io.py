"""Workload names, and the plain TSV the script peers write their answers in.

A script peer (p0, p0x2, dask, pyspark, duckdb) writes one ``word<TAB>value``
line per key: the value is a count, or for the index the file names joined
by single spaces.  The top-20 file keeps the rank order.  These helpers run
inside the peers' own interpreters too, so they use the standard library only.
"""

from __future__ import annotations

import argparse
import heapq
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

WORKLOADS = ("wordcount", "indexer", "topwords", "lineindex")
# The workloads that every peer runs; lineindex is mrargo's and its limit's (P0 gives the answer).
CLASSIC = ("wordcount", "indexer", "topwords")
INDEXES = ("indexer", "lineindex")  # same answer: word -> sorted names of the files holding it
TOP = 20


def peer_parser(doc: str | None, workloads: Sequence[str] = WORKLOADS) -> argparse.ArgumentParser:
    """The command line every script peer takes: WORKLOAD CORPUS OUT_DIR."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("workload", choices=list(workloads))
    parser.add_argument("corpus")
    parser.add_argument("out")
    return parser


def top_words(counts: Mapping[str, int] | Iterable[tuple[str, int]], n: int = TOP) -> list[tuple[str, int]]:
    """The n most frequent words; ties go to the smaller word, so the answer is exact."""
    items = counts.items() if isinstance(counts, Mapping) else counts
    return heapq.nsmallest(n, items, key=rank_key)


def rank_key(pair: tuple[str, int]) -> tuple[int, str]:
    return -pair[1], pair[0]


def write_counts(path: str, pairs: Iterable[tuple[str, int]]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{count}\n" for word, count in pairs)


def write_index(path: str, index: Mapping[str, Sequence[str]]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"{word}\t{' '.join(sorted(names))}\n" for word, names in index.items())


def corpus_files(corpus: str) -> list[str]:
    """The corpus's text files, in name order (a file or a directory may be given)."""
    if os.path.isfile(corpus):
        return [corpus]
    names = sorted(n for n in os.listdir(corpus) if not n.startswith((".", "_")))
    return [os.path.join(corpus, n) for n in names if os.path.isfile(os.path.join(corpus, n))]


def halves(items: Sequence[T], n: int) -> list[list[T]]:
    """n contiguous slices of about equal length, the empty ones left out (P0x2's files, the limit's records)."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [part for part in out if part]
