"""Object storage (S3 and compatible) for LanceDB: the ``storage_options`` from the standard AWS variables and
``--storage-option KEY=VALUE``, and one message per kind of failure, naming what to fix, with no credential in it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

# The standard AWS variables, as LanceDB's (object_store's) option names.
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_ENDPOINT_URL": "aws_endpoint",
    "AWS_ALLOW_HTTP": "allow_http",
}
SECRET_OPTIONS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
# A daemon reading a shared index must not hang on a storage that went away: object_store's defaults retry a
# failed request for minutes. These bound one query to a few seconds (a setting of the same name wins).
READER_DEFAULTS = {"connect_timeout": "2s", "timeout": "10s", "client_max_retries": "1", "client_retry_timeout": "3",
                   "download_retry_count": "1"}


class ObjectStoreError(Exception):
    """Object storage cannot be used; the message is for the user, names what to fix, and holds no credential."""


def is_object_uri(uri: str) -> bool:
    return "://" in uri and urlsplit(uri).scheme in ("s3", "s3a", "gs", "az", "abfs")


def storage_options(extra: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """LanceDB ``storage_options``: the AWS variables that are set, then ``KEY=VALUE`` items over them."""
    env = os.environ if environ is None else environ
    options: dict[str, str] = {}
    for variable, name in ENVIRONMENT.items():
        if env.get(variable) and name not in options:
            options[name] = env[variable]
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ObjectStoreError(f"--storage-option {item.split('=')[0]!r} needs the form KEY=VALUE")
        options[key.strip()] = value
    if "aws_region" not in options and options.get("aws_endpoint"):
        options["aws_region"] = "us-east-1"  # an S3-compatible server ignores it, but the client wants one
    return options


def reader_options(options: Mapping[str, str]) -> dict[str, str]:
    """``options`` with :data:`READER_DEFAULTS` under them (for the daemon's reads, never a build's writes)."""
    return {**READER_DEFAULTS, **options}


def settings_options(items: Mapping[str, object], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The storage options of an editor setting (a mapping) over the AWS variables; a credential there is refused:
    credentials come from the environment only, so that no settings file or log holds one."""
    refused = sorted(str(k) for k in items if str(k).lower() in SECRET_OPTIONS)
    if refused:
        raise ObjectStoreError(f"sharedIndexOptions may not hold credentials ({', '.join(refused)}): set "
                               "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the daemon's environment instead")
    text = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in items.items()}
    return storage_options([f"{k}={v}" for k, v in text.items()], environ)


def scrub(text: str, options: Mapping[str, str]) -> str:
    """``text`` with every credential value replaced (object_store's errors may quote a request)."""
    for name in SECRET_OPTIONS:
        value = options.get(name)
        if value:
            text = text.replace(value, "***")
    return re.sub(r"(Credential=)[^/,\s]+", r"\1***", text)


def bucket_of(uri: str) -> str:
    return urlsplit(uri).netloc


def endpoint_of(options: Mapping[str, str]) -> str:
    return options.get("aws_endpoint") or options.get("endpoint") or "AWS"


def explain(uri: str, options: Mapping[str, str], exc: BaseException) -> ObjectStoreError:
    """One message for a failure talking to object storage."""
    said = scrub(str(exc), options)
    where = f"{uri} (endpoint {endpoint_of(options)})"
    if "NoSuchBucket" in said or "bucket does not exist" in said.lower():
        return ObjectStoreError(f"the bucket {bucket_of(uri)!r} does not exist at {endpoint_of(options)}: create it, "
                                "or fix the URI")
    if any(word in said for word in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "status: 403",
                                     "Forbidden", "Unauthorized", "status: 401")):
        return ObjectStoreError(f"object storage refused the credentials for {where}: check AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)")
    if any(word in said.lower() for word in ("connection refused", "error sending request", "dns error",
                                             "tcp connect", "timed out", "connection reset")):
        return ObjectStoreError(f"object storage is unreachable at {where}: is the server up, and the endpoint right "
                                "(AWS_ENDPOINT_URL)?")
    return ObjectStoreError(f"object storage failed for {where}: {said[:400]}")
