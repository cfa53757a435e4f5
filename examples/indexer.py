"""Inverted index: each word, with the sorted list of files that contain it."""

import re

from mrargo import MapReduce

WORD = re.compile(r"[a-z]+")


class Indexer(MapReduce):
    INPUT_FORMAT = "files"

    def mapper(self, url, text):
        name = url.rsplit("/", 1)[-1]
        for word in set(WORD.findall(text.lower())):
            yield word, [name]

    def combiner(self, word, names):
        yield word, sorted({n for group in names for n in group})

    def reducer(self, word, names):
        yield word, sorted({n for group in names for n in group})
