"""`python job.py [-r inline|local|argo] INPUT... [-o DIR]`: mrjob's command line for a ported job.

``MRJob.run()`` lands in ``main``.  A job's arguments are mrjob's: its own
(``configure_args``, ``add_passthru_arg``, ``add_file_arg``) on one parser
with mrjob's common switches, parsed as mrjob parses them (options and
inputs intermixed).  The parser is built here, as every mrargo parser is;
the job only adds its arguments to it.  Switches that only mean something
to Hadoop, EMR, Dataproc or Spark are refused with one line that says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mrargo.errors import EXIT_INTERRUPTED, MrargoError, UsageError

RUNNERS_HERE = ("inline", "local")
# mrjob's runners that need a cluster mrargo does not drive.
RUNNERS_REFUSED = ("emr", "dataproc", "hadoop", "spark")
ELSEWHERE = "mrargo runs jobs on this machine (-r inline or -r local) or on Kubernetes through Argo (-r argo)"

# Switches of mrjob's that mrargo refuses, with the reason and the fix.
REFUSED = {
    "--conf-path": "mrargo reads no mrjob.conf; give its options on the command line (--jobconf, --cmdenv) or run with --no-conf",
    "-c": "mrargo reads no mrjob.conf; give its options on the command line (--jobconf, --cmdenv) or run with --no-conf",
    "--setup": "mrargo runs no setup commands in tasks; install what the job needs into the worker image",
    "--files": "list side files in the job's FILES (or use add_file_arg)",
    "--dirs": "list the folder in DIRS on the class (paths relative to the job file)",
    "--archives": "mrargo unpacks no archives: list the files or folder in FILES or DIRS, or install the contents in the worker image",
    "--py-files": "install the job's Python dependencies into the worker image (or the environment that runs it)",
    "--libjars": "mrargo runs no Java; Hadoop jars need Hadoop",
    "--partitioner": "Hadoop partitioner classes need Hadoop; define partition(self, key, n) on the job instead",
    "--python-bin": "tasks run with the Python that runs mrargo (locally) or the worker image's (on Argo)",
    "--task-python-bin": "tasks run with the Python that runs mrargo (locally) or the worker image's (on Argo)",
    "--sort-bin": "mrargo sorts in Python and C, never with sort(1)",
    "--step-output-dir": "mrargo keeps intermediate data in its own work folder (--local-tmp-dir)",
    "--max-output-files": "that is a Spark runner option; mrargo writes one part file per reducer",
    "--mapper": "mrargo runs the tasks of a job itself; run the whole job",
    "--combiner": "mrargo runs the tasks of a job itself; run the whole job",
    "--reducer": "mrargo runs the tasks of a job itself; run the whole job",
    "--spark": "mrargo has no Spark runner",
    "--step-num": "mrargo runs the tasks of a job itself; run the whole job",
}
# Prefixes of the options of mrjob's cloud, Hadoop and Spark runners.
CLUSTER_PREFIXES = (
    "--emr", "--ec2", "--iam", "--aws", "--s3-region", "--gcs", "--gcloud", "--cloud", "--dataproc", "--project-id", "--region",
    "--zone", "--subnet", "--instance", "--core-instance", "--master-instance", "--task-instance", "--num-core", "--num-task",
    "--bootstrap", "--pool", "--max-mins-idle", "--cluster", "--image-id", "--image-version", "--release-label", "--ssh",
    "--tag", "--label", "--owner", "--hadoop", "--spark", "--docker", "--network", "--applications", "--additional-emr",
    "--enable-emr", "--ebs", "--check-cluster", "--max-clusters", "--max-concurrent-steps", "--add-steps",
)  # fmt: skip


class KeyValues(argparse.Action):
    """``-D KEY=VALUE`` repeated into a dict, as mrjob's --jobconf and --cmdenv are."""

    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, option: str | None = None) -> None:
        key, eq, v = str(value).partition("=")
        if not eq or not key:
            raise UsageError(f"{option} {value!r} must look like KEY=VALUE")
        current = dict(getattr(ns, self.dest) or {})
        current[key] = v
        setattr(ns, self.dest, current)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def job_arg_parser() -> argparse.ArgumentParser:
    """An empty parser for one job's arguments (MRJob.arg_parser)."""
    return _Parser(usage="%(prog)s [options] [input files]", add_help=False)


