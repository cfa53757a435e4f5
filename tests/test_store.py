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


def test_read_lines_block_gives_fsspecs_lines(tmp_path) -> None:
    """Local ranges are read without fsspec; the lines must be the ones fsspec's read_block gives."""
    import io
    import random

    from fsspec.utils import read_block

    rng = random.Random(7)
    for case in range(300):
        data = bytes(rng.choice(b"ab\n") for _ in range(rng.randrange(0, 60)))
        if case % 3 == 0:
            data = data.rstrip(b"\n")  # no newline at the end
        for _ in range(10):
            offset, length = rng.randrange(0, len(data) + 3), rng.randrange(0, len(data) + 3)
            want = read_block(io.BytesIO(data), offset, length, delimiter=b"\n")
            assert store.read_lines_block(io.BytesIO(data), offset, length) == want, (data, offset, length)
        # Adjacent ranges give every line once.
        step = rng.randrange(1, 8)
        assert b"".join(store.read_lines_block(io.BytesIO(data), o, step) for o in range(0, len(data), step)) == data


def test_local_paths_list_and_open_as_fsspec_does(tmp_path) -> None:
    """expand_inputs without fsspec for local paths: the same files and sizes, hidden names skipped."""
    import gzip

    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "_logs").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"one\n")
    (tmp_path / "in" / "sub" / "b.txt").write_bytes(b"two\ntwo\n")
    (tmp_path / "in" / "_logs" / "c.txt").write_bytes(b"hidden\n")
    (tmp_path / "in" / ".d.txt").write_bytes(b"hidden\n")
    (tmp_path / "in" / "z.gz").write_bytes(gzip.compress(b"zipped\n"))
    (tmp_path / "in" / "sub" / "up").symlink_to(tmp_path / "in")  # a loop: walked once
    root = str(tmp_path / "in")
    local = store.expand_inputs([root])
    assert [(os.path.relpath(f.url, root), f.size) for f in local] == [("a.txt", 4), ("sub/b.txt", 8), ("z.gz", 27)]
    assert store.expand_inputs([root + "/a*"]) == local[:1]  # a glob goes through fsspec, same URLs
    with store.open_input(local[2].url) as f:
        assert f.read() == b"zipped\n"
    assert store.expand_inputs(["file://" + root + "/a.txt"]) == local[:1]
    for bad in (root + "/none", str(tmp_path / "in" / "sub" / "nothing")):
        with pytest.raises(Exception, match="does not exist"):
            store.expand_inputs([bad])
