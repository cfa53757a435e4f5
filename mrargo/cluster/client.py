"""The Kubernetes API calls of submit, status and logs, with one-line errors.

Configuration comes from a kubeconfig (``--kubeconfig``, ``$KUBECONFIG`` or
``~/.kube/config``; ``--context``) or, inside a pod with no kubeconfig,
from the in-cluster service account.  The client is built from its own
``Configuration`` so nothing global is changed.  Every API error becomes a
MrargoError that names the call, the namespace and the fix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mrargo.errors import MrargoError, one_line

GROUP, VERSION = "argoproj.io", "v1alpha1"
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
TIMEOUT = 30  # seconds per request; the API answers fast or not at all


class ApiUnreachable(MrargoError):
    """No answer from the API server (refused, timed out): worth retrying in a watch."""


@dataclass(frozen=True)
class Connection:
    api: Any  # kubernetes.client.ApiClient
    host: str
    namespace: str  # the context's namespace, the pod's, or "default"


def connect(kubeconfig: str = "", context: str = "") -> Connection:
    from kubernetes import client, config

    cfg = client.Configuration()
    # The urllib3 default retries thrice and logs a warning per retry: noise
    # on top of our own one-line error.
    cfg.retries = 1
    try:
        if _in_cluster(kubeconfig, context):
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            namespace = _pod_namespace()
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig or None, context=context or None, client_configuration=cfg, persist_config=False
            )
            namespace = _context_namespace(kubeconfig, context)
    except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as e:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise MrargoError(
            f"no usable Kubernetes configuration in {where}: {one_line(str(e)).rstrip('.')}; pass --kubeconfig FILE (and --context NAME), "
            "or run inside a cluster"
        ) from None
    return Connection(api=client.ApiClient(cfg), host=str(cfg.host), namespace=namespace)


def _in_cluster(kubeconfig: str, context: str) -> bool:
    if kubeconfig or context or os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config")):
        return False
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _pod_namespace() -> str:
    try:
        with open(SA_NAMESPACE_FILE, encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def _context_namespace(kubeconfig: str, context: str) -> str:
    from kubernetes import config

    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig or None)  # type: ignore[no-untyped-call]
    chosen = next((c for c in contexts if c.get("name") == context), active) if context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def _api_message(e: Any) -> str:
    try:
        body = json.loads(e.body or "{}")
        return one_line(str(body.get("message") or e.reason or ""))
    except (TypeError, ValueError, AttributeError):
        return one_line(str(getattr(e, "reason", "") or e))


@contextmanager
def api_call(conn: Connection, action: str, namespace: str, not_found: str = "") -> Iterator[None]:
    """Turn the client's exceptions into one-line MrargoErrors."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as e:
        msg = _api_message(e)
        if e.status == 404 and not_found:
            raise MrargoError(not_found) from None
        if e.status == 401:
            raise MrargoError(
                f"the Kubernetes API at {conn.host} refused the credentials (401) to {action}; log in again or check --kubeconfig/--context"
            ) from None
        if e.status == 403:
            raise MrargoError(
                f"forbidden to {action} in namespace {namespace}: {msg}; ask for RBAC rights there or pass --namespace"
            ) from None
        raise MrargoError(f"cannot {action} in namespace {namespace}: HTTP {e.status}: {msg}") from None
    except HTTPError as e:
        reason = one_line(str(getattr(e, "reason", None) or e))
        raise ApiUnreachable(f"cannot reach the Kubernetes API at {conn.host}: {reason}; check --kubeconfig/--context") from None


def _custom(conn: Connection) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(conn.api)


def create_workflow(conn: Connection, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    missing = "the API server has no argoproj.io/v1alpha1 Workflow resource: install Argo Workflows first (docs/cluster.md)"
    with api_call(conn, "create a Workflow", namespace, not_found=missing):
        created = _custom(conn).create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", body, _request_timeout=TIMEOUT)
    return dict(created)


def get_workflow(conn: Connection, namespace: str, name: str) -> dict[str, Any]:
    missing = f"no workflow {name!r} in namespace {namespace}; list them with: kubectl get workflows -n {namespace}"
    with api_call(conn, f"read workflow {name}", namespace, not_found=missing):
        found = _custom(conn).get_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", name, _request_timeout=TIMEOUT)
    return dict(found)


def get_workflow_template(conn: Connection, namespace: str, name: str) -> dict[str, Any]:
    missing = (
        f"no WorkflowTemplate {name!r} in namespace {namespace}; "
        f"create it first: mrargo compile JOB --kind template ... | kubectl apply -n {namespace} -f -"
    )
    with api_call(conn, f"read WorkflowTemplate {name}", namespace, not_found=missing):
        found = _custom(conn).get_namespaced_custom_object(GROUP, VERSION, namespace, "workflowtemplates", name, _request_timeout=TIMEOUT)
    return dict(found)


def pod_log(conn: Connection, namespace: str, pod: str, container: str = "main") -> str | None:
    """The container's log, or None when the pod is gone (Argo's podGC deletes succeeded pods)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    with api_call(conn, f"read the log of pod {pod}", namespace):
        try:
            return str(client.CoreV1Api(conn.api).read_namespaced_pod_log(pod, namespace, container=container, _request_timeout=TIMEOUT))
        except ApiException as e:
            if e.status in (400, 404):  # deleted, or not started yet ("container is waiting to start")
                return None
            raise
