"""`mrargo image build`: the build folder holds everything the image needs, pinned, and nothing to fetch."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import EXAMPLES, ROOT, mrargo


def test_the_build_folder_is_complete_and_pinned(tmp_path: Path) -> None:
    folder = tmp_path / "ctx"
    proc = mrargo("image", "build", os.path.join(EXAMPLES, "wordcount.py"), "--tag", "team/wc:1", "--context", str(folder))
    assert "wrote the build folder" in proc.stderr
    dockerfile = (folder / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2  # a build stage with a compiler, then a clean one
    assert "--no-index --find-links /build/wheels" in dockerfile  # the build downloads nothing
    assert "USER 10001:10001" in dockerfile and 'ENTRYPOINT ["python", "-m", "mrargo.worker"]' in dockerfile
    assert "COPY job/ /opt/mrargo/job/" in dockerfile
    assert (folder / "job" / "wordcount.py").read_bytes() == (Path(EXAMPLES) / "wordcount.py").read_bytes()
    wheels = {p.name for p in (folder / "wheels").iterdir()}
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (ROOT_PATH / "templates" / "constraints.txt").read_text(), re.M))
    for name in ("fsspec", "s3fs", "zstandard", "aiobotocore", "botocore", "setuptools"):
        version = pins[name]
        assert any(w.lower().startswith(f"{name.replace('-', '_')}-{version}-") for w in wheels), (name, version, sorted(wheels))
    assert not any(w.startswith(("hera", "kubernetes", "jinja2")) for w in wheels)  # the worker does not import them
    src = folder / "wheels" / "mrargo-0.1.0"
    assert (src / "pyproject.toml").exists() and (src / "mrargo" / "runtime" / "_speedups.c").exists()
    assert not list(src.rglob("*.so"))  # the image's own compiler builds the C loops


ROOT_PATH = Path(ROOT)
