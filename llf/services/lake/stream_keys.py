"""A notebook's own key to the lake: temporary MinIO credentials that reach its stream's part and nothing else.

The kernel is a tenant (docs, Security): whatever code it runs, it must not read or overwrite another stream's
objects or the run outputs. The folder lake enforces that through the kernel's OS user; MinIO enforces it through
a key whose policy names the stream's prefix. Rather than a MinIO user per stream (admin rights for llf, users to
create and drop as streams come and go), the runner asks MinIO's STS (AssumeRole, signed with llf's key) for a
temporary key restricted by a session policy to `streams/<stream>/`: MinIO grants the intersection of llf's own
policy and the session policy, the key expires on its own, and nothing is left to clean up. The kernel gets it as
LLF_MINIO_ACCESS_KEY / LLF_MINIO_SECRET_KEY / LLF_MINIO_SESSION_TOKEN, in place of llf's pair.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from minio.credentials import AssumeRoleProvider

from llf.exceptions import ConfigurationError
from llf.services.lake.s3 import minio_endpoint
from llf.services.lake.streams import stream_prefix
from llf.settings import MINIO_ACCESS_KEY, MINIO_REGION, MINIO_SECRET_KEY, MINIO_SESSION_TOKEN

# Every object call nb.lake() makes (get, stat, put, multipart put; the lake never deletes) and none on the
# bucket itself but listing its own keys; MinIO's STS takes a session policy of at most 2048 characters.
_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
MAX_POLICY_CHARS = 2048


def stream_policy(lake_url: str, strem_nm: str | None) -> str:
    """The session policy of stream `strem_nm`'s key: its objects under <lake prefix>/streams/<stream>/, and
    listing with a prefix inside it."""
    parts = urlsplit(lake_url)
    base = parts.path.strip("/")
    prefix = (f"{base}/" if base else "") + stream_prefix(strem_nm)
    bucket = f"arn:aws:s3:::{parts.netloc}"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": list(_OBJECT_ACTIONS), "Resource": [f"{bucket}/{prefix}*"]},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket],
             "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}},
        ],
    }, separators=(",", ":"))


def stream_key_env(lake_url: str, strem_nm: str | None, seconds: int) -> dict[str, str]:
    """The kernel's lake variables: a key for stream `strem_nm`'s part of the lake at `lake_url`, lasting
    `seconds`; ConfigurationError with a sentence when MinIO will not mint one."""
    policy = stream_policy(lake_url, strem_nm)
    if len(policy) > MAX_POLICY_CHARS:  # a long bucket prefix; the stream name itself is at most 200 characters
        raise ConfigurationError(f"The lake key policy for stream {strem_nm!r} is {len(policy)} characters, "
                                 f"over MinIO's {MAX_POLICY_CHARS}: shorten the prefix of LLF_LAKE_URL.")
    endpoint, secure = minio_endpoint(lake_url)
    provider = AssumeRoleProvider(
        sts_endpoint=f"{'https' if secure else 'http'}://{endpoint}", access_key=MINIO_ACCESS_KEY.read() or "",
        secret_key=MINIO_SECRET_KEY.read() or "", duration_seconds=seconds, policy=policy, region=MINIO_REGION.value())
    try:
        credentials = provider.retrieve()
    except Exception as refused:  # the SDK raises ValueError, urllib3 and XML errors alike
        raise ConfigurationError(
            f"MinIO at {endpoint} would not mint stream {strem_nm or '(none)'}'s lake key (STS AssumeRole with "
            f"{MINIO_ACCESS_KEY.name}): {type(refused).__name__}: {refused}. {MINIO_ACCESS_KEY.name} must be a MinIO "
            f"user allowed the lake's bucket; or set LLF_LAKE_STREAM_KEYS=off to hand notebooks llf's own key, "
            f"which reaches every stream's objects.") from refused
    return {MINIO_ACCESS_KEY.name: credentials.access_key, MINIO_SECRET_KEY.name: credentials.secret_key,
            MINIO_SESSION_TOKEN.name: credentials.session_token or ""}
