"""Raises (or is SIGKILLed) after writing part of its output, on the first attempt only."""

import os
import signal

from mrargo import MapReduce


class Partial(MapReduce):
    REDUCERS = 1

    def mapper(self, _, line):
        yield line, 1

    def reducer_init(self):
        self.n = 0

    def reducer(self, key, values):
        yield key, sum(values)
        self.n += 1
        if self.n == 30000:  # well past the first 1 MiB buffer flush
            marker = os.path.join(self.params["markers"], "died")
            if not os.path.exists(marker):
                open(marker, "w").close()
                if self.params.get("how") == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise RuntimeError("died after writing part of the output")
