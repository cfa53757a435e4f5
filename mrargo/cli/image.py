"""`mrargo image build [JOB]`: the worker image, built with docker, podman or buildah from this mrargo."""

from __future__ import annotations

import argparse
import sys
import tempfile
from typing import Any

from mrargo.cli.common import add_debug


def add_parser(sub: Any, full: bool) -> None:
    text = "build the worker image pods run (docker, podman or buildah); with JOB, the job is baked in"
    image = sub.add_parser("image", help="the worker image", description=text)
    add_debug(image)
    if not full:  # the flags' defaults import mrargo.argo.image (and subprocess); only `mrargo image` shows them
        return
    from mrargo import __version__
    from mrargo.argo.image import BUILDERS, DEFAULT_BASE_IMAGE

    image_sub = image.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    p = image_sub.add_parser("build", help=text, description=text + ". Nothing is downloaded during the build: "
                             "the packages come from this machine's pip, pinned by mrargo's constraints file.")  # fmt: skip
    add_debug(p)
    p.add_argument("job", metavar="JOB", nargs="?", default="", help="bake this job file and its FILES in (then compile with --image-has-job)")
    p.add_argument("--tag", "-t", default=f"mrargo/worker:{__version__}", metavar="IMAGE", help="the image's name (default: %(default)s)")
    p.add_argument("--base-image", default=DEFAULT_BASE_IMAGE, metavar="IMAGE", help="a Python image (default: %(default)s)")
    p.add_argument("--python", default="3.11", metavar="X.Y", help="the base image's Python version (default: %(default)s)")
    p.add_argument("--builder", choices=BUILDERS, default="", help="what builds the image (default: the first found)")
    p.add_argument("--builder-arg", action="append", default=[], metavar="ARG", help="pass ARG to the builder's build command (repeatable)")
    p.add_argument("--extra", action="append", default=[], metavar="PACKAGE", help="another pip package in the image, e.g. gcsfs (repeatable)")
    p.add_argument("--push", action="store_true", help="push the image after building it")
    p.add_argument("--context", default="", metavar="DIR", help="only write the build folder (Dockerfile, wheels, job) to DIR")
    p.set_defaults(func=image_build_command)


def image_build_command(args: argparse.Namespace) -> int:
    from mrargo.argo.image import ImageOptions, build, prepare_context

    opts = ImageOptions(
        tag=args.tag,
        base_image=args.base_image,
        python=args.python,
        builder=args.builder,
        builder_args=tuple(args.builder_arg),
        extras=tuple(args.extra),
        push=args.push,
        job_files=_job_files(args.job) if args.job else (),
    )
    if args.context:
        prepare_context(args.context, opts)
        print(f"wrote the build folder {args.context}; build it with: docker build -t {args.tag} {args.context}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix="mrargo-image-") as folder:
        prepare_context(folder, opts)
        build(folder, opts)
    print(args.tag)  # stdout holds only the image, for scripts
    return 0


def _job_files(job: str) -> tuple[tuple[str, str], ...]:
    """The job file and its FILES, each by the name tasks see (the basename), as compile embeds them."""
    from mrargo.plan import build_plan
    from mrargo.plan.bundle import job_sources

    plan, job_dir = build_plan(job)
    return tuple((path, name) for name, path in job_sources(plan, job_dir).items())


__all__ = ["add_parser", "image_build_command"]
