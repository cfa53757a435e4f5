import time

from mrargo import MapReduce


class Sleepy(MapReduce):
    def mapper(self, _, line):
        time.sleep(float(self.params.get("sleep", "60")))
        yield line, 1

    def reducer(self, key, values):
        yield key, sum(values)
