"""`mrargo manifests`: valid Kubernetes objects, minimum RBAC, Argo's repository format, no injection.

Every rendered object is checked against the Kubernetes API schema as the
official ``kubernetes`` client models it (pydantic models with
``extra="forbid"``): a misspelt field is an error, and the model serialised
back must equal the document, so nothing is silently dropped or coerced.
The artifact-repository entry is checked the same way against hera's model
of Argo's ``ArtifactRepository``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import pytest
import yaml
from hera.workflows import models as argo_models
from kubernetes import client

from mrargo.cli import build_parser
from mrargo.cli.manifests import manifest_options
from mrargo.cluster import manifests
from mrargo.cluster.manifests import ManifestOptions
from mrargo.errors import UsageError

MODELS: dict[tuple[str, str], Any] = {
    ("v1", "ServiceAccount"): client.V1ServiceAccount,
    ("rbac.authorization.k8s.io/v1", "Role"): client.V1Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): client.V1RoleBinding,
    ("v1", "ConfigMap"): client.V1ConfigMap,
    ("apps/v1", "Deployment"): client.V1Deployment,
    ("v1", "Service"): client.V1Service,
    ("batch/v1", "Job"): client.V1Job,
}

VARIANTS = {
    "aws": ManifestOptions(bucket="team-logs"),
    "aws-keys": ManifestOptions(bucket="team-logs", secret="s3-keys", region="eu-west-1", secret_keys=("id", "key")),
    "s3-compatible": ManifestOptions(bucket="logs", endpoint="https://storage.example.com:9443", secret="store-cred"),
    "minio-dev": ManifestOptions(with_minio=True, artifact_gc=True, namespace="jobs", service_account="runner"),
    "minio-external": ManifestOptions(repository="minio", endpoint="http://minio.storage.svc:9000", configmap="mrargo-repos"),
    "gcs-key": ManifestOptions(repository="gcs", bucket="my_logs", secret="gcs-key"),
    "gcs-identity": ManifestOptions(repository="gcs", bucket="my-logs"),
}


def k8s_strict(doc: dict[str, Any]) -> Any:
    """Validate one object against the client's model; return the model."""
    model = MODELS[(doc["apiVersion"], doc["kind"])]
    obj = model.model_validate(doc)  # extra="forbid": a typo is an error
    back = client.ApiClient().sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    assert back == doc, f"{doc['kind']} lost or changed fields in the round trip"
    return obj


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {d["kind"]: d for d in docs}
    assert len(out) == len(docs), "one object of each kind expected"
    return out


