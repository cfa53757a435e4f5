"""Counts words of whole files: one input record yields every pair of a file."""

from mrargo import MapReduce


class WholeFile(MapReduce):
    INPUT_FORMAT = "files"
    REDUCERS = 1

    def mapper(self, _, text):
        for word in text.split():
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)
