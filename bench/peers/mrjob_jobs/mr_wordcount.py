"""mrjob word count, written as the mrjob docs write it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mrjob.job import MRJob
from tokenize_shared import tokenize


class MRWordCount(MRJob):
    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in tokenize(line):
            yield word, 1

    def combiner(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)


if __name__ == "__main__":
    MRWordCount.run()
