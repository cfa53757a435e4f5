"""Each mrjob-style job of tests/compat/jobs, run the way mrjob's docs test jobs, checked against plain Python.

    job = MRJob([...args, inputs])
    with job.make_runner() as runner:
        runner.run()
        pairs = list(job.parse_output(runner.cat_output()))
"""

from __future__ import annotations

import collections
import gzip
import heapq
import json
import os
import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from mrjob_helpers import JOBS, load_job, text_lines, write_corpus

WORD = re.compile(r"[^\W\d_]+")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("mrjob-data"))


def texts(data: dict[str, Path]) -> list[Path]:
    return [data["text0"], data["text1"], data["text2"]]


def run(name: str, *args: str, stdin: bytes | None = None) -> tuple[list[tuple[Any, Any]], list[dict[str, dict[str, int]]], Any]:
    """mrjob's documented test pattern: (output pairs, runner.counters(), the job)."""
    job = load_job(name)(["-r", "inline", "--no-conf", "-q", *args])
    if stdin is not None:
        job.sandbox(stdin=BytesIO(stdin))
    with job.make_runner() as runner:
        runner.run()
        pairs = list(job.parse_output(runner.cat_output()))
        return pairs, runner.counters(), job


def all_lines(data: dict[str, Path]) -> list[str]:
    return [line for lines in text_lines(texts(data)).values() for line in lines]


def test_word_freq_counts_words_and_counters(data: dict[str, Path]) -> None:
    pairs, counters, _ = run("word_freq", *map(str, texts(data)))
    want = collections.Counter(w for line in all_lines(data) for w in WORD.findall(line.lower()))
    assert dict(pairs) == dict(want) and len(pairs) == len(want)
    blank = sum(1 for line in all_lines(data) if not WORD.findall(line.lower()))
    assert counters == [{"lines": {"without words": blank}, "words": {"distinct": len(want)}}]


def test_stdin_and_the_sandbox(data: dict[str, Path]) -> None:
    """`-` (or no input at all) reads the sandboxed stdin, as in mrjob's unit tests."""
    pairs, _, _ = run("word_freq", "-", stdin=b"a b a\nc a\n")
    assert dict(pairs) == {"a": 3, "b": 1, "c": 1}
    job = load_job("word_freq")(["--no-conf", "-q"]).sandbox(stdin=[b"x y\n", b"x\n"])
    with job.make_runner() as runner:
        runner.run()
        assert dict(job.parse_output(runner.cat_output())) == {"x": 2, "y": 1}


def test_methods_returning_lists_or_none(data: dict[str, Path]) -> None:
    pairs, _, _ = run("returns_none", *map(str, texts(data)[:2]))
    by_len: dict[int, set[str]] = collections.defaultdict(set)
    for line in text_lines(texts(data)[:2]).values():
        for text in line:
            for w in text.split():
                by_len[len(w)].add(w)
    assert dict(pairs) == {n: sorted(ws)[:3] for n, ws in by_len.items() if len(ws) >= 2}


def test_every_hook_runs_and_final_hooks_yield(data: dict[str, Path]) -> None:
    pairs, counters, _ = run("hooks", *map(str, texts(data)))
    letters = collections.Counter(ch for line in all_lines(data) for ch in line.lower() if ch.isalpha())
    assert dict(pairs) == {**letters, "*": sum(letters.values())}
    assert counters[0]["hooks"]["keys reduced"] == len(letters) + 1
    assert counters[0]["hooks"]["combiner_final"] >= 1


