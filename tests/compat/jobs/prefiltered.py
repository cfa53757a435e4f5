"""mapper_pre_filter drops comment lines through the shell; a reducer_cmd in a second step cuts each line to its word."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.step import MRStep


class MRFirstWords(MRJob):
    def steps(self):
        return [
            MRStep(mapper_pre_filter="grep -v '^#' | tr 'A-Z' 'a-z'", mapper=self.first_word, reducer=self.count),
            MRStep(mapper=self.swap, reducer_cmd="cut -f 2"),
        ]

    def first_word(self, _, line):
        words = line.split()
        if words:
            yield words[0], 1

    def count(self, word, ones):
        yield word, sum(ones)

    def swap(self, word, n):
        yield n, word


if __name__ == "__main__":
    MRFirstWords.run()
