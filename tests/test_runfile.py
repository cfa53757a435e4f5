"""Run files: round trips, checksums that catch corruption, bounded merges."""

from __future__ import annotations

import io
import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mrargo.errors import CorruptDataError
from mrargo.runtime import runfile
from mrargo.runtime.runfile import RunWriter, iter_records, merge_blocks, merge_bounded

records = st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=30)), max_size=300)


def write_segments(parts: list[list[tuple[bytes, bytes]]]) -> tuple[bytes, list[tuple[int, int, int]]]:
    buf = io.BytesIO()
    w = RunWriter(buf)
    segs = []
    for part in parts:
        w.write_all(part)
        segs.append(w.end_segment())
    return buf.getvalue(), segs


def read_segment(data: bytes, seg: tuple[int, int, int], label: str = "f") -> list[tuple[bytes, bytes]]:
    start, end, count = seg
    f = io.BytesIO(data[start:end])
    return list(iter_records(f.read, label, "map-1-00000", count))


@settings(max_examples=100)
@given(st.lists(records, min_size=1, max_size=4))
def test_segments_round_trip(parts: list[list[tuple[bytes, bytes]]]) -> None:
    data, segs = write_segments(parts)
    assert [read_segment(data, s) for s in segs] == parts


def test_many_blocks_round_trip() -> None:
    part = [(b"k%06d" % i, b"v" * (i % 50)) for i in range(20000)]
    data, segs = write_segments([part])
    assert data.count(runfile.MAGIC) > 5
    assert read_segment(data, segs[0]) == part


def test_flipped_byte_is_a_checksum_error_naming_file_and_producer() -> None:
    data, segs = write_segments([[(b"key%d" % i, b"value") for i in range(1000)]])
    for pos in (30, len(data) // 2, len(data) - 3):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(CorruptDataError, match=r"s3://b/run.*map-1-00000") as e:
            read_segment(bytes(bad), segs[0], "s3://b/run")
        assert e.value.producer == "map-1-00000"


def test_truncated_file_is_an_error() -> None:
    data, segs = write_segments([[(b"key%d" % i, b"v") for i in range(10000)]])
    with pytest.raises(CorruptDataError, match="truncated"):
        read_segment(data[: len(data) // 2], (0, len(data), segs[0][2]))
    # Cut exactly at a block boundary: only the record count can tell.
    second = data.index(runfile.MAGIC, 4)
    with pytest.raises(CorruptDataError, match="expected 10000 records"):
        read_segment(data[:second], (0, second, 10000))


def blocks_of(run: list[tuple[bytes, bytes]], sizes: list[int]) -> list[list[tuple[bytes, bytes]]]:
    """Cut a run into blocks of the given sizes (some empty), cycling."""
    out, i, j = [], 0, 0
    while i < len(run):
        n = sizes[j % len(sizes)]
        out.append(run[i : i + n])
        i, j = i + n, j + 1
    return out


@settings(max_examples=120)
@given(
    runs=st.lists(records, max_size=12),
    fan_in=st.integers(min_value=2, max_value=4),
    sizes=st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=5).filter(any),
)
def test_bounded_merge_equals_sorting_everything(runs: list[list[tuple[bytes, bytes]]], fan_in: int, sizes: list[int]) -> None:
    tmp = tempfile.mkdtemp()
    sorted_runs = [sorted(r) for r in runs]
    sources = [(lambda r=r: iter(blocks_of(r, sizes))) for r in sorted_runs]
    got = list(merge_bounded(sources, fan_in, tmp))
    assert got == sorted(x for r in runs for x in r)
    assert os.listdir(tmp) == []  # temporary merge runs are removed


def test_merge_holds_one_block_per_stream() -> None:
    pulled = [0, 0]

    def stream(i: int):
        for b in range(100):
            pulled[i] += 1
            yield [(b"%05d" % (2 * (10 * b + n) + i), b"") for n in range(10)]

    it = merge_blocks([stream(0), stream(1)])
    got = [next(it) for _ in range(25)]
    assert got == sorted(got)
    assert max(pulled) <= 3  # 25 records from blocks of 10: a block or two each, not the stream


def test_a_file_of_another_format_version_is_refused_naming_it() -> None:
    # Format 1 encoded floats differently: its keys would be read wrong, so
    # the file is refused like a corrupt one, and its producer runs again.
    data, segs = write_segments([[(b"k", b"v")]])
    old = data.replace(runfile.MAGIC, b"MRB1")
    with pytest.raises(CorruptDataError, match=r"f: is format 1, written by another mrargo version; this one reads 2 \(written by map-1-00000\)"):
        read_segment(old, segs[0])
