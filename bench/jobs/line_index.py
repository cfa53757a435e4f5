"""Inverted index written the mrjob way: one (word, file) pair per distinct word per line.

The many-pairs workload of the benchmark.  Where examples/indexer.py reads
whole files and yields each word once per file, this job reads lines, as
most mrjob indexes do, so it yields a pair for every distinct word of every
line, and a set combiner removes the repeats inside each map task.  Its
answer is the same as the file-based index's: each word with the sorted
names of the files that contain it.

The combiner yields plain names, the mapper's own value type, so the
reducer is right whether the combiner ran on a key or not.
"""

import re

from mrargo import MapReduce

WORD = re.compile(r"[a-z]+")


class LineIndex(MapReduce):
    def mapper(self, _, line):
        name = self.input_file.rsplit("/", 1)[-1]
        for word in set(WORD.findall(line.lower())):
            yield word, name

    def combiner(self, word, names):
        for name in set(names):
            yield word, name

    def reducer(self, word, names):
        yield word, sorted(set(names))
