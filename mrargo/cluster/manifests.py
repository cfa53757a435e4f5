"""`mrargo manifests`: what a cluster needs before the first run, as YAML.

The objects are jinja2 text under templates/ (RBAC, the artifact-repository
ConfigMap, a development MinIO), because hera models Argo's objects, not
Kubernetes' own.  Every user string is checked here first (DNS-1123 names,
bucket and endpoint syntax) and is then rendered with the ``yaml`` filter,
which writes a JSON string: a quote, newline or ``---`` in a value stays
inside that one scalar, so no value can add a key or a document.
Credentials are only ever named (Secret references); nothing here renders
a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from mrargo import __version__
from mrargo.argo.checks import config_key, dns_label, dns_subdomain, shell_word
from mrargo.argo.contract import DEFAULT_SERVICE_ACCOUNT
from mrargo.errors import UsageError
from mrargo.templating import environment

__all__ = ["ManifestOptions", "render_manifests"]

REPOSITORIES = ("s3", "minio", "gcs")
MINIO_NAME = "mrargo-minio"
DEFAULT_MINIO_SECRET = "mrargo-minio-cred"
DEFAULT_MINIO_BUCKET = "mrargo"
AWS_ENDPOINT = "https://s3.amazonaws.com"  # Argo's S3 driver needs an endpoint, even for AWS
GCS_KEY = "serviceAccountKey"  # the key Argo's GCS docs use for a service-account JSON key
# S3 and MinIO bucket names: 3-63 lowercase letters, digits, '.' and '-'.
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
# Argo wants host[:port]; a scheme only tells us whether TLS is off.
ENDPOINT = re.compile(r"^(?:(?P<scheme>https?)://)?(?P<host>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::(?P<port>[0-9]{1,5}))?/?$")
REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


@dataclass(frozen=True)
class ManifestOptions:
    """What `mrargo manifests` renders; empty strings mean "the default"."""

    namespace: str = "argo"
    repository: str = ""  # s3 | minio | gcs; "" = minio with --with-minio, else s3
    bucket: str = ""
    endpoint: str = ""  # http(s)://host[:port] or host[:port]
    region: str = ""
    secret: str = ""  # Secret holding the bucket credentials
    secret_keys: tuple[str, str] = ("accesskey", "secretkey")
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    configmap: str = "artifact-repositories"
    key: str = "default-v1"
    artifact_gc: bool = False
    with_minio: bool = False


# -- checks -------------------------------------------------------------------------


def parse_endpoint(what: str, value: str) -> tuple[str, bool]:
    """``http://minio:9000`` -> ("minio:9000", insecure=True), Argo's form."""
    m = ENDPOINT.match(value)
    if not m or len(value) > 253 or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise UsageError(f"{what} {value!r} is not an endpoint like http://minio.argo.svc:9000 or s3.amazonaws.com")
    host = m["host"] + (f":{m['port']}" if m["port"] else "")
    return host, m["scheme"] == "http"


def checked_options(opts: ManifestOptions) -> ManifestOptions:
    """Validate every field and fill in the defaults that depend on others."""
    repo = opts.repository or ("minio" if opts.with_minio else "s3")
    if repo not in REPOSITORIES:
        raise UsageError(f"--artifact-repository must be one of {', '.join(REPOSITORIES)}, got {repo!r}")
    if opts.with_minio and repo != "minio":
        raise UsageError(f"--with-minio deploys MinIO, but --artifact-repository is {repo}; drop one of them")
    dns_label("--namespace", opts.namespace)
    dns_subdomain("--service-account", opts.service_account)
    if len(opts.service_account) > 230:  # the Role is named after it, plus "-executor"
        raise UsageError(f"--service-account {opts.service_account!r} is too long; use at most 230 characters")
    dns_subdomain("--configmap", opts.configmap)
    config_key("--key", opts.key)
    bucket = opts.bucket or (DEFAULT_MINIO_BUCKET if repo == "minio" else "")
    if not bucket:
        raise UsageError(f"--artifact-repository {repo} needs --bucket NAME (the bucket Argo writes logs to)")
    if not (GCS_BUCKET if repo == "gcs" else S3_BUCKET).match(bucket):
        raise UsageError(f"--bucket {bucket!r} is not a bucket name: use 3-63 lowercase letters, digits, '.' and '-'")
    secret = opts.secret or (DEFAULT_MINIO_SECRET if repo == "minio" else "")
    if secret:
        dns_subdomain("--secret", secret)
        for k in opts.secret_keys:
            config_key("--secret-keys", k)
    endpoint = opts.endpoint
    if repo == "minio" and not endpoint:
        if not opts.with_minio:
            raise UsageError("--artifact-repository minio needs --endpoint URL (e.g. http://minio.argo.svc:9000), or --with-minio")
        endpoint = f"http://{MINIO_NAME}.{opts.namespace}.svc:9000"
    if repo == "s3" and not endpoint:
        endpoint = AWS_ENDPOINT
    if endpoint:
        if repo == "gcs":
            raise UsageError("--endpoint applies to s3 and minio, not gcs; drop it")
        parse_endpoint("--endpoint", endpoint)
    if opts.region and (repo == "gcs" or not REGION.match(opts.region)):
        raise UsageError(f"--region {opts.region!r} must be an S3 region like eu-west-1 (s3 and minio only)")
    return replace(opts, repository=repo, bucket=bucket, secret=secret, endpoint=endpoint)


