"""Values arrive sorted (SORT_VALUES), and a reducer-only step passes input through."""

from mrargo import MapReduce, Step


class Secondary(MapReduce):
    SORT_VALUES = True
    INPUT_FORMAT = "jsonl"

    def steps(self):
        return [Step(mapper=self.by_user, reducer=self.collect), Step(reducer=self.count)]

    def by_user(self, _, rec):
        yield rec["user"], [rec["t"], rec["what"]]

    def collect(self, user, events):
        yield user, [what for _, what in events]

    def count(self, user, lists):
        for seq in lists:
            yield user, len(seq)
