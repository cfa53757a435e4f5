"""mrjob top-20 words in two steps: count, then keep the most frequent."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from mrjob.job import MRJob
from mrjob.step import MRStep
from tokenize_shared import tokenize

TOP = 20


class MRTopWords(MRJob):
    def steps(self) -> list[MRStep]:
        return [
            MRStep(mapper=self.mapper_words, combiner=self.sum_counts, reducer=self.sum_counts),
            MRStep(mapper=self.mapper_to_one_key, reducer=self.reducer_top),
        ]

    def mapper_words(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in tokenize(line):
            yield word, 1

    def sum_counts(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def mapper_to_one_key(self, word: str, count: int) -> Iterator[tuple[None, list[object]]]:
        yield None, [count, word]

    def reducer_top(self, _: None, pairs: Iterable[list[object]]) -> Iterator[tuple[str, int]]:
        # Most frequent first; ties broken by the word, so the result is exact.
        for count, word in heapq.nsmallest(TOP, pairs, key=lambda p: (-p[0], p[1])):
            yield word, count


if __name__ == "__main__":
    MRTopWords.run()
