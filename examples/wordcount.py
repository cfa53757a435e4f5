"""Word count: how often each word occurs."""

import re

from mrargo import MapReduce

WORD = re.compile(r"[a-z]+")


class WordCount(MapReduce):
    def mapper(self, _, line):
        for word in WORD.findall(line.lower()):
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)
