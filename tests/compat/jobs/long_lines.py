"""Map-only: the mapper's output is the job's output (JSONValueProtocol), no reducer."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import JSONValueProtocol


class MRLongLines(MRJob):
    OUTPUT_PROTOCOL = JSONValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--min-words", type=int, default=8)

    def mapper(self, _, line):
        n = len(line.split())
        if n >= self.options.min_words:
            yield None, {"words": n, "start": line[:12]}


if __name__ == "__main__":
    MRLongLines.run()
