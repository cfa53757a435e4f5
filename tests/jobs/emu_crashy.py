"""Dies like an OOMKilled pod (exit 137) on the first attempt of any task that meets a "crash" word.

A marker file per crash site, in the folder given as the ``markers``
param, records that the first attempt happened; the retry then works.
"""

import os

from mrargo import MapReduce

KILLED = 137  # what Kubernetes reports for a container killed by SIGKILL (OOM)


def first_attempt(marker_dir, name):
    try:
        fd = os.open(os.path.join(marker_dir, name), os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return False
    os.close(fd)
    return True


class EmuCrashy(MapReduce):
    REDUCERS = 2

    def mapper(self, _, line):
        for word in line.split():
            if word.startswith("crash") and first_attempt(self.params["markers"], "map-" + word):
                os._exit(KILLED)
            yield word, 1

    def reducer(self, word, counts):
        if word.startswith("crash") and first_attempt(self.params["markers"], "reduce-" + word):
            os._exit(KILLED)
        yield word, sum(counts)
