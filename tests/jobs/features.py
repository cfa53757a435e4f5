"""A job that uses every hook, params, side files, counters and a custom partition."""

from mrargo import MapReduce


class Features(MapReduce):
    FILES = ["stop_words.txt"]
    REDUCERS = 3

    def mapper_init(self):
        with open("stop_words.txt") as f:
            self.stop = set(f.read().split())
        self.prefix = self.params.get("prefix", "")

    def mapper(self, _, line):
        for word in line.split():
            if word in self.stop:
                self.increment_counter("words", "stopped")
                continue
            yield self.prefix + word, 1

    def mapper_final(self):
        yield "__mappers__", 1

    def reducer_init(self):
        self.groups = 0

    def reducer(self, word, counts):
        self.groups += 1
        yield word, sum(counts)

    def reducer_final(self):
        yield ["__groups__", self.groups], 1

    def partition(self, key, n):
        # Words by first letter, so a test can check where keys went.
        return 0 if isinstance(key, list) else ord(str(key)[0]) % n
