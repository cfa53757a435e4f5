"""Secondary sort (SORT_VALUES): each word's total arrives first, then its per-file counts become shares."""

import os
import re

from mrargo.compat.mrjob.compat import jobconf_from_env
from mrargo.compat.mrjob.job import MRJob

WORD = re.compile(r"[^\W\d_]+")


class MRShares(MRJob):
    SORT_VALUES = True

    def mapper(self, _, line):
        name = os.path.basename(jobconf_from_env("mapreduce.map.input.file"))
        for w in WORD.findall(line.lower()):
            yield w, ["B", name, 1]
            yield w, ["A", 1]

    def combiner(self, word, values):
        total, per_file = 0, {}
        for v in values:
            if v[0] == "A":
                total += v[1]
            else:
                per_file[v[1]] = per_file.get(v[1], 0) + v[2]
        yield word, ["A", total]
        for name, n in per_file.items():
            yield word, ["B", name, n]

    def reducer(self, word, values):
        total = None
        shares = {}
        for v in values:
            if v[0] == "A":
                total = v[1] if total is None else total + v[1]
            else:
                assert total is not None, "the totals come first"
                shares[v[1]] = shares.get(v[1], 0) + v[2]
        yield word, {name: round(n / total, 4) for name, n in sorted(shares.items())}


if __name__ == "__main__":
    MRShares.run()
