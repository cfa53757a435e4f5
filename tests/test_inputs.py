"""Splits and readers: every line exactly once, whatever the boundaries."""

from __future__ import annotations

import gzip
import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrargo import store
from mrargo.errors import InputError
from mrargo.runtime import inputs
from mrargo.runtime.inputs import DecodePolicy, Piece, Position, plan_splits, read_piece

line_text = st.text(alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=40)


def read_all(pieces: list[Piece], mode: str = "strict") -> list[str]:
    out = []
    for p in pieces:
        out.extend(v for _, v in read_piece(p, DecodePolicy(mode), Position(), 1 << 26))
    return out


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(line_text, max_size=60),
    trailing_newline=st.booleans(),
    split_bytes=st.integers(min_value=1, max_value=300),
    chunk=st.integers(min_value=1, max_value=64),
)
def test_no_line_lost_or_duplicated_at_any_boundary(tmp_path, monkeypatch, lines, trailing_newline, split_bytes, chunk) -> None:
    text = "\n".join(lines) + ("\n" if trailing_newline and lines else "")
    path = tmp_path / "in.txt"
    path.write_bytes(text.encode())
    monkeypatch.setattr(inputs, "CHUNK", chunk)
    files = store.expand_inputs([str(path)])
    splits = plan_splits(files, "lines", split_bytes)
    got = read_all([p for s in splits for p in s])
    expected = text.split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert got == expected


def test_boundaries_exactly_at_newlines(tmp_path, monkeypatch) -> None:
    # Every split boundary falls right after a newline: the classic off-by-one.
    path = tmp_path / "in.txt"
    path.write_bytes(b"aaaa\nbbbb\ncccc\ndddd\n")
    monkeypatch.setattr(inputs, "CHUNK", 5)
    for split_bytes in (5, 10, 1, 2, 3, 4, 6):
        splits = plan_splits(store.expand_inputs([str(path)]), "lines", split_bytes)
        assert read_all([p for s in splits for p in s]) == ["aaaa", "bbbb", "cccc", "dddd"], split_bytes


def test_small_files_are_grouped_and_compressed_files_are_whole(tmp_path) -> None:
    for i in range(10):
        (tmp_path / f"s{i}.txt").write_text("x\n" * 10)
    big = tmp_path / "big.txt"
    big.write_text("y" * 99 + "\n" * 1 + "z\n" * 500)
    with gzip.open(tmp_path / "c.gz", "wt") as f:
        f.write("w\n" * 5000)
    splits = plan_splits(store.expand_inputs([str(tmp_path)]), "lines", 200)
    pieces = [p for s in splits for p in s]
    gz = [p for p in pieces if p.url.endswith(".gz")]
    assert len(gz) == 1 and (gz[0].start, gz[0].end) == (0, -1)  # never cut
    small = [p for p in pieces if os.path.basename(p.url).startswith("s")]
    assert len(small) == 10 and all(p.end == -1 for p in small)
    assert len({i for i, s in enumerate(splits) for p in s if p in small}) < 10  # grouped
    assert len([p for p in pieces if p.url.endswith("big.txt")]) > 1  # cut into ranges


def test_crlf_lines_lose_the_carriage_return(tmp_path) -> None:
    (tmp_path / "w.txt").write_bytes(b"one\r\ntwo\r\nthree")
    assert read_all([Piece(str(tmp_path / "w.txt"))]) == ["one", "two", "three"]


def test_invalid_utf8_names_file_and_byte_offset(tmp_path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"good line\nbad \xff line\nok\n")
    with pytest.raises(InputError, match=r"bad.txt: invalid UTF-8 at byte 14; .*--decode-errors"):
        read_all([Piece(str(p))])
    assert read_all([Piece(str(p))], "replace") == ["good line", "bad \ufffd line", "ok"]
    assert read_all([Piece(str(p))], "skip") == ["good line", "ok"]


