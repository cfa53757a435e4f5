"""Methods that return lists or None instead of yielding, which mrjob accepts."""

from mrargo.compat.mrjob.job import MRJob


class MRLengths(MRJob):
    def mapper(self, _, line):
        if not line.strip():
            return None
        return [(len(word), word) for word in line.split()]

    def reducer(self, length, words):
        distinct = sorted(set(words))
        if len(distinct) < 2:
            return None
        return [(length, distinct[:3])]

    def mapper_final(self):
        return None


if __name__ == "__main__":
    MRLengths.run()
