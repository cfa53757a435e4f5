"""mrargo run against a real S3 API (moto server on loopback)."""

from __future__ import annotations

import json
import os
import uuid

import fsspec
from conftest import mrargo, output_bytes, ref_wordcount
from s3server import SECRET_KEY, make_bucket, s3_env  # noqa: F401  (fixture)


def upload_dir(local: str, url: str) -> None:
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    for name in sorted(os.listdir(local)):
        fs.put_file(os.path.join(local, name), f"{url}/{name}")


def s3_output(url: str) -> dict[str, bytes]:
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    return {p.rsplit("/", 1)[1]: fs.cat_file(p) for p in sorted(fs.ls(url, detail=False)) if "/part-" in p}


def test_wordcount_with_s3_input_output_and_work_dir(s3_env, corpus, tmp_path) -> None:  # noqa: F811
    bucket = f"mrargo-{uuid.uuid4().hex[:8]}"
    make_bucket(bucket)
    upload_dir(corpus, f"s3://{bucket}/in")
    local_out = str(tmp_path / "local")
    mrargo("run", "examples/wordcount.py", "-i", corpus, "-o", local_out, "-q")
    proc = mrargo(
        "run", "examples/wordcount.py", "-i", f"s3://{bucket}/in/", "-o", f"s3://{bucket}/out", "--work-dir", f"s3://{bucket}/work", env=s3_env,
    )
    assert s3_output(f"s3://{bucket}/out") == output_bytes(local_out)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    success = json.loads(fs.cat_file(f"{bucket}/out/_SUCCESS"))
    assert success["output records"] == len(ref_wordcount(corpus))
    assert not fs.exists(f"{bucket}/work")  # intermediate data cleaned up
    assert SECRET_KEY not in proc.stderr + proc.stdout


def test_existing_s3_output_is_refused(s3_env, tmp_path) -> None:  # noqa: F811
    bucket = f"mrargo-{uuid.uuid4().hex[:8]}"
    make_bucket(bucket)
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.pipe_file(f"{bucket}/in/a.txt", b"x y\n")
    fs.pipe_file(f"{bucket}/out/keep", b"precious")
    proc = mrargo("run", "examples/wordcount.py", "-i", f"s3://{bucket}/in", "-o", f"s3://{bucket}/out", env=s3_env, check=False)
    assert proc.returncode == 3 and "already exists" in proc.stderr
    assert fs.cat_file(f"{bucket}/out/keep") == b"precious"


def test_missing_s3_input_is_one_line(s3_env, tmp_path) -> None:  # noqa: F811
    bucket = f"mrargo-{uuid.uuid4().hex[:8]}"
    make_bucket(bucket)
    proc = mrargo("run", "examples/wordcount.py", "-i", f"s3://{bucket}/nothing/*.txt", "-o", str(tmp_path / "o"), env=s3_env, check=False)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1] == f"mrargo: error: input 's3://{bucket}/nothing/*.txt' matched no files; check the path or glob"
