"""`mrargo submit`, `status` and `logs`: Workflows through the Kubernetes API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mrargo.cli.common import add_debug, key_value, parameters
from mrargo.errors import EXIT_INTERRUPTED, MrargoError, UsageError

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


def _connection_arguments(p: argparse.ArgumentParser, namespace: bool) -> None:
    p.add_argument("--kubeconfig", default="", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--context", default="", metavar="NAME", help="kubeconfig context (default: the current one)")
    if namespace:
        p.add_argument("--namespace", "-n", default="", metavar="NS", help="namespace (default: the context's)")


def add_parsers(sub: Any, full: bool) -> None:
    text = "submit a job, a compiled spec or a WorkflowTemplate to Argo through the Kubernetes API"
    p = sub.add_parser("submit", help=text, description=text)
    add_debug(p)
    if full:  # every compile flag applies when JOB is a job file: one source of truth
        from mrargo.cli.compile import add_compile_arguments

        add_compile_arguments(p)
        for action in p._actions:
            # JOB becomes optional because --from-template needs none; argparse
            # reads nargs when parsing, so changing it here is enough.
            if action.dest == "job":
                action.nargs, action.default, action.metavar = "?", "", "JOB|SPEC.yaml"
                action.help = "a job file (compiled first), a compiled Workflow SPEC.yaml, or nothing with --from-template"
        p.add_argument(
            "-p", "--parameter", action="append", default=[], type=key_value, metavar="K=V",
            help="set a workflow parameter (input, output, work-root, param-NAME), as argo submit -p does",
        )  # fmt: skip
        p.add_argument("--from-template", default="", metavar="NAME", help="run the WorkflowTemplate NAME from the cluster")
        p.add_argument("--watch", action="store_true", help="follow the run: progress bars, then counters or the failure")
        p.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="how often --watch reads the workflow (default: 2)")
        _connection_arguments(p, namespace=False)  # --namespace comes with the compile flags
    p.set_defaults(func=submit_command, parser=p)

    text = "show a workflow's phase and a progress line per task"
    p = sub.add_parser("status", help=text, description=text)
    add_debug(p)
    p.add_argument("name", metavar="NAME", help="the workflow's name, e.g. wordcount-x7k2p")
    _connection_arguments(p, namespace=True)
    p.set_defaults(func=status_command)

    text = "print the pod logs of a workflow's tasks"
    p = sub.add_parser("logs", help=text, description=text)
    add_debug(p)
    p.add_argument("name", metavar="NAME", help="the workflow's name")
    p.add_argument("--task", default="", metavar="TASK", help="one task: map-3 (item 3 of map), reduce, commit (default: every task)")
    _connection_arguments(p, namespace=True)
    p.set_defaults(func=logs_command)


def _document(args: argparse.Namespace, params: dict[str, str]) -> dict[str, Any]:
    """The Workflow to create from JOB or SPEC.yaml; the compiled object is used as it is, not re-read from text."""
    from mrargo.argo import contract
    from mrargo.cluster.submit import check_document

    if args.job.endswith(SPEC_SUFFIXES):
        from mrargo.specrun import read_spec

        doc = check_document(read_spec(args.job), args.job)
    else:
        from mrargo.cli.compile import compile_args

        if args.kind != "workflow":
            raise UsageError(f"mrargo submit runs Workflows, not --kind {args.kind}; compile it and kubectl apply -f the YAML")
        # -p input=/output= are the run's values; they may stand in for -i/-o.
        if not args.input and contract.PARAM_INPUT in params:
            args.input = params[contract.PARAM_INPUT].splitlines()
        if not args.output and contract.PARAM_OUTPUT in params:
            args.output = params[contract.PARAM_OUTPUT]
        doc = compile_args(args).to_dict()
    contract.set_parameters(doc, params, args.job)
    return doc


def submit_command(args: argparse.Namespace) -> int:
    from mrargo.argo import checks, contract
    from mrargo.cluster import client
    from mrargo.cluster.submit import follow, submit, template_parameters

    params = parameters(args.parameter)
    for k, v in params.items():
        checks.check_inert(f"-p {k}", v, lines=True)
    if args.from_template and args.job:
        raise UsageError("pass JOB (or SPEC.yaml) or --from-template NAME, not both")
    if not (args.from_template or args.job):
        raise UsageError("nothing to submit: pass JOB (a job file), SPEC.yaml (a compiled Workflow) or --from-template NAME")
    if args.poll <= 0:
        raise UsageError(f"--poll must be more than 0 seconds, got {args.poll}")
    doc = _document(args, params) if args.job else None  # compile before connecting: a bad job fails fast, offline
    conn = client.connect(args.kubeconfig, args.context)
    namespace = args.namespace or ((doc or {}).get("metadata") or {}).get("namespace") or conn.namespace
    if doc is None:
        from mrargo.argo.compiler import workflow_from_template

        template = client.get_workflow_template(conn, namespace, args.from_template)
        contract.check_parameters(params, template_parameters(template), f"WorkflowTemplate {args.from_template}")
        doc = workflow_from_template(args.from_template, namespace, params, args.service_account)
    created = submit(doc, conn, namespace)
    name = created["metadata"]["name"]
    print(name)  # stdout holds only the name, for scripts: NAME=$(mrargo submit ...)
    if not args.watch:
        print(f"submitted workflow {name} in namespace {namespace}; follow it with: mrargo status {name} -n {namespace}", file=sys.stderr)
        return 0
    from mrargo.cluster import watch

    try:
        wf = follow(conn, namespace, name, sys.stderr, args.poll)
    except KeyboardInterrupt:
        print(f"stopped watching; workflow {name} keeps running: mrargo status {name} -n {namespace}", file=sys.stderr)
        return EXIT_INTERRUPTED
    for line in watch.result_lines(wf):
        print(line, file=sys.stderr)
    return 0


def _fetch(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any]]:
    """The connection, the namespace and the workflow that status and logs name."""
    from mrargo.cluster import client

    conn = client.connect(args.kubeconfig, args.context)
    namespace = args.namespace or conn.namespace
    return conn, namespace, client.get_workflow(conn, namespace, args.name)


def status_command(args: argparse.Namespace) -> int:
    from mrargo.cluster.submit import status_lines

    _, namespace, wf = _fetch(args)
    print("\n".join(status_lines(wf, namespace)))
    return 0


def logs_command(args: argparse.Namespace) -> int:
    from mrargo.cluster.submit import logs

    conn, namespace, wf = _fetch(args)
    printed = 0
    for chunk in logs(conn, namespace, wf, args.task):
        if chunk.text is None:
            print(f"mrargo: no log for {chunk.where}: the pod is gone (podGC) or not started", file=sys.stderr)
            continue
        print(f"==> {chunk.where} ({chunk.phase}) <==")
        sys.stdout.write(chunk.text if chunk.text.endswith("\n") or not chunk.text else chunk.text + "\n")
        printed += 1
    if not printed:
        raise MrargoError(
            f"no pod logs to show for {args.name}{' --task ' + args.task if args.task else ''}: "
            "its pods are gone or not started; Argo's archived logs (archiveLogs) are in the artifact repository"
        )
    return 0
