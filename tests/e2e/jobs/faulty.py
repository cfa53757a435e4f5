"""A word count whose first attempt at one task misbehaves, for the fault tests on the real cluster.

``--param fault=`` chooses how: ``exit`` (exit code 1), ``sleep`` (sleeps,
so the test can delete the pod), ``oom`` (allocates past the pod's memory
limit), ``bug`` (raises: a deterministic failure, exit 3).  ``--param
task=map`` or ``reduce`` chooses where.  The misbehaving attempt first
creates ``--param marker=s3://...``, so every later attempt (a retry, or
`argo retry` of the whole run) runs normally.  With ``sleep``, every attempt
of the task also leaves ``MARKER.start-<uuid>``, so the test can count them.
"""

import os
import re
import time
import uuid

import fsspec

from mrargo import MapReduce

WORD = re.compile(r"[a-z]+")


class Faulty(MapReduce):
    REDUCERS = 2

    def _first_attempt_misbehaves(self, where: str) -> None:
        if self.params.get("task", "map") != where:
            return
        fs, path = fsspec.core.url_to_fs(self.params["marker"])
        if self.params["fault"] == "sleep":
            fs.pipe_file(f"{path}.start-{uuid.uuid4().hex}", b"")  # one for every attempt: the test counts them
        if fs.exists(path):
            return
        fs.pipe_file(path, b"tripped")
        fault = self.params["fault"]
        if fault == "exit":
            os._exit(1)
        elif fault == "sleep":
            time.sleep(600)
        elif fault == "oom":
            hog = [bytearray(16 << 20) for _ in range(64)]  # 1 GiB, page by page
            for block in hog:
                block[::4096] = b"x" * len(block[::4096])
        elif fault == "bug":
            raise RuntimeError("a bug that fails the same way every time")

    def mapper_init(self):
        self._first_attempt_misbehaves("map")

    def mapper(self, _, line):
        for word in WORD.findall(line.lower()):
            yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer_init(self):
        self._first_attempt_misbehaves("reduce")

    def reducer(self, word, counts):
        yield word, sum(counts)
