from mrargo import MapReduce


class Upper(MapReduce):
    def mapper(self, _, line):
        yield line.upper(), len(line)
