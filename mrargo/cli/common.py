"""What several commands share: JOB and tuning arguments, typed readers of parsed arguments."""

from __future__ import annotations

import argparse
from typing import Any

from mrargo.errors import UsageError
from mrargo.plan import Options
from mrargo.plan.model import DECODE_ERRORS


def add_debug(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: the subcommand's flag must not reset `mrargo --debug CMD`.
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


def add_job_arguments(p: argparse.ArgumentParser, job_help: str) -> None:
    p.add_argument("job", metavar="JOB", help=job_help)
    p.add_argument("-i", "--input", action="append", default=[], metavar="URL", help="input file, directory, glob or URL (repeatable)")
    p.add_argument("-o", "--output", metavar="URL", help="output directory or URL")
    p.add_argument("--reducers", type=int, metavar="N", help="reducers per step; 0 makes the job map-only (default: the job's REDUCERS, or if it sets none, chosen from each step's input size: 4 up to 1 GiB, doubling with it)")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="job parameter, seen as self.params[K] (repeatable)")


def add_tuning_arguments(p: argparse.ArgumentParser) -> None:
    """The knobs of a job plan (mrargo.plan.Options), the same for run and compile."""
    o = Options()
    p.add_argument(
        "--split-mb", type=int, default=o.split_mb, metavar="MB",
        help="input MB per map task (default: 0, chosen per run: a multiple of the workers' count of equal splits, at most 50 MB)",
    )  # fmt: skip
    p.add_argument("--sort-buffer-mb", type=int, default=o.sort_buffer_mb, metavar="MB", help="map-side sort buffer per task (default: %(default)s)")
    p.add_argument("--max-record-mb", type=int, default=o.max_record_mb, metavar="MB", help="longest input line accepted (default: %(default)s)")
    p.add_argument("--max-bad-records", type=int, default=o.max_bad_records, metavar="N", help="skip up to N records whose mapper raises (default: 0)")
    p.add_argument("--decode-errors", choices=DECODE_ERRORS, default=o.decode_errors, help="undecodable UTF-8 (default: %(default)s)")
    p.add_argument("--max-tasks", type=int, default=o.max_tasks, metavar="N", help="most map tasks, and reducers, of a step; a job of k steps gives each step N/k; splits grow to fit (default: %(default)s)")


def tuning_options(args: argparse.Namespace, parallel: int, min_split_mb: int = 1) -> Options:
    """The plan's Options from the flags; ``parallel`` and ``min_split_mb`` steer the auto split size."""
    return Options(
        parallel=max(1, parallel),
        min_split_mb=min_split_mb,
        split_mb=args.split_mb,
        sort_buffer_mb=args.sort_buffer_mb,
        max_record_mb=args.max_record_mb,
        max_bad_records=args.max_bad_records,
        decode_errors=args.decode_errors,
        max_tasks=args.max_tasks,
    )


def given(args: argparse.Namespace, parser: argparse.ArgumentParser, dest: str) -> bool:
    """Whether the user set ``dest`` on the command line (it differs from the default)."""
    return hasattr(args, dest) and getattr(args, dest) != parser.get_default(dest)


def refuse(args: argparse.Namespace, parser: argparse.ArgumentParser, flags: dict[str, str], why: str) -> None:
    """One line for the first flag given that does not apply here; ``flags`` maps dest -> the fix."""
    for dest, fix in flags.items():
        if given(args, parser, dest):
            names = next((a.option_strings for a in parser._actions if a.dest == dest), [f"--{dest.replace('_', '-')}"])
            raise UsageError(f"{'/'.join(names)} does not apply {why}; {fix}")


def key_value(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{text!r} must look like NAME=VALUE, e.g. output=s3://bucket/out")
    return key, value


def parameters(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """-p NAME=VALUE pairs as a dict; a name given twice is refused."""
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise UsageError(f"-p {key} is given twice; keep one")
        out[key] = value
    return out


def stderr_print(*parts: Any) -> None:
    import sys

    print(*parts, file=sys.stderr)
