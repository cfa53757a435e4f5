"""DIRS: a folder of side files, opened by relative paths inside it."""

import os
import re

from mrargo.compat.mrjob.job import MRJob

WORD = re.compile(r"[a-z]+")


class MRDirLookup(MRJob):
    DIRS = ["lookup"]

    def mapper_init(self):
        self.stop = set()
        for here, _, files in os.walk("lookup"):
            for name in files:
                with open(os.path.join(here, name), encoding="utf-8") as f:
                    self.stop |= set(f.read().split())
        if not {"the", "a"} <= self.stop:  # both files, the nested one too
            raise RuntimeError(f"lookup/ is not here whole: {sorted(self.stop)}")

    def mapper(self, _, line):
        for word in WORD.findall(line.lower()):
            if word not in self.stop:
                yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        yield word, sum(counts)


if __name__ == "__main__":
    MRDirLookup.run()
