"""`mrargo init NAME`: create a new job project whose test passes at once."""

from __future__ import annotations

import argparse
import os
from typing import Any

from mrargo.cli.common import add_debug


def add_parser(sub: Any) -> None:
    text = "create a new job project: job, test, sample data, README"
    p = sub.add_parser("init", help=text, description=text)
    add_debug(p)
    p.add_argument("name", metavar="NAME", help="the job's name, e.g. word-count (module word_count.py, class WordCount)")
    p.add_argument("--dir", default="", metavar="DIR", help="where to create the project (default: ./NAME); must be new or empty")
    p.set_defaults(func=init_command)


def init_command(args: argparse.Namespace) -> int:
    from mrargo.scaffold import write_project

    project, target, files = write_project(args.name, args.dir)
    shown = os.path.relpath(target) if not os.path.relpath(target).startswith("..") else target
    print(f"created {shown}/ with the job {project.class_name}:")
    for rel in files:
        print(f"  {os.path.join(shown, rel)}")
    print(f"next: cd {shown} && python -m pytest && mrargo run {project.module}.py -i data/ -o out/")
    return 0
