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
        # SORT_VALUES: the events come in time order, [t, what] pairs compared as keys are.
        yield user, [what for _, what in events]

    def count(self, user, sequences):
        # Step 1's sequence passes through whole, so a test sees its order.
        for seq in sequences:
            yield user, {"events": len(seq), "in order": seq}
