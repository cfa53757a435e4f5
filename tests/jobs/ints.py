"""Many distinct keys, and one hot key: memory must stay bounded."""

from mrargo import MapReduce


class Ints(MapReduce):
    REDUCERS = 2

    def mapper(self, _, line):
        start, count = map(int, line.split())
        for i in range(start, start + count):
            yield i, "x"
            yield "hot", i

    def reducer(self, key, values):
        n = 0
        for _ in values:
            n += 1
        yield key, n
