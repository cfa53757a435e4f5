"""Word count whose tasks misbehave on their first attempt, by a fixed pattern.

A task's first attempt dies part-way (os._exit) for a third of the tasks,
stalls past the timeout for another third, and runs normally for the rest.
Later attempts run normally.  Attempts are counted with marker files in
the folder given as the ``markers`` parameter.
"""

import os
import time
import zlib

from mrargo import MapReduce


def attempt_number(marker_dir, task):
    n = 0
    while True:
        try:
            fd = os.open(os.path.join(marker_dir, f"{task}.{n}"), os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            n += 1
            continue
        os.close(fd)
        return n


def misbehave(params, task):
    if params.get("chaos") == "off" or attempt_number(params["markers"], task) > 0:
        return
    fate = zlib.crc32(task.encode()) % 3
    if fate == 0:
        os._exit(1)
    if fate == 1:
        time.sleep(float(params.get("stall", "30")))


class Chaos(MapReduce):
    REDUCERS = 6

    def mapper_init(self):
        self.lines = 0

    def mapper(self, _, line):
        self.lines += 1
        if self.lines == 50:  # part-way through the split
            misbehave(self.params, "map-" + os.path.basename(self.input_file or ""))
        for word in line.split():
            yield word, 1

    def reducer_init(self):
        self.seen = 0

    def reducer(self, word, counts):
        self.seen += 1
        if self.seen == 3:  # after writing some output
            misbehave(self.params, "reduce-" + word)
        yield word, sum(counts)