def test_invalid_utf8_offset_inside_a_byte_range(tmp_path) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(b"a" * 50 + b"\n" + b"b" * 50 + b"\nxx\xfe\n")
    with pytest.raises(InputError, match="at byte 104"):
        read_all([Piece(str(p), 20, os.path.getsize(p))])


def test_corrupt_gzip_is_one_error_naming_the_file(tmp_path) -> None:
    data = gzip.compress(b"line\n" * 10000)
    p = tmp_path / "t.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"t.gz: cannot decompress"):
        read_all([Piece(str(p))])


def test_empty_and_zero_byte_gz_give_no_records(tmp_path) -> None:
    (tmp_path / "e.txt").write_bytes(b"")
    (tmp_path / "z.gz").write_bytes(b"")
    assert read_all([Piece(str(tmp_path / "e.txt")), Piece(str(tmp_path / "z.gz"))]) == []


def test_overlong_record_is_refused_with_the_limit(tmp_path, monkeypatch) -> None:
    # Memory stays bounded: a line longer than both the read chunk and the
    # limit is refused, in whole files and in byte ranges alike.
    monkeypatch.setattr(inputs, "CHUNK", 100)
    p = tmp_path / "long.txt"
    p.write_bytes(b"short\n" + b"x" * 5000 + b"\nshort\n")
    with pytest.raises(InputError, match="long.txt: a record .* longer than --max-record-mb"):
        list(read_piece(Piece(str(p)), DecodePolicy("strict"), Position(), 1000))
    with pytest.raises(InputError, match="long.txt: a record .* longer than --max-record-mb"):
        list(read_piece(Piece(str(p), 0, 5000), DecodePolicy("strict"), Position(), 1000))
    assert len(list(read_piece(Piece(str(p)), DecodePolicy("strict"), Position(), 10_000))) == 3


