"""Lines per input file, from jobconf_from_env('mapreduce.map.input.file') and its other names."""

import posixpath

from mrargo.compat.mrjob.compat import jobconf_from_env
from mrargo.compat.mrjob.job import MRJob


class MRLinesPerFile(MRJob):
    def mapper(self, _, line):
        names = {jobconf_from_env(n) for n in ("mapreduce.map.input.file", "map.input.file", "mapreduce_map_input_file")}
        assert len(names) == 1, names
        uri = names.pop()
        assert uri.startswith(("file://", "s3://", "memory://")), uri
        yield posixpath.basename(uri), 1

    def reducer(self, name, ones):
        yield name, sum(ones)


if __name__ == "__main__":
    MRLinesPerFile.run()
