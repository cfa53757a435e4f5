"""Two steps: count words, then keep the --top most frequent (one reducer, by jobconf)."""

import heapq
import re

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.step import MRStep

WORD = re.compile(r"[^\W\d_]+")


class MRTopWords(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--top", type=int, default=5, help="how many words to keep")

    def steps(self):
        return [
            MRStep(mapper=self.words, combiner=self.add, reducer=self.add),
            MRStep(mapper=self.to_one_key, reducer=self.best, jobconf={"mapreduce.job.reduces": "1"}),
        ]

    def words(self, _, line):
        for w in WORD.findall(line.lower()):
            yield w, 1

    def add(self, word, counts):
        yield word, sum(counts)

    def to_one_key(self, word, count):
        yield None, (count, word)

    def best(self, _, pairs):
        top = heapq.nlargest(self.options.top, pairs)
        for rank, (count, word) in enumerate(top, 1):
            yield rank, [word, count]


if __name__ == "__main__":
    MRTopWords.run()
