"""Storage: atomic writes leave nothing behind on failure."""

from __future__ import annotations

import os

import pytest

from mrargo import store


def test_atomic_writer_commits_whole_or_nothing(tmp_path) -> None:
    target = str(tmp_path / "d" / "obj")
    with pytest.raises(RuntimeError):
        with store.atomic_writer(target) as f:
            f.write(b"partial")
            raise RuntimeError("task died")
    assert not os.path.exists(target)
    assert os.listdir(tmp_path / "d") == []  # no temporary file left
    with store.atomic_writer(target) as f:
        f.write(b"whole")
    assert open(target, "rb").read() == b"whole"


def test_memory_filesystem_round_trip_and_discard() -> None:
    url = "memory://mrargo-test/a/obj"
    with pytest.raises(ValueError):
        with store.atomic_writer(url) as f:
            f.write(b"x" * 10)
            raise ValueError("boom")
    assert not store.exists(url)
    store.put_bytes(url, b"data")
    assert store.get_bytes(url) == b"data"
    assert store.list_dir("memory://mrargo-test/a") == ["obj"]
    store.remove("memory://mrargo-test")
    assert not store.exists(url)


def test_range_reader_reads_exact_ranges(tmp_path) -> None:
    p = tmp_path / "f"
    p.write_bytes(bytes(range(256)) * 10)
    for read in store.range_reader(str(p), 100, 300):
        assert read(50) + read(500) == (bytes(range(256)) * 10)[100:300]
    store.put_bytes("memory://rr/f", bytes(range(256)) * 10)
    for read in store.range_reader("memory://rr/f", 100, 300, chunk=7):
        assert read(50) + read(500) == (bytes(range(256)) * 10)[100:300]


def test_join_refuses_traversal() -> None:
    with pytest.raises(Exception, match="must stay under"):
        store.join("s3://b/work", "../other")
