"""`mrargo manifests`: the RBAC, artifact-repository ConfigMap and optional dev MinIO a cluster needs, as YAML."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from mrargo.cli.common import add_debug


def _key_pair(text: str) -> tuple[str, str]:
    keys = text.split(",")
    if len(keys) != 2 or not all(keys):
        raise argparse.ArgumentTypeError(f"{text!r} must be two key names, ACCESS,SECRET")
    return keys[0], keys[1]


def add_parser(sub: Any, full: bool) -> None:
    text = "print the RBAC, artifact-repository ConfigMap and optional dev MinIO a cluster needs (YAML on stdout)"
    p = sub.add_parser("manifests", help=text, description=text)
    add_debug(p)
    p.set_defaults(func=manifests_command)
    if not full:  # the flags' choices import mrargo.cluster.manifests; only `mrargo manifests` shows them
        return
    from mrargo.argo.contract import DEFAULT_SERVICE_ACCOUNT
    from mrargo.cluster.manifests import DEFAULT_MINIO_BUCKET, DEFAULT_MINIO_SECRET, REPOSITORIES

    p.add_argument("--namespace", default="argo", metavar="NS", help="namespace the workflows run in (default: %(default)s)")
    p.add_argument(
        "--artifact-repository", choices=REPOSITORIES, default="",
        help="where Argo keeps logs and artifacts (default: minio with --with-minio, else s3)",
    )  # fmt: skip
    p.add_argument("--bucket", default="", metavar="B", help=f"the bucket (default with minio: {DEFAULT_MINIO_BUCKET})")
    p.add_argument("--endpoint", default="", metavar="URL", help="S3 endpoint, e.g. http://minio.argo.svc:9000 (default: AWS)")
    p.add_argument("--region", default="", metavar="REGION", help="S3 region, e.g. eu-west-1")
    p.add_argument(
        "--secret", default="", metavar="NAME",
        help=f"Secret with the bucket keys (default with minio: {DEFAULT_MINIO_SECRET}; s3/gcs without it use the pod's cloud identity)",
    )  # fmt: skip
    p.add_argument("--secret-keys", default=("accesskey", "secretkey"), type=_key_pair, metavar="ACCESS,SECRET", help="key names in --secret")
    p.add_argument(
        "--service-account", default=DEFAULT_SERVICE_ACCOUNT, metavar="SA", help="service account of the pods (default: %(default)s)"
    )
    p.add_argument("--configmap", default="artifact-repositories", metavar="NAME", help="ConfigMap name (default: %(default)s)")
    p.add_argument("--key", default="default-v1", metavar="KEY", help="repository key in the ConfigMap (default: %(default)s)")
    p.add_argument("--artifact-gc", action="store_true", help="also grant the rights Argo's artifact garbage collection needs")
    p.add_argument("--with-minio", action="store_true", help="add a single-node MinIO and a bucket-creating Job (development only)")


def manifest_options(args: argparse.Namespace) -> Any:
    from mrargo.cluster.manifests import ManifestOptions

    return ManifestOptions(
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


def manifests_command(args: argparse.Namespace) -> int:
    from mrargo.cluster.manifests import render_manifests

    sys.stdout.write(render_manifests(manifest_options(args)))
    return 0
