"""A notebook's lake key reaches its own stream's part of an s3:// lake and nothing else (issue 26, exploit 3):
the key the runner mints through MinIO's STS (AssumeRole with a session policy) is refused by the server, not
by the SDK's view, when a notebook writes, reads or lists under another stream's prefix or the run outputs.

The server is the S3 stand-in on a real socket (moto behind a gate that mints and enforces the keys as MinIO
does); the clients are the real `minio` SDK, used raw where the test plays hostile notebook code."""

from __future__ import annotations

import json
from itertools import count

import pytest
from minio import Minio
from minio.error import S3Error

from llf.exceptions import ConfigurationError
from llf.services.lake import open_lake
from llf.services.lake.s3 import MinioLake
from llf.services.lake.stream_keys import MAX_POLICY_CHARS, stream_key_env, stream_policy
from llf.services.lake.streams import StreamLake

_buckets = count()
HOUR = 3600


@pytest.fixture
def lake_url(minio_env: str) -> str:
    """A fresh bucket, made by llf's key with another stream's object and a run output already in it."""
    url = f"s3://keys-{next(_buckets)}/lake"
    platform = open_lake(url)
    platform.put("streams/b/secret.csv", "b's data")
    platform.put("runs/b/2024-03-01/report.ipynb", "{}")
    return url


def _kernel_client(minio_env: str, env: dict[str, str]) -> Minio:
    """What hostile notebook code holding the kernel's variables can build: the raw SDK, no llf view."""
    return Minio(minio_env, access_key=env["LLF_MINIO_ACCESS_KEY"], secret_key=env["LLF_MINIO_SECRET_KEY"],
                 session_token=env["LLF_MINIO_SESSION_TOKEN"], secure=False, region="us-east-1")


def _refused(call) -> str:
    with pytest.raises(S3Error) as raised:
        call()
    return raised.value.code


def test_given_stream_a_key_when_the_kernel_uses_nb_lake_then_it_reads_and_writes_its_own_part(
    minio_env: str, lake_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the variables the runner hands stream a's kernel
    env = stream_key_env(lake_url, "a", HOUR)
    assert env["LLF_MINIO_ACCESS_KEY"] != "testing" and env["LLF_MINIO_SESSION_TOKEN"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # when the SDK opens the lake with them, as nb.lake() does
    lake = StreamLake(open_lake(lake_url), "a")
    location = lake.put("out/report.csv", "a,1\n")
    # then its own part works end to end: put, get, list, exists, a presigned link
    assert location.endswith("/lake/streams/a/out/report.csv")
    assert lake.get("out/report.csv") == b"a,1\n"
    assert lake.list() == ["out/report.csv"] and lake.exists("out/report.csv")
    assert isinstance(lake.lake, MinioLake) and lake.lake.temporary


def test_given_stream_a_key_when_hostile_code_reaches_for_stream_b_or_the_run_outputs_then_minio_refuses(
    minio_env: str, lake_url: str
) -> None:
    # given stream a's key, used raw (no StreamLake view between the notebook and the server)
    client = _kernel_client(minio_env, stream_key_env(lake_url, "a", HOUR))
    bucket = lake_url.removeprefix("s3://").split("/")[0]
    # when it writes, reads, overwrites or lists outside lake/streams/a/ then the server refuses each
    assert _refused(lambda: client.get_object(bucket, "lake/streams/b/secret.csv")) == "AccessDenied"
    assert _refused(lambda: client.stat_object(bucket, "lake/runs/b/2024-03-01/report.ipynb")) == "AccessDenied"
    assert _refused(lambda: client.put_object(bucket, "lake/streams/b/secret.csv", _bytes(b"planted"), 7)) \
        == "AccessDenied"
    assert _refused(lambda: client.remove_object(bucket, "lake/streams/b/secret.csv")) == "AccessDenied"
    assert _refused(lambda: list(client.list_objects(bucket, prefix="lake/", recursive=True))) == "AccessDenied"
    assert _refused(lambda: client.make_bucket(f"{bucket}-mine")) == "AccessDenied"
    # and b's object is untouched, as llf's own key sees it
    assert open_lake(lake_url).get("streams/b/secret.csv") == b"b's data"
    # while its own prefix still lists
    client.put_object(bucket, "lake/streams/a/x.txt", _bytes(b"x"), 1)
    assert [o.object_name for o in client.list_objects(bucket, prefix="lake/streams/a/")] == ["lake/streams/a/x.txt"]


def test_given_a_key_when_its_token_or_signature_is_wrong_then_minio_refuses_it(minio_env: str, lake_url: str) -> None:
    env = stream_key_env(lake_url, "a", HOUR)
    bucket = lake_url.removeprefix("s3://").split("/")[0]
    # given the key without its session token, or signed with another secret
    no_token = {**env, "LLF_MINIO_SESSION_TOKEN": "forged"}
    wrong_secret = {**env, "LLF_MINIO_SECRET_KEY": "x" * 40}
    # then neither reads even the stream's own part
    for forged in (no_token, wrong_secret):
        client = _kernel_client(minio_env, forged)
        assert _refused(lambda: client.get_object(bucket, "lake/streams/a/none")) in {  # noqa: B023
            "InvalidTokenId", "SignatureDoesNotMatch"}


def test_given_a_stream_name_the_policy_names_its_prefix_under_the_lake_prefix() -> None:
    policy = json.loads(stream_policy("s3://bucket/some/prefix", "sales"))
    objects, listing = policy["Statement"]
    assert objects["Resource"] == ["arn:aws:s3:::bucket/some/prefix/streams/sales/*"]
    assert "s3:GetObject" in objects["Action"] and "s3:PutObject" in objects["Action"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["some/prefix/streams/sales/*"]}}
    # a process with no stream gets the _no_stream part, as nb.lake() does
    assert "streams/_no_stream/*" in json.dumps(json.loads(stream_policy("s3://bucket", None)))


def test_given_a_lake_prefix_too_long_for_minio_when_minting_then_the_error_names_the_setting(minio_env: str) -> None:
    long_url = "s3://bucket/" + "p" * MAX_POLICY_CHARS
    with pytest.raises(ConfigurationError, match="LLF_LAKE_URL"):
        stream_key_env(long_url, "a", HOUR)


def test_given_minio_unreachable_when_minting_then_the_error_says_what_to_do(
    minio_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLF_MINIO_ENDPOINT", "127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(ConfigurationError) as raised:
        stream_key_env("s3://bucket/lake", "a", HOUR)
    message = str(raised.value)
    assert "LLF_LAKE_STREAM_KEYS=off" in message and "testing-secret" not in message


def _bytes(data: bytes):
    import io

    return io.BytesIO(data)