# -- rendering ----------------------------------------------------------------------


def render_manifests(opts: ManifestOptions) -> str:
    """Multi-document YAML: RBAC, the artifact-repository ConfigMap, optionally MinIO."""
    return _render(checked_options(opts))


def _render(opts: ManifestOptions) -> str:
    """Render already-checked options; values are still escaped by the yaml filter."""
    env = environment()
    host, insecure = parse_endpoint("--endpoint", opts.endpoint) if opts.endpoint else ("", False)
    values: dict[str, Any] = dict(
        namespace=opts.namespace,
        service_account=opts.service_account,
        role=f"{opts.service_account}-executor",
        artifact_gc=opts.artifact_gc,
        configmap=opts.configmap,
        key=opts.key,
        repository=opts.repository,
        bucket=opts.bucket,
        endpoint=host,
        insecure=insecure,
        region=opts.region,
        secret=opts.secret,
        access_key=opts.secret_keys[0],
        secret_key=opts.secret_keys[1],
        gcs_key=GCS_KEY,
        minio=MINIO_NAME,
        version=__version__,
    )
    parts = [env.get_template("rbac.yaml.j2").render(values), env.get_template("artifact-repositories.yaml.j2").render(values)]
    if opts.with_minio:
        parts.append(env.get_template("minio.yaml.j2").render(values))
    return _header(opts) + "".join(p.rstrip() + "\n" for p in parts)


def _header(opts: ManifestOptions) -> str:
    """Comment lines saying how to use what follows.

    Every value is shell-quoted (``shell_word`` escapes line breaks), so even
    a value that slipped past the checks cannot end a comment line.
    """
    q = shell_word
    ns, secret = q(opts.namespace), q(opts.secret)
    lines = [
        f"# Generated by mrargo {__version__}: mrargo manifests. Apply with: kubectl apply -f FILE",
        f"# Run jobs with: mrargo compile JOB ... --namespace {ns} --service-account {q(opts.service_account)}",
    ]
    if opts.configmap != "artifact-repositories":
        lines.append(f"#   --artifact-repository {q(opts.configmap + ':' + opts.key)}")
    if opts.repository != "gcs" and opts.secret:
        lines.append(f"#   --s3-secret {secret} --s3-secret-keys {q(','.join(opts.secret_keys))}")
    if opts.endpoint and opts.endpoint != AWS_ENDPOINT:
        lines.append(f"#   --s3-endpoint {q(opts.endpoint if '://' in opts.endpoint else 'https://' + opts.endpoint)}")
    if opts.secret:
        access, secret_key = (q(k) for k in opts.secret_keys)
        hint = (
            f"--from-file={GCS_KEY}=key.json"
            if opts.repository == "gcs"
            else f"--from-literal={access}=ACCESS_KEY --from-literal={secret_key}=SECRET_KEY"
        )
        lines.append(f"# The Secret is yours to create, e.g.: kubectl create secret generic {secret} -n {ns} {hint}")
    lines += [
        "# A run that fails keeps its work folder (WORK-ROOT/WORKFLOW-NAME) so that `argo retry` can finish it;",
        "# expire old ones with a lifecycle rule on the work root's prefix, e.g. 7 days:",
        "#   MinIO: mc ilm rule add --expire-days 7 ALIAS/BUCKET/WORK-ROOT-PREFIX",
        "#   S3:    a lifecycle rule with Filter.Prefix WORK-ROOT-PREFIX/ and Expiration.Days 7",
    ]
    return "\n".join(lines) + "\n"