def add_switches(p: argparse.ArgumentParser) -> None:
    """mrjob's common switches that mrargo honours, and mrargo's own for -r argo (MRJob.configure_args)."""
    p.add_argument(dest="args", nargs="*", help="input paths to read (or stdin if none, or -)")
    p.add_argument("-h", "--help", action="store_true", default=False, help="show this message and exit")
    p.add_argument("-r", "--runner", help="inline or local (both run here with mrargo's local executor), or argo (print an Argo spec)")
    p.add_argument("--no-conf", dest="conf_paths", action="store_const", const=[], help="read no mrjob.conf (mrargo never reads one)")
    p.add_argument("-q", "--quiet", action="store_true", default=False, help="no progress on stderr")
    p.add_argument("-v", "--verbose", action="store_true", default=False, help="log more, and show tracebacks of failed tasks")
    p.add_argument("-o", "--output-dir", help="where to write the part files (default: a temporary folder, printed to stdout)")
    p.add_argument("--cat-output", dest="cat_output", action="store_true", default=None, help="print the output to stdout even with -o")
    p.add_argument("--no-cat-output", "--no-output", dest="cat_output", action="store_false", help="do not print the output")
    p.add_argument("-D", "--jobconf", action=KeyValues, default={}, metavar="KEY=VALUE",
                   help="a Hadoop property; mrargo honours mapreduce.job.reduces (0 = map-only) and passes the rest to jobconf_from_env")
    p.add_argument("--cmdenv", action=KeyValues, default={}, metavar="NAME=VALUE", help="an environment variable for the tasks")
    p.add_argument("--num-cores", type=int, metavar="N", help="tasks at once (default: the cores)")
    p.add_argument("--local-tmp-dir", metavar="DIR", help="where intermediate data goes (default: a temporary folder)")
    g = p.add_argument_group("-r argo (see mrargo compile --help)")
    g.add_argument("--image", default="", metavar="IMG", help="the worker image")
    g.add_argument("--work-root", default="", metavar="URL", help="where runs keep intermediate data (default: _mrargo-work beside -o)")
    g.add_argument("--namespace", default="", metavar="NS", help="Kubernetes namespace")
    g.add_argument("--name", default="", metavar="NAME", help="workflow name (default: from the job file)")
    g.add_argument("--s3-endpoint", default="", metavar="URL", help="S3 endpoint for MinIO and other S3-compatible stores")
    g.add_argument("--s3-secret", default="", metavar="SECRET", help="Secret with S3 keys (accesskey, secretkey)")


def parse_job_args(p: argparse.ArgumentParser, args: Sequence[str]) -> argparse.Namespace:
    """Parse as mrjob does (options and inputs in any order); refuse what mrargo cannot do."""
    ns, unknown = p.parse_known_intermixed_args(list(args))
    for token in unknown:
        if token.startswith("-") and token != "-":
            raise UsageError(refusal(token.split("=", 1)[0]))
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(ns, "conf_paths", None):
        raise UsageError(f"-c/--conf-path: {REFUSED['-c']}")
    return ns


def refusal(option: str) -> str:
    if option in REFUSED:
        return f"{option} is not supported: {REFUSED[option]}"
    if option.startswith(CLUSTER_PREFIXES):
        return f"{option} is an option of mrjob's EMR, Dataproc, Hadoop or Spark runners; {ELSEWHERE}"
    return f"{option} is not an option of this job nor one mrargo supports (the README's 'Coming from mrjob' lists them)"


def lenient_defaults(p: argparse.ArgumentParser) -> argparse.Namespace:
    """Every argument's default, with nothing required: a job made without a command line (by the engine)."""
    required = [(a, a.required, a.nargs) for a in p._actions]
    try:
        for a, _, nargs in required:
            a.required = False
            if nargs == "+":
                a.nargs = "*"
        return p.parse_known_intermixed_args([])[0]
    finally:
        for a, req, nargs in required:
            a.required, a.nargs = req, nargs


def dest_of(p: argparse.ArgumentParser, opt_str: str) -> str:
    """The dest of an existing option (MRJob.pass_arg_through)."""
    for a in p._actions:
        if opt_str in a.option_strings or opt_str == a.dest:
            return a.dest
    raise ValueError(f"unknown arg: {opt_str}")


def _print_counters(per_step: list[dict[str, dict[str, int]]]) -> None:
    """The job's counters on stderr, laid out as mrjob lays them out."""
    for counters in per_step:
        if counters:
            print(f"Counters: {sum(len(names) for names in counters.values())}", file=sys.stderr)
            for group, names in sorted(counters.items()):
                print(f"\t{group}", file=sys.stderr)
                for name, n in sorted(names.items()):
                    print(f"\t\t{name}={n}", file=sys.stderr)


def main(cls: Any, argv: Sequence[str]) -> int:
    """Run the job as mrjob's ``python job.py ...`` does; return the exit code."""
    prog = os.path.basename(sys.argv[0] or "job.py")
    verbose = "-v" in argv or "--verbose" in argv
    if verbose:
        # set_status and the reporter:status lines of commands log here; tasks inherit it.
        from mrargo.compat.mrjob.util import log_to_stream

        log_to_stream("mrargo.compat.mrjob", debug=True)
    try:
        job = cls(list(argv))
        if job.options.help:
            job.arg_parser.print_help(sys.stdout)
            return 0
        with job.make_runner() as runner:
            runner.run()
            if not job.options.quiet and not runner.spec:
                _print_counters(runner.counters())
            if runner.spec:
                sys.stdout.write(runner.spec)
            elif job.options.cat_output if job.options.cat_output is not None else not job.options.output_dir:
                out = sys.stdout.buffer
                for chunk in runner.cat_output():
                    out.write(chunk)
                out.flush()
        return 0
    except MrargoError as e:
        tb = getattr(e, "user_traceback", "") or getattr(e.__cause__, "user_traceback", "")
        if verbose and tb:
            sys.stderr.write(tb if tb.endswith("\n") else tb + "\n")
        print(f"{prog}: error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`python job.py | head`): nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
