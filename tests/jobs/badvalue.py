from mrargo import MapReduce


class BadValue(MapReduce):
    def mapper(self, _, line):
        yield line, {1, 2}

    def reducer(self, key, values):
        yield key, list(values)
