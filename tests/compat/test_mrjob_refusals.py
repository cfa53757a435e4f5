"""What mrargo cannot do for an mrjob job is refused before any work, with one line that says why and what to do."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import mrargo
from mrjob_helpers import run_script

HEADER = """\
from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.protocol import PickleProtocol, PickleValueProtocol
from mrargo.compat.mrjob.step import JarStep, MRStep, SparkStep


class MRRefused(MRJob):
    def mapper(self, _, line):
        yield line, 1

    def reducer(self, key, ones):
        yield key, sum(ones)

"""
FOOTER = """

if __name__ == "__main__":
    MRRefused.run()
"""

CASES = {
    "jar step": ("def steps(self):\n    return [JarStep(jar='wc.jar')]", "JarStep is not supported: mrargo runs Python map/reduce steps, not Hadoop jars"),
    "spark step": ("def steps(self):\n    return [SparkStep(spark=self.mapper)]", "SparkStep is not supported: mrargo has no Spark runner"),
    "spark method": ("def spark(self, input_path, output_path):\n    pass\n\ndef steps(self):\n    return MRJob.steps(self)", "SparkStep is not supported"),
    "pickle internal": ("INTERNAL_PROTOCOL = PickleProtocol", "INTERNAL_PROTOCOL PickleProtocol is refused: mrargo never unpickles data"),
    "pickle input": ("INPUT_PROTOCOL = PickleValueProtocol", "INPUT_PROTOCOL PickleValueProtocol is refused: mrargo never unpickles data"),
    "archives": ("ARCHIVES = ['lookup.tar.gz']", "sets ARCHIVES, which mrargo does not support"),
    "input format": ("HADOOP_INPUT_FORMAT = 'org.apache.hadoop.mapred.lib.NLineInputFormat'", "sets HADOOP_INPUT_FORMAT, which mrargo does not support"),
    "output format": ("HADOOP_OUTPUT_FORMAT = 'org.apache.hadoop.mapred.lib.MultipleTextOutputFormat'", "sets HADOOP_OUTPUT_FORMAT"),
    "partitioner": ("PARTITIONER = 'org.apache.hadoop.mapred.lib.HashPartitioner'", "define partition(self, key, n) on the job to route keys"),
    "libjars": ("LIBJARS = ['x.jar']", "sets LIBJARS, which mrargo does not support: mrargo runs no Java"),
    "renamed file": ("FILES = ['data.txt#other.txt']", "mrargo ships them under their own names"),
    "native output format": ("OUTPUT_FORMAT = 'json'", "an mrjob job's output is OUTPUT_PROTOCOL's lines, so remove it"),
    "key fields": ("JOBCONF = {'stream.num.map.output.key.fields': '2'}", "jobconf stream.num.map.output.key.fields changes how Hadoop cuts, sorts or partitions keys"),
    "combiner cmd": ("def steps(self):\n    return [MRStep(mapper=self.mapper, combiner_cmd='sort', reducer=self.reducer)]", "has a combiner_cmd, which mrargo does not run"),
    "reducer pre-filter": ("def steps(self):\n    return [MRStep(mapper=self.mapper, reducer_pre_filter='grep x', reducer=self.reducer)]", "has a reducer_pre_filter, which mrargo does not run"),
    "raw in a later step": ("def raw(self, path, uri):\n    yield uri, 1\n\ndef steps(self):\n    return [MRStep(mapper=self.mapper), MRStep(mapper_raw=self.raw)]", "step 2 has a mapper_raw: mapper_raw reads whole files"),
    "raw without files": ("def raw(self, path, uri):\n    yield uri, 1\n\ndef steps(self):\n    return [MRStep(mapper_raw=self.raw)]", "step 1 has a mapper_raw: set INPUT_FORMAT = 'files' on the class"),
    "not a step": ("def steps(self):\n    return [self.mapper]", "steps()[0] must be an MRStep, got method"),
}


def write_job(tmp_path: Path, body: str) -> Path:
    job = tmp_path / "refused.py"
    job.write_text(HEADER + textwrap.indent(body, "    ") + FOOTER)
    return job


@pytest.mark.parametrize("case", list(CASES))
def test_python_job_py_refuses(case: str, tmp_path: Path) -> None:
    body, message = CASES[case]
    (tmp_path / "in.txt").write_text("a\n")
    proc = run_script(write_job(tmp_path, body), "-q", str(tmp_path / "in.txt"))
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 3, lines
    assert len(lines) == 1 and lines[0].startswith("refused.py: error: ") and message in lines[0], lines


@pytest.mark.parametrize("case", ["jar step", "pickle internal", "archives", "combiner cmd"])
def test_mrargo_run_and_compile_refuse_too(case: str, tmp_path: Path) -> None:
    body, message = CASES[case]
    job = write_job(tmp_path, body)
    (tmp_path / "in.txt").write_text("a\n")
    for args in (["run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out")], ["compile", str(job), "--image", "x", "--work-root", "s3://b/w"]):
        proc = mrargo(*args, check=False)
        assert proc.returncode == 3 and message in proc.stderr, proc.stderr


def test_pickle_output_is_written_but_never_read(tmp_path: Path) -> None:
    """PickleProtocol as OUTPUT_PROTOCOL writes mrjob's escaped pickles; mrargo itself never reads one."""
    import pickle

    from mrargo.compat.mrjob.protocol import PickleProtocol

    job = write_job(tmp_path, "OUTPUT_PROTOCOL = PickleProtocol")
    proc = run_script(job, "-q", "-", stdin=b"x\nx\n")
    assert proc.returncode == 0, proc.stderr.decode()
    key, value = proc.stdout.rstrip(b"\n").split(b"\t")
    assert pickle.loads(key.decode("unicode_escape").encode("latin-1")) == "x"
    assert pickle.loads(value.decode("unicode_escape").encode("latin-1")) == 2
    with pytest.raises(Exception, match="mrargo never unpickles data"):
        PickleProtocol().read(proc.stdout.rstrip(b"\n"))


def test_a_job_with_nothing_to_run(tmp_path: Path) -> None:
    job = tmp_path / "empty.py"
    job.write_text("from mrargo.compat.mrjob.job import MRJob\n\nclass MREmpty(MRJob):\n    pass\n\nif __name__ == '__main__':\n    MREmpty.run()\n")
    proc = run_script(job, "-q", "-", stdin=b"a\n")
    assert proc.returncode == 3 and b"MREmpty defines no mapper, combiner or reducer, and no steps()" in proc.stderr


def test_reducers_zero_names_the_way_a_ported_job_goes_map_only(tmp_path: Path) -> None:
    """--reducers 0 comes after the steps are lowered; REDUCERS = 0 (the fix shown) works."""
    (tmp_path / "in.txt").write_text("a\nb\na\n")
    job = tmp_path / "job.py"
    job.write_text(HEADER + FOOTER)
    proc = mrargo("run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o1"), "--reducers", "0", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--reducers 0 cannot make MRRefused map-only" in proc.stderr and "set REDUCERS = 0 on the class" in proc.stderr
    job.write_text(HEADER.replace("class MRRefused(MRJob):\n", "class MRRefused(MRJob):\n    REDUCERS = 0\n") + FOOTER)
    mrargo("run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o2"), "-q")
    lines = [line for part in sorted((tmp_path / "o2").glob("part-*")) for line in part.read_text().splitlines()]
    assert sorted(lines) == ['"a"\t1', '"a"\t1', '"b"\t1']  # map-only: the mapper's pairs, in the output protocol
