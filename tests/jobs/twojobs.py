from mrargo import MapReduce


class One(MapReduce):
    def mapper(self, _, line):
        yield line, 1


class Two(MapReduce):
    def mapper(self, _, line):
        yield line, 2
