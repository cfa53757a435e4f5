"""Dask bag with the multiprocessing scheduler and two workers.

    python dask_bag.py WORKLOAD CORPUS OUT_DIR

Written the way the Dask docs write a word count: read_text, flatten,
frequencies; the index folds (word, file) pairs into sets with foldby.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterable

import dask
import dask.bag as db
from results_io import TOP, corpus_files, peer_parser, rank_key, write_counts
from tokenize_shared import tokenize

WORKERS = 2


def word_counts(paths: list[str]) -> db.Bag:
    return db.read_text(paths).map(tokenize).flatten().frequencies()


def file_words(path: str) -> list[tuple[str, str]]:
    name = os.path.basename(path)
    words: set[str] = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            words.update(tokenize(line))
    return [(word, name) for word in words]


def add_name(names: frozenset[str], pair: tuple[str, str]) -> frozenset[str]:
    return names | {pair[1]}


def index_line(item: tuple[str, frozenset[str]]) -> str:
    return f"{item[0]}\t{' '.join(sorted(item[1]))}"


def best(pairs: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return heapq.nsmallest(TOP, pairs, key=rank_key)


def best_of_parts(parts: Iterable[list[tuple[str, int]]]) -> list[tuple[str, int]]:
    return best(itertools.chain.from_iterable(parts))


def run(workload: str, paths: list[str], out: str) -> None:
    if workload == "wordcount":
        word_counts(paths).map(lambda kv: f"{kv[0]}\t{kv[1]}").to_textfiles(os.path.join(out, "*.txt"))
    elif workload == "indexer":
        pairs = db.from_sequence(paths, npartitions=len(paths)).map(file_words).flatten()
        index = pairs.foldby(lambda pair: pair[0], add_name, frozenset(), frozenset.union, frozenset())
        index.map(index_line).to_textfiles(os.path.join(out, "*.txt"))
    else:
        # Step two: a tree reduction keeping the best TOP of each partition.
        top = word_counts(paths).reduction(best, best_of_parts).compute()
        os.makedirs(out, exist_ok=True)
        write_counts(os.path.join(out, "top.txt"), top)


def main() -> None:
    parser = peer_parser(__doc__)
    args = parser.parse_args()
    with dask.config.set(scheduler="processes", num_workers=WORKERS):
        run(args.workload, corpus_files(args.corpus), args.out)


if __name__ == "__main__":
    main()
