"""A real S3 API for tests: moto's server mode on a loopback port.

The fixture starts ``moto.server`` in a subprocess, waits until it answers,
and stops it afterwards.  Clients reach it through the standard variables,
exactly as a MinIO user would configure mrargo.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

ACCESS_KEY = "mrargo-test-access"
SECRET_KEY = "mrargo-test-secret-do-not-print"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Looked up here, not in the forked child: a dlopen there could wait for a
# lock that another thread of pytest (fsspec's event loop) held at the fork.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent(parent: int) -> None:
    """Run in the server's process before exec: a pytest killed or crashed (no teardown) takes its server along."""
    _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=functools.partial(_die_with_parent, os.getpid()),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "FSSPEC_S3_ENDPOINT_URL": endpoint,
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        yield env
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    finally:
        proc.terminate()
        proc.wait(10)


def make_bucket(name: str) -> None:
    import fsspec

    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(name)
