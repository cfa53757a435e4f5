"""Many distinct keys of one JSON type, all from one record: the map side must hold to its memory budget."""
import os
from mrargo import MapReduce

N = int(os.environ.get("MRARGO_TEST_PAIRS", "600000"))
KIND = os.environ.get("MRARGO_TEST_KEY", "int")


def make(i):
    return {"str": lambda: f"k{i}", "int": lambda: i, "float": lambda: i + 0.5, "tuple": lambda: (i, "x"),
            "list": lambda: [i], "dict": lambda: {"k": i}}[KIND]()


class Keys(MapReduce):
    REDUCERS = 2

    def mapper(self, _, line):
        # One record yields every pair: the budget must be checked inside it.
        for i in range(N):
            yield make(i), 2

    def combiner(self, k, vs):
        yield k, sum(vs)

    def reducer(self, k, vs):
        yield k, sum(vs)
