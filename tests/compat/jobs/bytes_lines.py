"""Bytes in and out: BytesValueProtocol input, BytesProtocol output."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import BytesProtocol, BytesValueProtocol


class MRFirstBytes(MRJob):
    INPUT_PROTOCOL = BytesValueProtocol
    OUTPUT_PROTOCOL = BytesProtocol

    def mapper(self, _, line):
        assert isinstance(line, bytes)
        if line:
            yield line[:1].decode("utf-8", "replace"), len(line)

    def reducer(self, first, lengths):
        yield first.encode("utf-8"), str(max(lengths)).encode()


if __name__ == "__main__":
    MRFirstBytes.run()
