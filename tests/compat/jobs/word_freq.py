"""Word frequencies, the classic shape: mapper, combiner, reducer, counters and status."""

import re

from mrargo.compat.mrjob.job import MRJob

WORD = re.compile(r"[^\W\d_]+")


class MRWordFreq(MRJob):
    def mapper(self, _, line):
        words = WORD.findall(line.lower())
        if not words:
            self.increment_counter("lines", "without words")
        for word in words:
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        self.set_status(f"reducing {word}")
        total = sum(counts)
        self.increment_counter("words", "distinct")
        yield word, total


if __name__ == "__main__":
    MRWordFreq.run()
