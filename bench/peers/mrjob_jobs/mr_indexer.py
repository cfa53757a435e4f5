"""mrjob inverted index: each word with the sorted names of the files holding it.

``mapper_raw`` hands each task a whole input file, as mrargo's "files"
input format does, so the file's name is known.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from mrjob.job import MRJob
from tokenize_shared import tokenize


class MRIndexer(MRJob):
    def mapper_raw(self, path: str, uri: str) -> Iterator[tuple[str, list[str]]]:
        name = os.path.basename(uri)
        words: set[str] = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                words.update(tokenize(line))
        for word in words:
            yield word, [name]

    def combiner(self, word: str, groups: Iterable[list[str]]) -> Iterator[tuple[str, list[str]]]:
        yield word, sorted({n for group in groups for n in group})

    def reducer(self, word: str, groups: Iterable[list[str]]) -> Iterator[tuple[str, list[str]]]:
        yield word, sorted({n for group in groups for n in group})


if __name__ == "__main__":
    MRIndexer.run()
