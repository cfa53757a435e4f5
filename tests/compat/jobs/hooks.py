"""Every hook: in-mapper combining in mapper_init/mapper_final, combiner and reducer hooks that yield."""

from mrargo.compat.mrjob.job import MRJob


class MRLetterTotals(MRJob):
    def mapper_init(self):
        self.letters = {}

    def mapper(self, _, line):
        for ch in line.lower():
            if ch.isalpha():
                self.letters[ch] = self.letters.get(ch, 0) + 1

    def mapper_final(self):
        yield from self.letters.items()
        yield "*", sum(self.letters.values())

    def combiner_init(self):
        self.combined = 0

    def combiner(self, ch, counts):
        self.combined += 1
        yield ch, sum(counts)

    def combiner_final(self):
        self.increment_counter("hooks", "combiner_final")
        return None

    def reducer_init(self):
        self.keys = 0

    def reducer(self, ch, counts):
        self.keys += 1
        yield ch, sum(counts)

    def reducer_final(self):
        # How many reducers there are is up to the runner: count, do not output.
        self.increment_counter("hooks", "keys reduced", self.keys)


if __name__ == "__main__":
    MRLetterTotals.run()