def test_missing_inputs_and_empty_globs_fail_before_work(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        store.expand_inputs([str(tmp_path / "nope.txt")])
    with pytest.raises(InputError, match="matched no files"):
        store.expand_inputs([str(tmp_path / "*.csv")])


def test_directories_skip_hidden_and_underscore_files(tmp_path) -> None:
    (tmp_path / "part-00000").write_text("a\n")
    (tmp_path / "_SUCCESS").write_text("{}")
    (tmp_path / ".hidden").write_text("b\n")
    assert [os.path.basename(f.url) for f in store.expand_inputs([str(tmp_path)])] == ["part-00000"]


def test_the_auto_split_size_keeps_every_worker_busy() -> None:
    """0 (the default) picks a multiple of the workers' count of equal splits, at most 50 MB, at least the floor."""
    from mrargo.runtime.inputs import MB, split_bytes

    def tasks(total: int, parallel: int, floor: int = 1, given: int = 0) -> int:
        return -(-total // split_bytes(total, given, parallel, floor))

    assert tasks(20 * MB, 2) == 2  # not one 20 MB split and an idle core
    assert tasks(100 * MB, 2) == 2 and split_bytes(100 * MB, 0, 2, 1) == 50 * MB
    assert tasks(120 * MB, 2) == 4 and split_bytes(120 * MB, 0, 2, 1) == 30 * MB  # four even ones, not 50+50+20
    assert tasks(500 * MB, 2) == 10
    assert tasks(2 * MB, 4) == 2  # never under the floor (1 MB here)
    assert tasks(1000 * MB, 100, floor=8) == 100 and tasks(100 * MB, 100, floor=8) == 13  # Argo: a pod's floor is 8 MB
    assert tasks(20 * MB, 2, given=32) == 1  # an explicit --split-mb wins


def test_the_reducers_a_job_leaves_to_mrargo_follow_the_input_size_alone() -> None:
    """4 up to 1 GiB, doubling with the input past it, at most the cap; no parallelism in the rule."""
    from mrargo.runtime.inputs import MB, reducer_count

    assert [reducer_count(n, 2_500) for n in (0, 1, 20 * MB, 1024 * MB)] == [4, 4, 4, 4]
    assert [reducer_count(n, 2_500) for n in (1024 * MB + 1, 2048 * MB, 2048 * MB + 1, 10_000 * MB)] == [8, 8, 16, 64]
    assert reducer_count(100_000 * MB, 2_500) == 512 and reducer_count(10**15, 2_500) == 2_500  # the cap bounds it
    assert reducer_count(10_000 * MB, 40) == 40 and reducer_count(0, 1) == 1  # a cap under the floor wins too


def test_twenty_megabytes_of_small_files_fill_two_workers(tmp_path) -> None:
    """Byte-balanced groups of small files, one per worker."""
    from mrargo.runtime.inputs import split_bytes

    files = [store.FileInfo(str(tmp_path / f"f{i:04d}.txt"), 13_000 + (i % 7) * 1_000) for i in range(1_500)]
    total = sum(f.size for f in files)
    splits = plan_splits(files, "lines", split_bytes(total, 0, 2, 1))
    sizes = [sum(next(f.size for f in files if f.url == p.url) for p in s) for s in splits]
    assert len(splits) == 2 and min(sizes) > 0.45 * total


def test_splits_grow_to_stay_under_the_task_cap() -> None:
    """Over --max-tasks the splits grow: every byte still read once, no file cut finer for it."""
    small = [store.FileInfo(f"s3://b/in/f{i:05d}.txt", 1_000 + i % 7) for i in range(10_000)]
    splits = plan_splits(small, "lines", 1_000, max_splits=2_500)
    assert 1_000 < len(splits) <= 2_500  # grown, but not far past what the cap needs
    assert sorted(p.url for s in splits for p in s) == [f.url for f in small]  # each file once, whole
    big = [store.FileInfo("s3://b/in/big.txt", 100 * 10**9)]
    splits = plan_splits(big, "lines", 32 * 2**20, max_splits=2_500)
    assert 2_000 < len(splits) <= 2_500
    ranges = [(p.start, p.end) for s in splits for p in s]
    assert ranges[0][0] == 0 and ranges[-1][1] == 100 * 10**9
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous: nothing lost, nothing twice


def test_blocks_give_each_record_with_its_position_and_count(tmp_path, monkeypatch) -> None:
    # A map reads through read_blocks (zip over a block's lines, in C): each
    # record must still come with the file and byte offset an error names,
    # and the count of records given so far, across blocks, files and formats.
    monkeypatch.setattr(inputs, "CHUNK", 16)  # several blocks a file
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.jsonl"
    a.write_bytes(b"alpha\nbeta\r\ngamma delta\n\nepsilon\n")
    b.write_bytes(b"one\ntwo\nthree\nfour\nfive\nsix")
    c.write_bytes(b'{"k": 1}\n\n{"k": 2}\n')
    pieces = [Piece(str(a)), Piece(str(b), 0, 9), Piece(str(b), 9, 28), Piece(str(c), format="jsonl")]
    expected = [(str(a), off, line) for off, line in ((0, "alpha"), (6, "beta"), (12, "gamma delta"), (24, ""), (25, "epsilon"))]
    expected += [(str(b), off, line) for off, line in ((0, "one"), (4, "two"), (8, "three"), (14, "four"), (19, "five"), (24, "six"))]
    pos, policy = Position(), DecodePolicy("strict")
    got = []
    blocks = (block for p in pieces for block in inputs.read_blocks(p, policy, pos, 1 << 20))
    for n, (key, value) in enumerate(itertools.chain.from_iterable(blocks), 1):
        assert key is None and pos.records() == n
        got.append((pos.describe(), value))
    assert got == [(f"{url} at byte {off}", line) for url, off, line in expected] + [(f"{c} at byte 0", {"k": 1}), (f"{c} at byte 10", {"k": 2})]
    assert [v for _, v in got] == [v for p in pieces for _, v in read_piece(p, policy, Position(), 1 << 20)]
