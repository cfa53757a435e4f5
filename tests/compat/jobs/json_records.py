"""JSON lines in, JSON lines out: INPUT_PROTOCOL and OUTPUT_PROTOCOL = JSONValueProtocol."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import JSONValueProtocol


class MRSpendPerUser(MRJob):
    INPUT_PROTOCOL = JSONValueProtocol
    OUTPUT_PROTOCOL = JSONValueProtocol

    def mapper(self, _, record):
        yield record["user"], record["amount"]

    def reducer(self, user, amounts):
        amounts = list(amounts)
        yield None, {"user": user, "total": sum(amounts), "orders": len(amounts)}


if __name__ == "__main__":
    MRSpendPerUser.run()