def repository_entry(cm: dict[str, Any]) -> dict[str, Any]:
    key = cm["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
    entry = yaml.safe_load(cm["data"][key])
    assert isinstance(entry, dict)
    return entry


def argo_strict(entry: dict[str, Any]) -> argo_models.ArtifactRepository:
    repo = argo_models.ArtifactRepository.model_validate(entry)
    assert repo.model_dump(by_alias=True, exclude_none=True) == entry, "hera's ArtifactRepository dropped a field"
    return repo


# -- schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_object_matches_the_kubernetes_schema(variant: str) -> None:
    docs = docs_of(manifests.render_manifests(VARIANTS[variant]))
    kinds = [d["kind"] for d in docs]
    expected = ["ServiceAccount", "Role", "RoleBinding", "ConfigMap"]
    assert kinds == (expected + ["Deployment", "Service", "Job"] if VARIANTS[variant].with_minio else expected)
    for doc in docs:
        k8s_strict(doc)
        assert doc["metadata"]["namespace"] == VARIANTS[variant].namespace
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mrargo"
    argo_strict(repository_entry(by_kind(docs)["ConfigMap"]))


def test_the_schema_checks_can_fail() -> None:
    text = manifests.render_manifests(VARIANTS["minio-dev"])
    deployment = by_kind(docs_of(text.replace("containerPort:", "containerPrt:")))["Deployment"]
    with pytest.raises(Exception, match="containerPrt"):
        k8s_strict(deployment)
    role = by_kind(docs_of(text))["Role"]
    role["rules"][0]["verbs"] = "create"  # a string where the schema wants a list
    with pytest.raises(Exception, match="verbs"):
        k8s_strict(role)
    cm = by_kind(docs_of(text))["ConfigMap"]
    entry = repository_entry(cm)
    entry["s3"]["acessKeySecret"] = entry["s3"].pop("accessKeySecret")
    with pytest.raises(AssertionError, match="dropped a field"):
        argo_strict(entry)


# -- RBAC ---------------------------------------------------------------------------


def test_rbac_grants_the_executor_minimum_and_binds_the_service_account() -> None:
    kinds = by_kind(docs_of(manifests.render_manifests(ManifestOptions(bucket="b-logs", namespace="jobs", service_account="runner"))))
    assert kinds["ServiceAccount"]["metadata"]["name"] == "runner"
    assert kinds["Role"]["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
    binding = kinds["RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": kinds["Role"]["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "runner", "namespace": "jobs"}]


def test_artifact_gc_adds_only_argo_documented_gc_rights() -> None:
    role = by_kind(docs_of(manifests.render_manifests(ManifestOptions(bucket="b-logs", artifact_gc=True))))["Role"]
    assert role["rules"][1:] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowartifactgctasks"], "verbs": ["list", "watch"]},
        {"apiGroups": ["argoproj.io"], "resources": ["workflowartifactgctasks/status"], "verbs": ["patch"]},
    ]
    for variant in VARIANTS.values():
        for doc in docs_of(manifests.render_manifests(variant)):
            for rule in doc.get("rules", []):
                assert "*" not in rule["verbs"] and "*" not in rule["resources"]


# -- the artifact repository ----------------------------------------------------------


def test_configmap_is_argos_default_repository_with_secret_references() -> None:
    cm = by_kind(docs_of(manifests.render_manifests(VARIANTS["s3-compatible"])))["ConfigMap"]
    assert cm["metadata"]["name"] == "artifact-repositories"
    assert cm["metadata"]["annotations"] == {"workflows.argoproj.io/default-artifact-repository": "default-v1"}
    assert list(cm["data"]) == ["default-v1"]
    entry = repository_entry(cm)
    assert entry == {
        "archiveLogs": True,
        "s3": {
            "bucket": "logs",
            "endpoint": "storage.example.com:9443",
            "insecure": False,
            "accessKeySecret": {"name": "store-cred", "key": "accesskey"},
            "secretKeySecret": {"name": "store-cred", "key": "secretkey"},
        },
    }
    repo = argo_strict(entry)
    assert repo.s3 is not None and repo.s3.access_key_secret is not None and repo.s3.access_key_secret.name == "store-cred"


def test_repository_defaults_per_kind() -> None:
    aws = repository_entry(by_kind(docs_of(manifests.render_manifests(VARIANTS["aws"])))["ConfigMap"])
    assert aws["s3"] == {"bucket": "team-logs", "endpoint": "s3.amazonaws.com", "insecure": False, "useSDKCreds": True}
    keys = repository_entry(by_kind(docs_of(manifests.render_manifests(VARIANTS["aws-keys"])))["ConfigMap"])
    assert keys["s3"]["region"] == "eu-west-1" and keys["s3"]["secretKeySecret"] == {"name": "s3-keys", "key": "key"}
    minio = repository_entry(by_kind(docs_of(manifests.render_manifests(VARIANTS["minio-dev"])))["ConfigMap"])
    assert minio["s3"]["endpoint"] == "mrargo-minio.jobs.svc:9000" and minio["s3"]["insecure"] is True
    assert minio["s3"]["accessKeySecret"] == {"name": "mrargo-minio-cred", "key": "accesskey"}
    gcs = repository_entry(by_kind(docs_of(manifests.render_manifests(VARIANTS["gcs-key"])))["ConfigMap"])
    assert gcs == {
        "archiveLogs": True,
        "gcs": {"bucket": "my_logs", "serviceAccountKeySecret": {"name": "gcs-key", "key": "serviceAccountKey"}},
    }
    identity = repository_entry(by_kind(docs_of(manifests.render_manifests(VARIANTS["gcs-identity"])))["ConfigMap"])
    assert identity == {"archiveLogs": True, "gcs": {"bucket": "my-logs"}}
    named = by_kind(docs_of(manifests.render_manifests(VARIANTS["minio-external"])))["ConfigMap"]
    assert named["metadata"]["name"] == "mrargo-repos"


# -- MinIO for development ----------------------------------------------------------------


def test_minio_takes_credentials_only_from_the_users_secret() -> None:
    text = manifests.render_manifests(VARIANTS["minio-dev"])
    kinds = by_kind(docs_of(text))
    assert "Secret" not in kinds and "password" not in text.lower().replace("minio_root_password", "")
    deployment = k8s_strict(kinds["Deployment"])
    container = deployment.spec.template.spec.containers[0]
    env = {e.name: e for e in container.env}
    for name, key in (("MINIO_ROOT_USER", "accesskey"), ("MINIO_ROOT_PASSWORD", "secretkey")):
        assert env[name].value is None
        assert (env[name].value_from.secret_key_ref.name, env[name].value_from.secret_key_ref.key) == ("mrargo-minio-cred", key)
    assert deployment.spec.template.spec.security_context.run_as_non_root is True
    assert kinds["Service"]["spec"]["selector"] == kinds["Deployment"]["spec"]["selector"]["matchLabels"]
    job = kinds["Job"]["spec"]["template"]["spec"]["containers"][0]
    job_env = {e["name"]: e for e in job["env"]}
    assert job_env["BUCKET"]["value"] == "mrargo" and "valueFrom" in job_env["SECRET_KEY"]
    assert "$BUCKET" in job["args"][0] and "mrargo" not in job["args"][0]  # data reaches the script as env, not text
    assert "DEVELOPMENT ONLY" in text


def test_header_says_how_to_compile_against_these_objects() -> None:
    text = manifests.render_manifests(VARIANTS["minio-dev"])
    head = [line for line in text.splitlines() if line.startswith("#")][:5]
    assert "--namespace jobs --service-account runner" in head[1]
    assert "--s3-secret mrargo-minio-cred" in head[2] and "--s3-endpoint http://mrargo-minio.jobs.svc:9000" in head[3]
    assert head[4].startswith("# The Secret is yours to create, e.g.: kubectl create secret generic mrargo-minio-cred -n jobs")


# -- user strings ----------------------------------------------------------------------------


HOSTILE = [
    ("--namespace", 'argo"\nkind: Evil'),
    ("--bucket", "b\n---\nkind: Secret"),
    ("--bucket", "UPPER"),
    ("--endpoint", "http://minio:9000/path?x=1"),
    ("--endpoint", "http://mi nio:9000"),
    ("--secret", "cred\n  key: x"),
    ("--service-account", "Runner"),
    ("--configmap", "a b"),
    ("--key", "default v1"),
    ("--region", "eu west"),
]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser("manifests").parse_args(["manifests", *argv])


def from_args(args: argparse.Namespace) -> str:
    return manifests.render_manifests(manifest_options(args))


@pytest.mark.parametrize(("flag", "value"), HOSTILE)
def test_hostile_strings_are_refused_with_a_one_line_error(flag: str, value: str) -> None:
    with pytest.raises(UsageError) as e:
        from_args(parse("--bucket", "logs", flag, value))
    message = str(e.value)
    assert flag in message and "\n" not in message.replace(repr(value), "")


def test_a_value_that_slips_past_the_checks_still_cannot_inject() -> None:
    """The yaml filter alone keeps a hostile value one scalar: no new key, no new document."""
    evil = "x\"\n---\napiVersion: v1\nkind: Secret\n# {{ a }} $(HOME) '\\"
    opts = replace(manifests.checked_options(VARIANTS["minio-dev"]), bucket=evil, secret=evil, namespace=evil)
    text = manifests._render(opts)
    assert all(line.startswith("#") for line in text.split("\n---\n")[0].splitlines())  # the header stays comments
    docs = docs_of(text)
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service", "Job"]
    assert all(d["metadata"]["namespace"] == evil for d in docs)
    kinds = by_kind(docs)
    assert repository_entry(kinds["ConfigMap"])["s3"]["bucket"] == evil
    job_env = {e["name"]: e for e in kinds["Job"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert job_env["BUCKET"]["value"] == evil and job_env["ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == evil


def test_missing_or_conflicting_choices_name_the_fix() -> None:
    with pytest.raises(UsageError, match="needs --bucket"):
        from_args(parse())
    with pytest.raises(UsageError, match="--with-minio deploys MinIO"):
        from_args(parse("--with-minio", "--artifact-repository", "gcs", "--bucket", "b-1"))
    with pytest.raises(UsageError, match="needs --endpoint"):
        from_args(parse("--artifact-repository", "minio"))
    with pytest.raises(UsageError, match="not gcs"):
        from_args(parse("--artifact-repository", "gcs", "--bucket", "b-1", "--endpoint", "http://x:1"))
    with pytest.raises(SystemExit):
        parse("--secret-keys", "only-one")


def test_cli_arguments_reach_the_objects_and_output_is_stable() -> None:
    args = parse("--with-minio", "--namespace", "dev", "--secret", "my-cred", "--secret-keys", "user,pass", "--bucket", "data-1")
    text = from_args(args)
    assert text == from_args(args)
    kinds = by_kind(docs_of(text))
    entry = repository_entry(kinds["ConfigMap"])
    assert entry["s3"]["bucket"] == "data-1" and entry["s3"]["secretKeySecret"] == {"name": "my-cred", "key": "pass"}
    env = {e["name"]: e for e in kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MINIO_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "my-cred", "key": "pass"}
