from mrargo import MapReduce


class Buggy(MapReduce):
    def mapper(self, _, line):
        if line == "poison":
            raise ValueError("cannot digest poison")
        yield line, 1

    def reducer(self, key, values):
        yield key, sum(values)
