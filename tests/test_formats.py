"""OUTPUT_FORMAT 'raw' writes plain lines; REDUCERS = 0 (or --reducers 0) makes a job map-only."""

from __future__ import annotations

import os

from conftest import EXAMPLES, mrargo

RAW = """from mrargo import MapReduce

class Shout(MapReduce):
    OUTPUT_FORMAT = "raw"
    REDUCERS = 1

    def mapper(self, _, line):
        yield line, 1

    def reducer(self, line, ones):
        yield None, f"{line.upper()}\\t{sum(ones)}"
"""


def test_raw_output_is_each_value_as_a_line(tmp_path) -> None:
    job = tmp_path / "shout.py"
    job.write_text(RAW)
    (tmp_path / "in.txt").write_text("b\na\nb\n")
    mrargo("run", str(job), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), "-q")
    assert (tmp_path / "out" / "part-00000").read_text() == "A\t1\nB\t2\n"
    bad = tmp_path / "bad.py"
    bad.write_text(RAW.replace('f"{line.upper()}\\t{sum(ones)}"', "sum(ones)"))
    proc = mrargo("run", str(bad), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "o2"), "-q", check=False)
    assert proc.returncode == 3
    assert proc.stderr.strip().endswith("OUTPUT_FORMAT 'raw' writes str values as lines, got int 1")


def test_zero_reducers_make_a_job_map_only(tmp_path) -> None:
    (tmp_path / "in.txt").write_text("a b\nc\n")
    mrargo("run", os.path.join(EXAMPLES, "wordcount.py"), "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out"), "-q", "--reducers", "0")
    parts = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith("part-"))
    assert parts == ["part-00000"]  # one per map task, no reduce
    assert (tmp_path / "out" / "part-00000").read_text() == '"a"\t1\n"b"\t1\n"c"\t1\n'  # the mapper's pairs, uncombined
