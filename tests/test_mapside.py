"""The map side's memory budget holds for every key type, on the C loop and the Python twin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import JOBS, ROOT

# Peak RSS of `mrargo run` and its task processes (wait4 of a fresh wrapper:
# only this run's processes count).
_PEAK = "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
KINDS = ("str", "int", "float", "tuple", "list", "dict")
PAIRS = 200_000  # distinct keys: about 60 MB waiting if nothing combined or spilled them
SLACK_MIB = 24  # over the 1 MB budget and a run of 1,000 pairs (Python and mrargo themselves)


def peak_mib(tmp_path, kind: str, pure: bool, pairs: int) -> float:
    src = tmp_path / "in.txt"
    src.write_text("one record\n")
    out = tmp_path / f"out-{kind}-{pure}-{pairs}"
    env = dict(os.environ, MRARGO_TEST_KEY=kind, MRARGO_TEST_PAIRS=str(pairs), MRARGO_PURE_PYTHON="1" if pure else "")
    cmd = [sys.executable, "-m", "mrargo", "run", os.path.join(JOBS, "keys.py"), "-i", str(src), "-o", str(out),
           "--sort-buffer-mb", "1", "--workers", "1", "-q"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    lines = [line for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()]
    assert len(lines) == pairs  # every key, each once
    return int(proc.stdout.split()[-1]) / 1024


@pytest.mark.parametrize("pure", [False, True], ids=["c", "python"])
def test_memory_budget_holds_for_every_key_type(tmp_path, pure: bool) -> None:
    base = peak_mib(tmp_path, "int", pure, 1_000)
    over = {kind: peak_mib(tmp_path, kind, pure, PAIRS) - base for kind in KINDS}
    assert all(mib < SLACK_MIB for mib in over.values()), f"peak RSS above a 1,000-pair run, MiB: {over}"


def test_a_value_shared_by_many_pairs_is_counted_once(tmp_path) -> None:
    """An index yields its line's name with each word: the name's bytes are the line's, not each pair's."""
    from mrargo.runtime.mapside import CHECK_EVERY, MapOutput

    def sizes(shared: bool) -> int:
        out = MapOutput(partitions=2, label="t", buffer_bytes=1 << 30, tmpdir=str(tmp_path),
                        combiner=lambda k, vs: ((k, v) for v in set(vs)), counters={})  # fmt: skip

        def mapper(_: object, line: str):
            name = f"file-with-a-long-name-{len(line) % 7}.txt"
            for word in line.split():
                yield word, name if shared else f"file-with-a-long-name-{word}.txt"  # equal to no other

        lines = [" ".join(f"w{i}x{j}" for j in range(20)) for i in range(CHECK_EVERY // 10)]
        out.map_records(((None, line) for line in lines), mapper)
        return out.value_bytes

    alone, shared = sizes(False), sizes(True)
    assert alone >= 8 + sys.getsizeof("file-with-a-long-name-w0x0.txt")  # a fresh str in every slot is counted whole
    assert shared < 8 + 40 // 4  # one str in 20 slots: a fifth of it, or less


@pytest.mark.parametrize("pure", [False, True], ids=["c", "python"])
def test_a_process_near_the_memory_ceiling_spills_at_half_the_buffer(tmp_path, monkeypatch, pure: bool) -> None:
    """Past RESIDENT_TARGET, what waits is written out at half the budget; the output is the same bytes."""
    from mrargo.runtime import codec, mapside
    from mrargo.runtime.runfile import iter_records

    if pure:
        for name in ("group_pairs", "GroupTable", "bucket_pairs", "combine_counts", "iter_values_c", "Records"):
            monkeypatch.setattr(mapside, name, None)
    budget = 1 << 20

    def run(resident: int) -> tuple[bytes, int]:
        monkeypatch.setattr(mapside, "resident_bytes", lambda: resident)
        counters: dict[str, int] = {}
        out = mapside.MapOutput(partitions=3, label="t", buffer_bytes=budget, tmpdir=str(tmp_path),
                                combiner=lambda k, vs: [(k, sorted(set(vs)))], counters=counters)  # fmt: skip

        def mapper(_: object, line: str):
            for word in line.split():
                yield word, line[:3]

        # 16,000 pairs, 4 budget checks; about 0.67 of the budget waits at
        # the end by the estimate: over half, never over the whole.
        lines = [" ".join(f"k{(i * 31 + j) % 2400}" for j in range(8)) for i in range(2000)]
        out.map_records(((None, line) for line in lines), mapper)
        if not resident:
            assert budget // 2 < out._groups_size() <= budget
        path = tmp_path / f"out-{resident}.run"
        with open(path, "wb") as f:
            out.finish(f)
        # What a reducer would see: each key's values, whichever spill they came from.
        seen: dict[str, set[str]] = {}
        with open(path, "rb") as f:
            for kb, vb in iter_records(f.read, str(path), "test"):
                v = codec.decode_value(vb)  # a combined list, or a value a key had alone
                seen.setdefault(codec.decode_key(kb), set()).update(v if type(v) is list else [v])
        return seen, counters.get("spilled records", 0)

    calm, calm_spilled = run(0)
    near, near_spilled = run(mapside.RESIDENT_TARGET + 1)
    assert calm_spilled == 0 and near_spilled > 0
    assert near == calm and len(calm) == 2400



def test_resident_bytes_is_the_process_peak_in_bytes() -> None:
    # In a forked child, as a task runs: a process started by exec carries
    # the peak of the one that started it (here, this test process).
    code = (
        "import os\nfrom mrargo.runtime.mapside import resident_bytes as r\n"
        "if os.fork() == 0:\n"
        "    a = r(); x = bytearray(64 << 20); x[::4096] = b'x' * len(x[::4096]); b = r(); del x\n"
        "    print(a, b, r(), flush=True); os._exit(0)\n"
        "os.wait()"
    )
    a, b, c = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout.split())
    assert 1 << 20 < a < b and b > 64 << 20 and c == b  # bytes; the peak stays when the memory goes
