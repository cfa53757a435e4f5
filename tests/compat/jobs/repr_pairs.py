"""Tuples and sets between steps (INTERNAL_PROTOCOL = ReprProtocol), tab-separated text out (RawProtocol)."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import RawProtocol, ReprProtocol
from mrargo.compat.mrjob.step import MRStep


class MRNeighbours(MRJob):
    INTERNAL_PROTOCOL = ReprProtocol
    OUTPUT_PROTOCOL = RawProtocol

    def steps(self):
        return [MRStep(mapper=self.pairs, reducer=self.gather), MRStep(reducer=self.show)]

    def pairs(self, _, line):
        words = line.lower().split()
        for a, b in zip(words, words[1:], strict=False):
            yield (a[:1], len(a)), {b[:1]}

    def gather(self, key, sets):
        letters = set()
        for s in sets:
            assert isinstance(s, set)
            letters |= s
        assert isinstance(key, tuple)
        yield key, letters

    def show(self, key, letters):
        for ls in letters:
            yield f"{key[0]}{key[1]}", "".join(sorted(ls))


if __name__ == "__main__":
    MRNeighbours.run()
