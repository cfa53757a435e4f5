"""The ``mrargo`` command: parse, call a typed entry point, print.  The only argparse user.

One module per command (run, compile, image, manifests, init, submit with
status and logs).  Errors are one line on stderr with the cause's exit code
(mrargo.errors); ``--debug`` adds the traceback.  Backends are imported only
by the command that runs, so ``mrargo run`` never loads hera.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from mrargo.errors import EXIT_INTERRUPTED, EXIT_USAGE, MrargoError, exit_now

EPILOG = """examples:
  mrargo run examples/wordcount.py -i 'data/*.txt' -o out/
  mrargo run workflows/wordcount.workflow.yaml -p input=data/ -p output=out/
  mrargo image build --tag REGISTRY/mrargo-worker:0.1.0 --push
  mrargo compile examples/wordcount.py -i s3://bucket/in/ -o s3://bucket/out/ --image REGISTRY/mrargo-worker:0.1.0 | argo submit -
  mrargo manifests --namespace jobs | kubectl apply -f -
  mrargo submit examples/wordcount.py -i s3://bucket/in/ -o s3://bucket/out/ --image IMG --watch
  mrargo init myjob

exit codes: 0 done, 1 failed (may pass if run again), 2 bad command line,
3 fails every time (job code, input, job definition), 130 Ctrl-C, 143 SIGTERM
"""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except MrargoError as e:
        if args.debug:
            _print_traceback(e)
        print(f"mrargo: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        from mrargo.local import INTERRUPTED

        print(f"mrargo: error: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED


def console() -> NoReturn:
    """The ``mrargo`` command's entry point: ``main()``, then an exit without the interpreter's teardown.

    Freeing every module and object one at a time cost about 8 ms of each
    run (a tiny run takes 90).  What a teardown owes is done here: atexit
    handlers run (they flush logging, among others) and the standard
    streams are flushed.  A thread still running, which a normal exit
    would wait for, gets the normal exit.
    """
    code = main()
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    exit_now(code)  # flushes the standard streams, then os._exit


def _print_traceback(e: BaseException) -> None:
    import traceback

    tb = getattr(e, "user_traceback", "")
    if tb:
        sys.stderr.write(tb if tb.endswith("\n") else tb + "\n")
    else:
        traceback.print_exception(e, file=sys.stderr)


def _command_of(argv: list[str]) -> str:
    """The subcommand, found before parsing, so only its backend gets imported."""
    return next((a for a in argv if not a.startswith("-")), "")


def build_parser(command: str = "") -> argparse.ArgumentParser:
    """The parser; the flags of compile, submit, image and manifests are added only when that command runs.

    Their defaults and choices come from the backends (hera-free, but
    subprocess and the cluster manifests), which `mrargo run` never needs.
    """
    from mrargo.cli import compile as compile_cmd
    from mrargo.cli import image, init, manifests, run, submit

    parser = argparse.ArgumentParser(
        prog="mrargo",
        description="Run MapReduce jobs written in Python, locally or on Argo Workflows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run.add_parser(sub)
    compile_cmd.add_parser(sub, full=command == "compile")
    image.add_parser(sub, full=command == "image")
    manifests.add_parser(sub, full=command == "manifests")
    init.add_parser(sub)
    submit.add_parsers(sub, full=command == "submit")
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
