"""Tab-separated input read with RawProtocol; plain lines out with RawValueProtocol."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import RawProtocol, RawValueProtocol


class MRTeamAverage(MRJob):
    INPUT_PROTOCOL = RawProtocol
    OUTPUT_PROTOCOL = RawValueProtocol

    def mapper(self, team, score):
        if score is not None:
            yield team, int(score)

    def reducer(self, team, scores):
        scores = list(scores)
        yield None, f"{team},{len(scores)},{sum(scores) / len(scores):.2f}"


if __name__ == "__main__":
    MRTeamAverage.run()
