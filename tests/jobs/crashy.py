"""Dies part-way through the first attempt of every task (os._exit), then works."""

import os

from mrargo import MapReduce


def first_attempt(marker_dir, name):
    path = os.path.join(marker_dir, name)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class Crashy(MapReduce):
    REDUCERS = 2

    def mapper(self, _, line):
        for word in line.split():
            yield word, 1
        if line.startswith("crash") and first_attempt(self.params["markers"], "map-" + line):
            os._exit(1)

    def reducer(self, word, counts):
        if word.startswith("crash") and first_attempt(self.params["markers"], "reduce-" + word):
            os._exit(1)
        yield word, sum(counts)
