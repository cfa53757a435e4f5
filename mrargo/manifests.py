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

import argparse
import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mrargo import __version__
from mrargo.argo_safety import config_key, dns_label, dns_subdomain, shell_word
from mrargo.errors import PlanError
from mrargo.resources import templates_dir

if TYPE_CHECKING:
    import jinja2

__all__ = ["ManifestOptions", "add_manifests_arguments", "manifests_from_args", "render_manifests", "template_environment"]

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
    service_account: str = "mrargo"
    configmap: str = "artifact-repositories"
    key: str = "default-v1"
    artifact_gc: bool = False
    with_minio: bool = False


# -- templates ---------------------------------------------------------------------



def yaml_scalar(value: object) -> str:
    """A YAML scalar that loads back to exactly ``value`` (JSON is a YAML subset)."""
    if not isinstance(value, str | int | bool):
        raise TypeError(f"only strings, ints and bools are rendered into YAML, got {type(value).__name__}")
    # ensure_ascii: no raw line breaks of any kind (U+2028, NEL...) reach the YAML.
    return json.dumps(value, ensure_ascii=True)


def template_environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not ""
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["yaml"] = yaml_scalar
    return env


# -- checks -------------------------------------------------------------------------


def parse_endpoint(what: str, value: str) -> tuple[str, bool]:
    """``http://minio:9000`` -> ("minio:9000", insecure=True), Argo's form."""
    m = ENDPOINT.match(value)
    if not m or len(value) > 253 or (m["port"] and not 0 < int(m["port"]) < 65536):
        raise PlanError(f"{what} {value!r} is not an endpoint like http://minio.argo.svc:9000 or s3.amazonaws.com")
    host = m["host"] + (f":{m['port']}" if m["port"] else "")
    return host, m["scheme"] == "http"


def checked_options(opts: ManifestOptions) -> ManifestOptions:
    """Validate every field and fill in the defaults that depend on others."""
    repo = opts.repository or ("minio" if opts.with_minio else "s3")
    if repo not in REPOSITORIES:
        raise PlanError(f"--artifact-repository must be one of {', '.join(REPOSITORIES)}, got {repo!r}")
    if opts.with_minio and repo != "minio":
        raise PlanError(f"--with-minio deploys MinIO, but --artifact-repository is {repo}; drop one of them")
    dns_label("--namespace", opts.namespace)
    dns_subdomain("--service-account", opts.service_account)
    if len(opts.service_account) > 230:  # the Role is named after it, plus "-executor"
        raise PlanError(f"--service-account {opts.service_account!r} is too long; use at most 230 characters")
    dns_subdomain("--configmap", opts.configmap)
    config_key("--key", opts.key)
    bucket = opts.bucket or (DEFAULT_MINIO_BUCKET if repo == "minio" else "")
    if not bucket:
        raise PlanError(f"--artifact-repository {repo} needs --bucket NAME (the bucket Argo writes logs to)")
    if not (GCS_BUCKET if repo == "gcs" else S3_BUCKET).match(bucket):
        raise PlanError(f"--bucket {bucket!r} is not a bucket name: use 3-63 lowercase letters, digits, '.' and '-'")
    secret = opts.secret or (DEFAULT_MINIO_SECRET if repo == "minio" else "")
    if secret:
        dns_subdomain("--secret", secret)
        for k in opts.secret_keys:
            config_key("--secret-keys", k)
    endpoint = opts.endpoint
    if repo == "minio" and not endpoint:
        if not opts.with_minio:
            raise PlanError("--artifact-repository minio needs --endpoint URL (e.g. http://minio.argo.svc:9000), or --with-minio")
        endpoint = f"http://{MINIO_NAME}.{opts.namespace}.svc:9000"
    if repo == "s3" and not endpoint:
        endpoint = AWS_ENDPOINT
    if endpoint:
        if repo == "gcs":
            raise PlanError("--endpoint applies to s3 and minio, not gcs; drop it")
        parse_endpoint("--endpoint", endpoint)
    if opts.region and (repo == "gcs" or not REGION.match(opts.region)):
        raise PlanError(f"--region {opts.region!r} must be an S3 region like eu-west-1 (s3 and minio only)")
    return replace(opts, repository=repo, bucket=bucket, secret=secret, endpoint=endpoint)


# -- rendering ----------------------------------------------------------------------


def render_manifests(opts: ManifestOptions) -> str:
    """Multi-document YAML: RBAC, the artifact-repository ConfigMap, optionally MinIO."""
    return _render(checked_options(opts))


def _render(opts: ManifestOptions) -> str:
    """Render already-checked options; values are still escaped by the yaml filter."""
    env = template_environment()
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
    return "\n".join(lines) + "\n"


# -- the command line ------------------------------------------------------------------


def _key_pair(text: str) -> tuple[str, str]:
    keys = text.split(",")
    if len(keys) != 2 or not all(keys):
        raise argparse.ArgumentTypeError(f"{text!r} must be two key names, ACCESS,SECRET")
    return keys[0], keys[1]


def add_manifests_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", default="argo", metavar="NS", help="namespace the workflows run in (default: %(default)s)")
    p.add_argument(
        "--artifact-repository",
        choices=REPOSITORIES,
        default="",
        help="where Argo keeps logs and artifacts (default: minio with --with-minio, else s3)",
    )
    p.add_argument("--bucket", default="", metavar="B", help=f"the bucket (default with minio: {DEFAULT_MINIO_BUCKET})")
    p.add_argument("--endpoint", default="", metavar="URL", help="S3 endpoint, e.g. http://minio.argo.svc:9000 (default: AWS)")
    p.add_argument("--region", default="", metavar="REGION", help="S3 region, e.g. eu-west-1")
    p.add_argument(
        "--secret",
        default="",
        metavar="NAME",
        help=f"Secret with the bucket keys (default with minio: {DEFAULT_MINIO_SECRET}; s3/gcs without it use the pod's cloud identity)",
    )
    p.add_argument(
        "--secret-keys", default=("accesskey", "secretkey"), type=_key_pair, metavar="ACCESS,SECRET", help="key names in --secret"
    )
    p.add_argument("--service-account", default="mrargo", metavar="SA", help="service account of the pods (default: %(default)s)")
    p.add_argument("--configmap", default="artifact-repositories", metavar="NAME", help="ConfigMap name (default: %(default)s)")
    p.add_argument("--key", default="default-v1", metavar="KEY", help="repository key in the ConfigMap (default: %(default)s)")
    p.add_argument("--artifact-gc", action="store_true", help="also grant the rights Argo's artifact garbage collection needs")
    p.add_argument("--with-minio", action="store_true", help="add a single-node MinIO and a bucket-creating Job (development only)")


def manifests_from_args(args: argparse.Namespace) -> str:
    return render_manifests(
        ManifestOptions(
            namespace=args.namespace,
            repository=args.artifact_repository,
            bucket=args.bucket,
            endpoint=args.endpoint,
            region=args.region,
            secret=args.secret,
            secret_keys=args.secret_keys,
            service_account=args.service_account,
            configmap=args.configmap,
            key=args.key,
            artifact_gc=args.artifact_gc,
            with_minio=args.with_minio,
        )
    )
