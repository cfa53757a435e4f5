"""Options that reach every task: add_passthru_arg, add_file_arg, pass_arg_through, load_args; FILES."""

import re

from mrargo.compat.mrjob.job import MRJob

WORD = re.compile(r"[^\W\d_]+")


class MRFilteredCounts(MRJob):
    FILES = ["stop_words.txt"]

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg("--min-count", type=int, default=1)
        self.add_passthru_arg("--prefix", action="append", default=[])
        self.add_passthru_arg("--keep-case", action="store_true")
        self.add_file_arg("--extra-stop-words")
        self.pass_arg_through("--runner")

    def load_args(self, args):
        super().load_args(args)
        self.prefixes = tuple(self.options.prefix)

    def mapper_init(self):
        with open("stop_words.txt", encoding="utf-8") as f:
            self.stop = set(f.read().split())
        if self.options.extra_stop_words:
            with open(self.options.extra_stop_words, encoding="utf-8") as f:
                self.stop |= set(f.read().split())

    def mapper(self, _, line):
        for word in WORD.findall(line if self.options.keep_case else line.lower()):
            if word not in self.stop and (not self.prefixes or word.startswith(self.prefixes)):
                yield word, 1

    def combiner(self, word, counts):
        yield word, sum(counts)

    def reducer(self, word, counts):
        n = sum(counts)
        if n >= self.options.min_count:
            yield word, [n, self.options.runner]


if __name__ == "__main__":
    MRFilteredCounts.run()
