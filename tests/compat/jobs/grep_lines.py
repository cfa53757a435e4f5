"""A map-only job that is one command: mapper_cmd, run without a shell, as mrjob's local runner does."""

from mrargo.compat.mrjob.job import MRJob


class MRGrep(MRJob):
    def mapper_cmd(self):
        return "grep -i fox"


if __name__ == "__main__":
    MRGrep.run()
