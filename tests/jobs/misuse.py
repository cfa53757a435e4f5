"""A word count that misuses the API as its ``how`` parameter says (tests/test_misuse.py).

One job for every kind of misuse in user code, so that one compiled spec
serves them all: ``--param how=...`` picks the mistake at run time.  The
mapper, combiner and reducer are plain methods that return a generator, so
that they can also return None, as a method written with ``return`` by
mistake does.
"""

from mrargo import MapReduce


class Misuse(MapReduce):
    REDUCERS = 2

    def how(self):
        return self.params.get("how", "")

    def mapper(self, _, line):
        if self.how() == "mapper-returns-none":
            return None
        return self.map_words(line, self.how())

    def map_words(self, line, how):
        for word in line.split():
            if how == "mapper-raises":
                raise ValueError(f"cannot digest {word}")
            if how == "mapper-yields-str":
                yield "go"
            elif how == "nan-value":
                yield word, float("nan")
            elif how == "infinite-key":
                yield float("inf"), 1
            elif how == "float-counter":
                self.increment_counter("words", "seen", 0.5)
            elif how == "bool-counter":
                self.increment_counter("words", "seen", True)
            else:
                yield word, 1

    def combiner(self, word, counts):
        return self.total("combiner", word, counts)

    def reducer(self, word, counts):
        return self.total("reducer", word, counts)

    def total(self, role, word, counts):
        how = self.how()
        if how == f"{role}-returns-none":
            return None
        if how == f"{role}-raises":
            raise RuntimeError(f"the {role} gives up on {word}")
        return self.sum_words(role, word, counts, how)

    def sum_words(self, role, word, counts, how):
        if how == f"{role}-yields-str":
            yield "go"
        elif how == "set-value" and role == "reducer":
            yield word, {1, 2}
        else:
            yield word, sum(counts)

    def partition(self, key, n):
        how = self.how()
        if how == "partition-out-of-range":
            return n
        if how == "partition-not-int":
            return "0"
        return len(key) % n
