"""P0 and P0x2: plain-Python Counter / dict loops, the per-core ceiling.

    python p0.py WORKLOAD CORPUS OUT_DIR [--procs N]

With ``--procs 2`` the files are split into two halves, each counted by its
own process, and the parent merges the two answers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter, defaultdict

from results_io import INDEXES, corpus_files, halves, peer_parser, top_words, write_counts, write_index
from tokenize_shared import tokenize


def count_words(paths: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                counts.update(tokenize(line))
    return counts


def index_words(paths: list[str]) -> dict[str, list[str]]:
    index: defaultdict[str, list[str]] = defaultdict(list)
    for path in paths:
        words: set[str] = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                words.update(tokenize(line))
        name = os.path.basename(path)
        for word in words:
            index[word].append(name)
    return index


def run_counts(paths: list[str], procs: int) -> Counter[str]:
    if procs == 1:
        return count_words(paths)
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(count_words, halves(paths, procs))
    total = parts[0]
    for part in parts[1:]:
        total.update(part)
    return total


def run_index(paths: list[str], procs: int) -> dict[str, list[str]]:
    if procs == 1:
        return index_words(paths)
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(index_words, halves(paths, procs))
    merged: defaultdict[str, list[str]] = defaultdict(list)
    for part in parts:
        for word, names in part.items():
            merged[word].extend(names)
    return merged


def main() -> None:
    parser = peer_parser(__doc__)
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args()
    paths = corpus_files(args.corpus)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, "result.tsv")
    if args.workload in INDEXES:  # the line-based index has the same answer
        write_index(out, run_index(paths, args.procs))
        return
    counts = run_counts(paths, args.procs)
    write_counts(out, top_words(counts) if args.workload == "topwords" else counts.items())


if __name__ == "__main__":
    main()
