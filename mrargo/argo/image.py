"""The worker image: `mrargo image build` prepares a build folder and runs docker, podman or buildah.

The folder holds the Dockerfile (templates/Dockerfile.j2), ``wheels/`` and,
for an image with a job in it, ``job/``.  ``wheels/`` has mrargo itself
(its source, so the image's own compiler builds the C loops) and every
package the worker imports, downloaded here for the image's platform and
pinned by mrargo's constraints file: the build fetches nothing, and an
image holds the same versions every time.  The worker needs only fsspec,
s3fs and zstandard (and what they need), not hera or the kubernetes
client, so the image stays small and pods start fast.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from mrargo import __version__
from mrargo.argo import checks
from mrargo.argo import contract as c
from mrargo.errors import MrargoError, UsageError
from mrargo.templating import constraints_file, environment, project_root

BUILDERS = ("docker", "podman", "buildah")
DEFAULT_BASE_IMAGE = "python:3.11-slim"
# What the worker imports beyond mrargo; their own needs follow from them.
WORKER_PACKAGES = ("fsspec", "s3fs", "zstandard")
# Building mrargo from its source inside the image needs these, offline.
BUILD_PACKAGES = ("setuptools>=77",)


@dataclass(frozen=True)
class ImageOptions:
    tag: str = f"mrargo/worker:{__version__}"
    base_image: str = DEFAULT_BASE_IMAGE
    python: str = "3.11"  # the base image's Python, for the wheels
    arch: str = ""  # x86_64 or aarch64; "" = this machine's
    builder: str = ""  # "" = the first of docker, podman, buildah found
    builder_args: tuple[str, ...] = ()  # passed to the builder's build command
    extras: tuple[str, ...] = ()  # more pip packages, e.g. gcsfs for gs://
    push: bool = False
    job_files: tuple[tuple[str, str], ...] = field(default=())  # (source path, name in the image)


def prepare_context(folder: str, opts: ImageOptions) -> str:
    """Fill ``folder`` with the Dockerfile, the wheels and the job; return the Dockerfile's path."""
    checks.image(opts.base_image)
    checks.image(opts.tag)
    for extra in opts.extras:
        if not extra.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise UsageError(f"--extra {extra!r} is not a package name like gcsfs")
    os.makedirs(folder, exist_ok=True)
    wheels = os.path.join(folder, "wheels")
    _download(wheels, opts)
    _add_mrargo(wheels)
    if opts.job_files:
        job = os.path.join(folder, "job")
        os.makedirs(job, exist_ok=True)
        for src, name in opts.job_files:
            dst = os.path.join(job, *name.split("/"))  # a shipped folder's files keep their places
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
    text = environment().get_template("Dockerfile.j2").render(
        version=__version__,
        base_image=opts.base_image,
        requirements=["--no-deps", "/build/wheels/*"],
        job=", ".join(name for _, name in opts.job_files[:1]),
        job_dir=c.BAKED_JOB_DIR,
        uid=c.USER_ID,
    )
    path = os.path.join(folder, "Dockerfile")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise MrargoError(f"pip could not get the image's packages ({tail}); check this machine's access to the package index")


def _download(wheels: str, opts: ImageOptions) -> None:
    arch = opts.arch or platform.machine()
    py = opts.python.replace(".", "")
    plats = [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}", f"manylinux_2_28_{arch}", "any"]
    args = ["download", "-d", wheels, "--only-binary=:all:", "--python-version", opts.python, "--implementation", "cp", "--abi", f"cp{py}"]
    args += [a for p in plats for a in ("--platform", p)]
    constraints = constraints_file()
    if constraints:
        args += ["-c", constraints]
    _pip(*args, *WORKER_PACKAGES, *opts.extras, *BUILD_PACKAGES)


def _add_mrargo(wheels: str) -> None:
    """mrargo's source: from this checkout, or this release's sdist from the package index."""
    root = project_root()
    if root:
        # A source tree pip builds inside the image (setuptools comes from wheels/).
        dest = os.path.join(wheels, f"mrargo-{__version__}")
        shutil.rmtree(dest, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.pyc", "*.egg-info")
        shutil.copytree(os.path.join(root, "mrargo"), os.path.join(dest, "mrargo"), ignore=ignore)
        shutil.copytree(os.path.join(root, "templates"), os.path.join(dest, "templates"), ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(os.path.join(root, name), os.path.join(dest, name))
        return
    _pip("download", "-d", wheels, "--no-deps", "--no-binary", "mrargo", f"mrargo=={__version__}")


def find_builder(name: str = "") -> str:
    if name:
        if name not in BUILDERS:
            raise UsageError(f"--builder must be one of {', '.join(BUILDERS)}, got {name!r}")
        if not shutil.which(name):
            raise UsageError(f"--builder {name}: {name} is not installed on this machine")
        return name
    for b in BUILDERS:
        if shutil.which(b):
            return b
    raise UsageError("no image builder found: install docker, podman or buildah, or write the build folder with --context DIR")


def build(folder: str, opts: ImageOptions) -> None:
    """Build (and push) the image from a prepared folder, with the builder's own output on stderr."""
    builder = find_builder(opts.builder)
    verb = ["bud"] if builder == "buildah" else ["build"]
    _run([builder, *verb, *opts.builder_args, "-t", opts.tag, folder], "build")
    if opts.push:
        _run([builder, "push", opts.tag], "push")


def _run(cmd: list[str], what: str) -> None:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    code = subprocess.call(cmd, stdout=sys.stderr)
    if code != 0:
        raise MrargoError(f"{cmd[0]} {what} failed with exit code {code}; its output is above")
