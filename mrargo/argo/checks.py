"""Checks on the strings that enter an Argo spec or a run, each defined once.

Argo substitutes ``{{...}}`` in every template field and has no escape for
it; Kubernetes expands ``$(VAR)`` in a container's command, args and env
values.  A compile-time string is therefore either proven inert here or
refused with an error that names the option and the fix.  Run-time strings
(inputs, output, params given with ``argo submit -p``) never reach those
fields at all: the worker reads them from files (see argo/spec.py), and
refuses Argo syntax that survived into one with the same check.

No hera here: the worker imports this module.
"""

from __future__ import annotations

import re
import shlex

from mrargo.errors import MrargoError, UsageError

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
ARGO_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$")  # parameter and artifact names
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
CRON_FIELD = re.compile(r"^[-0-9A-Za-z*/,?LW#]+$")
IMAGE = re.compile(r"^[a-z0-9][-a-z0-9._/:@]*$", re.IGNORECASE)


def check_inert(what: str, value: str, *, in_env: bool = False, lines: bool = False, error: type[MrargoError] = UsageError) -> str:
    """Refuse Argo template syntax anywhere, $(VAR) in env values, and control characters.

    ``lines`` allows newlines (a list of input URLs is one per line).
    ``error`` is the error to raise: a bad option by default, a bad run
    value (PlanError) where a pod reads one.
    """
    if "{{" in value:
        raise error(f"{what} {value!r} contains '{{{{': Argo would substitute it and has no escape; remove it")
    if in_env and "$(" in value:
        raise error(f"{what} {value!r} contains '$(': Kubernetes would expand it in an environment value; remove it")
    if any((ord(c) < 32 and not (lines and c == "\n")) or ord(c) == 127 for c in value):
        raise error(f"{what} {value!r} contains control characters; remove them")
    return value


def dns_label(what: str, value: str, limit: int = 63) -> str:
    if len(value) > limit or not DNS_LABEL.match(value):
        raise UsageError(
            f"{what} {value!r} is not a valid Kubernetes name: use at most {limit} lowercase letters, digits and '-', "
            "starting and ending with a letter or digit (DNS-1123)"
        )
    return value


def dns_subdomain(what: str, value: str) -> str:
    if len(value) > 253 or not DNS_SUBDOMAIN.match(value):
        raise UsageError(
            f"{what} {value!r} is not a valid Kubernetes name: use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (DNS-1123 subdomain)"
        )
    return value


def config_key(what: str, value: str) -> str:
    if not CONFIG_KEY.match(value) or len(value) > 253:
        raise UsageError(f"{what} {value!r} is not a valid ConfigMap/Secret key: use letters, digits, '-', '_' and '.'")
    return value


def param_name(name: str) -> str:
    """A job param's name as an Argo parameter and artifact name."""
    if not ARGO_NAME.match(name) or len(name) > 50:
        raise UsageError(f"--param name {name!r} cannot be an Argo parameter name: use letters, digits, '-' and '_' (no '.')")
    return name


def quantity(what: str, value: str) -> str:
    if not QUANTITY.match(value):
        raise UsageError(f"{what} {value!r} is not a Kubernetes quantity like 500m, 2, 512Mi or 4Gi")
    return value


def cron_schedule(value: str) -> str:
    fields = value.split()
    named = value.startswith("@") and re.match(r"^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$", value)
    if not named and (len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields)):
        raise UsageError(f"--schedule {value!r} is not a cron schedule like '0 3 * * *' (five fields) or '@daily'")
    return check_inert("--schedule", value)


def image(value: str) -> str:
    if not IMAGE.match(value) or len(value) > 512:
        raise UsageError(f"--image {value!r} is not an image reference like REGISTRY/team/worker:1.0")
    return value


def remote_url(what: str, value: str) -> str:
    """Pods cannot see this machine's files: inputs and outputs must be URLs."""
    check_inert(what, value)
    if "://" not in value or value.startswith("file://"):
        raise UsageError(
            f"{what} {value!r} is a local path, which pods cannot read; pass a URL such as s3://bucket/prefix or gs://bucket/prefix"
        )
    return value


def shell_word(value: str) -> str:
    """Quote one command-line word for the header comment; never lets a newline end the comment."""
    if value.isprintable():
        return shlex.quote(value)
    escaped = value.encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return f"$'{escaped}'"
