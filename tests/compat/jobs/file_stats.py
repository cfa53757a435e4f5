"""mapper_raw: each task gets whole files as local paths, and reads them itself (bytes as stored)."""

import os

from mrargo.compat.mrjob.job import MRJob


class MRFileStats(MRJob):
    def mapper_raw(self, input_path, input_uri):
        with open(input_path, "rb") as f:
            data = f.read()
        yield os.path.basename(input_uri), [len(data), data.count(b"\n")]

    def reducer(self, name, stats):
        for s in stats:
            yield name, s


if __name__ == "__main__":
    MRFileStats.run()
