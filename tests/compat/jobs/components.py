"""Connected components by repeated min-label propagation: as many steps as --iterations says."""

from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.step import MRStep


class MRComponents(MRJob):
    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--iterations", type=int, default=3)

    def steps(self):
        first = MRStep(mapper=self.edges, reducer=self.adjacency)
        spread = MRStep(mapper=self.send, reducer=self.keep_min)
        return [first] + [spread] * self.options.iterations + [MRStep(mapper=self.by_label, reducer=self.members)]

    def edges(self, _, line):
        a, b = line.split()
        yield a, b
        yield b, a

    def adjacency(self, node, neighbours):
        yield node, [node, sorted(set(neighbours))]

    def send(self, node, state):
        label, neighbours = state
        yield node, ["self", label, neighbours]
        for n in neighbours:
            yield n, ["label", label]

    def keep_min(self, node, messages):
        best, neighbours = None, []
        for m in messages:
            if m[0] == "self":
                neighbours = m[2]
            best = m[1] if best is None else min(best, m[1])
        yield node, [best, neighbours]

    def by_label(self, node, state):
        yield state[0], node

    def members(self, label, nodes):
        yield label, sorted(nodes)


if __name__ == "__main__":
    MRComponents.run()