def test_two_steps_with_an_option_and_a_jobconf_reducer_count(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    pairs, _, _ = run("top_words", "--top", "4", "-o", str(out), *map(str, texts(data)))
    counts = collections.Counter(w for line in all_lines(data) for w in WORD.findall(line.lower()))
    top = heapq.nlargest(4, ((n, w) for w, n in counts.items()))
    assert pairs == [(i, [w, n]) for i, (n, w) in enumerate(top, 1)]
    assert [p.name for p in out.glob("part-*")] == ["part-00000"]  # jobconf mapreduce.job.reduces=1 in step 2


def test_json_value_protocols_in_and_out(data: dict[str, Path]) -> None:
    pairs, _, _ = run("json_records", str(data["records"]))
    totals: dict[str, list[int]] = collections.defaultdict(list)
    for line in data["records"].read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        totals[r["user"]].append(r["amount"])
    assert all(k is None for k, _ in pairs)
    assert sorted((v["user"], v["total"], v["orders"]) for _, v in pairs) == sorted((u, sum(a), len(a)) for u, a in totals.items())


def test_repr_internal_protocol_keeps_tuples_and_sets(data: dict[str, Path]) -> None:
    pairs, _, _ = run("repr_pairs", str(data["text0"]))
    want: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
    for line in text_lines([data["text0"]])["text0.txt"]:
        words = line.lower().split()
        for a, b in zip(words, words[1:], strict=False):
            want[(a[:1], len(a))].add(b[:1])
    # RawProtocol output, read back by parse_output with the line's newline, as mrjob does.
    assert sorted(pairs) == sorted((f"{k[0]}{k[1]}", "".join(sorted(v)) + "\n") for k, v in want.items())


def test_raw_protocol_input_and_raw_value_output(data: dict[str, Path]) -> None:
    pairs, _, _ = run("tsv_raw", str(data["scores"]))
    scores: dict[str, list[int]] = collections.defaultdict(list)
    for line in data["scores"].read_text().splitlines():
        if "\t" in line:
            team, s = line.split("\t")
            scores[team].append(int(s))
    assert sorted(v for _, v in pairs) == sorted(f"{t},{len(s)},{sum(s) / len(s):.2f}\n" for t, s in scores.items())


def test_bytes_protocols(data: dict[str, Path]) -> None:
    pairs, _, _ = run("bytes_lines", *map(str, texts(data)[:2]))
    want: dict[bytes, int] = {}
    for p in texts(data)[:2]:
        for line in p.read_bytes().split(b"\n"):
            if line:
                first = line[:1].decode("utf-8", "replace").encode()
                want[first] = max(want.get(first, 0), len(line))
    assert {k: int(v) for k, v in pairs} == want


@pytest.mark.parametrize("extra", [False, True])
def test_passthrough_and_file_options_reach_every_task(data: dict[str, Path], tmp_path: Path, extra: bool) -> None:
    extra_file = tmp_path / "more_stop.txt"
    extra_file.write_text("fox\nquick\n")
    args = ["--min-count", "30", "--prefix", "f", "--prefix", "b", "--keep-case"]
    if extra:
        args += ["--extra-stop-words", str(extra_file)]
    pairs, _, job = run("options_files", *args, *map(str, texts(data)))
    stop = set((JOBS / "stop_words.txt").read_text().split()) | ({"fox", "quick"} if extra else set())
    counts = collections.Counter(w for line in all_lines(data) for w in WORD.findall(line) if w not in stop and w.startswith(("f", "b")))
    assert dict(pairs) == {w: [n, "inline"] for w, n in counts.items() if n >= 30}
    assert job.prefixes == ("f", "b") and job.options.min_count == 30


@pytest.mark.parametrize("iterations", [1, 3])
def test_steps_that_depend_on_an_option(data: dict[str, Path], iterations: int) -> None:
    pairs, _, job = run("components", "--iterations", str(iterations), str(data["edges"]))
    assert len(job.steps()) == iterations + 2
    # Min-label propagation: after k rounds a node has the least label within k hops.
    adj: dict[str, set[str]] = collections.defaultdict(set)
    for line in data["edges"].read_text().splitlines():
        a, b = line.split()
        adj[a].add(b)
        adj[b].add(a)
    label = {n: n for n in adj}
    for _ in range(iterations):
        label = {n: min([label[n]] + [label[m] for m in adj[n]]) for n in adj}
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for n, lab in label.items():
        groups[lab].append(n)
    assert dict(pairs) == {lab: sorted(ns) for lab, ns in groups.items()}


def test_input_file_from_jobconf_from_env(data: dict[str, Path]) -> None:
    pairs, _, _ = run("per_file", *map(str, texts(data)))
    assert dict(pairs) == {name: len(lines) for name, lines in text_lines(texts(data)).items()}


def test_mapper_raw_gets_each_whole_file_as_stored(data: dict[str, Path]) -> None:
    pairs, _, _ = run("file_stats", *map(str, texts(data)))
    assert dict(pairs) == {p.name: [len(p.read_bytes()), p.read_bytes().count(b"\n")] for p in texts(data)}


def test_mapper_cmd_map_only(data: dict[str, Path]) -> None:
    # The output is grep's lines, which are not JSONProtocol: read them as bytes, not with parse_output.
    job = load_job("grep_lines")(["--no-conf", "-q", *map(str, texts(data)[:2])])
    with job.make_runner() as runner:
        runner.run()
        got = b"".join(runner.cat_output()).decode().splitlines()
    want = [line for lines in text_lines(texts(data)[:2]).values() for line in lines if "fox" in line.lower()]
    assert sorted(got) == sorted(want)


def test_pre_filter_and_reducer_cmd(data: dict[str, Path]) -> None:
    job = load_job("prefiltered")(["--no-conf", "-q", *map(str, texts(data))])
    with job.make_runner() as runner:
        runner.run()
        got = b"".join(runner.cat_output()).decode().splitlines()
    firsts = collections.Counter(line.lower().split()[0] for line in all_lines(data) if line.strip() and not line.startswith("#"))
    assert sorted(got) == sorted(json.dumps(w) for w in firsts)


def test_sort_values_gives_totals_first(data: dict[str, Path]) -> None:
    pairs, _, _ = run("shares", *map(str, texts(data)))
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, lines in text_lines(texts(data)).items():
        for line in lines:
            for w in WORD.findall(line.lower()):
                per[w][name] += 1
    assert dict(pairs) == {w: {n: round(c / sum(cs.values()), 4) for n, c in sorted(cs.items())} for w, cs in per.items()}


def test_map_only_job(data: dict[str, Path]) -> None:
    pairs, _, _ = run("long_lines", "--min-words", "11", str(data["text0"]))
    lines = text_lines([data["text0"]])["text0.txt"]
    assert sorted(json.dumps(v) for _, v in pairs) == sorted(json.dumps({"words": len(x.split()), "start": x[:12]}) for x in lines if len(x.split()) >= 11)


@pytest.mark.parametrize("reduces", ["0", "3"])
def test_jobconf_reducers_on_the_command_line(data: dict[str, Path], tmp_path: Path, reduces: str) -> None:
    out = tmp_path / "out"
    pairs, _, _ = run("word_freq", "-D", f"mapreduce.job.reduces={reduces}", "-o", str(out), str(data["text0"]))
    words = [w for line in text_lines([data["text0"]])["text0.txt"] for w in WORD.findall(line.lower())]
    if reduces == "0":
        # Map-only, as on Hadoop: the mapper's pairs, written with the internal protocol.
        assert sorted(pairs) == sorted((w, 1) for w in words)
        assert len(list(out.glob("part-*"))) == 1
    else:
        assert dict(pairs) == dict(collections.Counter(words))
        assert len(list(out.glob("part-*"))) == 3


def test_steps_are_mrsteps_that_compare_as_mrjob_does() -> None:
    from mrargo.compat.mrjob.step import MRStep

    job = load_job("top_words")([])
    assert job.steps() == [
        MRStep(mapper=job.words, combiner=job.add, reducer=job.add),
        MRStep(mapper=job.to_one_key, reducer=job.best, jobconf={"mapreduce.job.reduces": "1"}),
    ]
    assert job.steps()[1]["reducer"] == job.best


def test_gzip_input_is_read_decompressed(tmp_path: Path) -> None:
    p = tmp_path / "in.txt.gz"
    p.write_bytes(gzip.compress(b"zip zap zip\n"))
    pairs, _, _ = run("word_freq", str(p))
    assert dict(pairs) == {"zip": 2, "zap": 1}


def test_output_dir_keeps_part_files(data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "kept"
    job = load_job("word_freq")(["--no-conf", "-q", "-o", str(out), str(data["text0"])])
    with job.make_runner() as runner:
        runner.run()
        assert runner.get_output_dir() == str(out)
    assert (out / "_SUCCESS").exists() and os.listdir(out)


def write_job(tmp_path: Path, source: str) -> Any:
    from mrargo.plan.build import load_job as load

    path = tmp_path / "job.py"
    path.write_text("from mrargo.compat.mrjob.job import MRJob\nfrom mrargo.compat.mrjob.step import MRStep\nfrom mrargo.compat.mrjob import protocol\n\n" + source)
    return load(str(path))[1]


def run_cls(cls: Any, *args: str, stdin: bytes) -> tuple[bytes, list[dict[str, dict[str, int]]]]:
    job = cls(["--no-conf", "-q", *args, "-"]).sandbox(stdin=BytesIO(stdin))
    with job.make_runner() as runner:
        runner.run()
        return b"".join(runner.cat_output()), runner.counters()


def test_a_jobs_own_pick_protocols(tmp_path: Path) -> None:
    """Protocols chosen per step by the job: step 1 writes repr, step 2 reads it back and writes text."""
    cls = write_job(
        tmp_path,
        "class MRPicky(MRJob):\n"
        "    def steps(self):\n"
        "        return [MRStep(mapper=self.m, reducer=self.r), MRStep(reducer=self.out)]\n"
        "    def pick_protocols(self, step_num, step_type):\n"
        "        read = protocol.RawValueProtocol() if (step_num, step_type) == (0, 'mapper') else protocol.ReprProtocol()\n"
        "        write = protocol.TextProtocol() if (step_num, step_type) == (1, 'reducer') else protocol.ReprProtocol()\n"
        "        return read.read, write.write\n"
        "    def m(self, _, line):\n"
        "        yield (len(line), line[:1]), {line}\n"
        "    def r(self, key, sets):\n"
        "        yield key, set().union(*sets)\n"
        "    def out(self, key, sets):\n"
        "        for s in sets:\n"
        "            yield f'{key[0]}{key[1]}', ','.join(sorted(s))\n",
    )
    out, _ = run_cls(cls, stdin=b"ab\nac\nb\nab\n")
    assert sorted(out.decode().splitlines()) == ["1b\tb", "2a\tab,ac"]


def test_commands_see_the_input_file_and_report_counters(tmp_path: Path) -> None:
    script = tmp_path / "tag.sh"
    script.write_text('while read -r l; do printf "%s\\t%s\\n" "$(basename "$mapreduce_map_input_file")" "$MY_VAR"; echo reporter:counter:cmd,lines,1 >&2; done\n')
    cls = write_job(
        tmp_path,
        "class MRTag(MRJob):\n"
        f"    def mapper_cmd(self):\n        return 'sh {script}'\n"
        "    def reducer(self, name, values):\n"
        "        yield name, sorted(set(values))\n",
    )
    out, counters = run_cls(cls, "--cmdenv", "MY_VAR=set", stdin=b"a\nb\nc\n")
    # The command's lines reach the reducer through the internal protocol: raw words are not JSON, so mrjob's
    # rule applies: this reducer is the first Python substep, and reads with INPUT_PROTOCOL (whole lines, key None).
    assert out.decode().splitlines() == ['null\t["stdin\\tset"]']
    assert counters == [{"cmd": {"lines": 3}}]


def test_a_job_made_without_arguments_has_default_options() -> None:
    job = load_job("top_words")()
    assert job.options.top == 5 and job.options.args == [] and not job.is_task()


def test_mapper_raw_reads_binary_files(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 3)
    pairs, _, _ = run("file_stats", str(blob))
    assert pairs == [("blob.bin", [768, 3])]


def test_reducers_zero_on_the_class_is_map_only(tmp_path: Path) -> None:
    cls = write_job(tmp_path, "class MRMapOnly(MRJob):\n    REDUCERS = 0\n    def mapper(self, _, line):\n        yield line, len(line)\n    def reducer(self, k, vs):\n        yield k, sum(vs)\n")
    out, _ = run_cls(cls, stdin=b"ab\nab\n")
    assert out == b'"ab"\t2\n"ab"\t2\n'


def test_one_step_in_this_process_as_mrjobs_unit_tests_do() -> None:
    """map_pairs / reduce_pairs, and run_mapper / run_reducer on a sandbox, need no runner."""
    job = load_job("word_freq")([])
    assert list(job.map_pairs([(None, "A b a")])) == [("a", 1), ("b", 1), ("a", 1)]
    assert list(job.reduce_pairs([("a", 1), ("a", 2), ("b", 5)])) == [("a", 3), ("b", 5)]
    assert list(job.combine_pairs([("a", 1), ("a", 2)])) == [("a", 3)]
    job.sandbox(stdin=BytesIO(b"x y x\n"))
    job.run_mapper()
    assert job.stdout.getvalue() == b'"x"\t1\n"y"\t1\n"x"\t1\n'
    job.sandbox(stdin=BytesIO(b'"x"\t1\n"x"\t1\n"y"\t1\n'))
    job.run_reducer()
    assert job.stdout.getvalue() == b'"x"\t2\n"y"\t1\n'
    two = load_job("top_words")(["--top", "1"])
    assert list(two.reduce_pairs([(None, [3, "a"]), (None, [5, "b"])], step_num=1)) == [(1, ["b", 5])]
    with pytest.raises(ValueError, match="Out-of-range step: 2"):
        list(two.map_pairs([], step_num=2))


def test_mapper_raw_downloads_a_remote_file_first() -> None:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/mrjob-raw/in.bin", b"one\ntwo\n")
    pairs, _, _ = run("file_stats", "memory://mrjob-raw/in.bin")
    assert pairs == [("in.bin", [8, 2])]


INIT_AND_FINAL = '''
import os
from mrargo.compat.mrjob.job import MRJob
from mrargo.compat.mrjob.compat import jobconf_from_env

def name():
    return os.path.basename(jobconf_from_env("mapreduce.map.input.file") or "NONE")

class J(MRJob):
    def mapper_init(self):
        self.name = name()
    def mapper(self, _, line):
        yield self.name, 1
    def mapper_final(self):
        yield "final:" + name(), 1
    def reducer(self, k, vs):
        yield k, sum(vs)
'''


def test_mapper_init_and_final_see_the_file_of_a_one_file_task(tmp_path: Path) -> None:
    """As in a Hadoop map task over one split; a task over a group of small files has no one file."""
    import subprocess
    import sys

    (tmp_path / "job.py").write_text(INIT_AND_FINAL)
    (tmp_path / "one.txt").write_text("a\n" * 4)
    (tmp_path / "two.txt").write_text("b\n" * 2)

    def counts(*inputs: str) -> dict[str, int]:
        out = tmp_path / f"out-{len(inputs)}"
        argv = [sys.executable, "-m", "mrargo", "run", "job.py", *(a for i in inputs for a in ("-i", i)), "-o", str(out), "-q"]
        subprocess.run(argv, cwd=tmp_path, check=True)
        lines = (line.split("\t") for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines())
        return {json.loads(k): int(v) for k, v in lines}

    assert counts("one.txt") == {"one.txt": 4, "final:one.txt": 1}
    assert counts("one.txt", "two.txt") == {"NONE": 6, "final:NONE": 1}  # one task reads both small files


def test_counters_come_one_dict_a_step(tmp_path: Path) -> None:
    """runner.counters() as mrjob gives it: a list with each step's counters, in step order."""
    cls = write_job(tmp_path, '''
class TwoSteps(MRJob):
    def steps(self):
        return [MRStep(mapper=self.words, reducer=self.count), MRStep(reducer=self.top)]

    def words(self, _, line):
        self.increment_counter("step one", "lines")
        for w in line.split():
            yield w, 1

    def count(self, w, ones):
        yield None, (sum(ones), w)

    def top(self, _, pairs):
        pairs = sorted(pairs, reverse=True)
        self.increment_counter("step two", "words seen", len(pairs))
        yield pairs[0][1], pairs[0][0]
''')
    out, counters = run_cls(cls, stdin=b"a b a\nc a\n")
    assert out == b'"a"\t3\n'
    assert counters == [{"step one": {"lines": 2}}, {"step two": {"words seen": 3}}]
