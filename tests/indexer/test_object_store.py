"""Object storage options and messages: the AWS variables and --storage-option, and no credential in a message."""

from __future__ import annotations

import pytest

from indexer.object_store import ObjectStoreError, explain, is_object_uri, scrub, storage_options

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "AWS_REGION": "eu-west-1",
       "AWS_ENDPOINT_URL": "http://127.0.0.1:8333"}


def test_the_aws_variables_then_the_options_given() -> None:
    options = storage_options(["allow_http=true", "aws_region=us-east-2"], ENV)
    assert options == {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG",
                       "aws_region": "us-east-2", "aws_endpoint": "http://127.0.0.1:8333", "allow_http": "true"}
    assert storage_options([], {"AWS_ENDPOINT_URL": "http://x"})["aws_region"] == "us-east-1"
    with pytest.raises(ObjectStoreError, match="KEY=VALUE"):
        storage_options(["allow_http"], {})
    assert is_object_uri("s3://b/p") and not is_object_uri("/tmp/index") and not is_object_uri("file:///tmp/x")


@pytest.mark.parametrize(("raw", "said"), [
    ("Generic S3 error: NoSuchBucket The specified bucket does not exist", "bucket 'team' does not exist"),
    ("status: 403 Forbidden SignatureDoesNotMatch Credential=AKIDEXAMPLE/20261204", "refused the credentials"),
    ("error sending request for url (http://127.0.0.1:8333/team): Connection refused", "unreachable"),
    ("something else with wJalrXUtnFEMI/K7MDENG in it", "failed for s3://team/x"),
])
def test_each_failure_is_one_message_without_a_credential(raw: str, said: str) -> None:
    options = storage_options([], ENV)
    message = str(explain("s3://team/x", options, RuntimeError(raw)))
    assert said in message
    assert "AKIDEXAMPLE" not in message and "wJalrXUtnFEMI" not in message
    assert scrub("Credential=AKIDEXAMPLE/2026 and wJalrXUtnFEMI/K7MDENG", options) == "Credential=***/2026 and ***"


def test_a_settings_object_holds_options_but_never_a_credential() -> None:
    from indexer.object_store import reader_options, settings_options

    options = settings_options({"allow_http": True}, {"AWS_ENDPOINT_URL": "http://127.0.0.1:8333"})
    assert options["allow_http"] == "true" and options["aws_endpoint"] == "http://127.0.0.1:8333"
    with pytest.raises(ObjectStoreError, match="AWS_SECRET_ACCESS_KEY") as refused:
        settings_options({"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG"}, {})
    assert "wJalrXUtnFEMI" not in str(refused.value)
    bounded = reader_options({"timeout": "60s"})  # a daemon's reads are bounded; the user's own value wins
    assert bounded["timeout"] == "60s" and bounded["client_max_retries"] == "1"
    assert storage_options([], {"AWS_ALLOW_HTTP": "true"})["allow_http"] == "true"
