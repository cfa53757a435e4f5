"""Top words: two steps, count every word, then keep the 20 most frequent."""

import heapq
import re

from mrargo import MapReduce, Step

WORD = re.compile(r"[a-z]+")


class TopWords(MapReduce):
    def steps(self):
        return [
            Step(mapper=self.mapper_words, combiner=self.sum_counts, reducer=self.sum_counts),
            Step(mapper=self.mapper_to_one_key, reducer=self.reducer_top, reducers=1),
        ]

    def mapper_words(self, _, line):
        for word in WORD.findall(line.lower()):
            yield word, 1

    def sum_counts(self, word, counts):
        yield word, sum(counts)

    def mapper_to_one_key(self, word, count):
        yield None, [count, word]

    def reducer_top(self, _, pairs):
        n = int(self.params.get("n", 20))
        # Most frequent first; ties broken by the word, so the result is exact.
        for count, word in heapq.nsmallest(n, pairs, key=lambda p: (-p[0], p[1])):
            yield word, count
