"""The lake on MinIO (or any S3 endpoint) through the `minio` SDK; the bucket is created on first use."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import S3Error

from llf.exceptions import ConfigurationError
from llf.services.lake.base import (
    CHUNK_BYTES,
    LakeData,
    LakeWriteError,
    byte_chunks,
    clean_key,
    clean_prefix,
    key_under,
)
from llf.settings import (
    LAKE_KEY_SECONDS,
    MINIO_ACCESS_KEY,
    MINIO_ENDPOINT,
    MINIO_REGION,
    MINIO_SECRET_KEY,
    MINIO_SECURE,
    MINIO_SESSION_TOKEN,
    Setting,
)

# The settings holding the (access, secret) key pair a lake is opened with: llf's own by default; the
# control-plane UI opens it with its read-only pair (llf.ui.readers).
MinioKeys = tuple[Setting[str], Setting[str]]
DEFAULT_KEYS: MinioKeys = (MINIO_ACCESS_KEY, MINIO_SECRET_KEY)

PRESIGNED_TTL = timedelta(hours=12)
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"}
_CREDENTIAL_ERRORS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken"}
# Larger objects go up as a multipart upload of parts this size, one part in memory at a time.
PART_BYTES = CHUNK_BYTES


def minio_endpoint(url: str) -> tuple[str, bool]:
    """(host:port, HTTPS?) of LLF_MINIO_ENDPOINT, the endpoint of the lake at `url`; `http(s)://` taken too."""
    endpoint = MINIO_ENDPOINT.read()
    if not endpoint:
        raise ConfigurationError(f"LLF_LAKE_URL={url!r} needs {MINIO_ENDPOINT.name} (host:port of MinIO).")
    secure = MINIO_SECURE.value()
    if "://" in endpoint:
        scheme, endpoint = endpoint.split("://", 1)
        secure = scheme == "https"
    return endpoint.rstrip("/"), secure


class _SourceFailed(Exception):
    """Reading the data being written failed (its cause): not to be taken for a network error."""


class _ChunkReader:
    """The file-like `read(size)` the minio SDK reads a stream of unknown length through, over byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                chunk = next(self._chunks, None)
            except Exception as error:
                raise _SourceFailed() from error
            if chunk is None:
                break
            self._buffer += chunk
        taken = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:taken])
        del self._buffer[:taken]
        return data


def _response_pieces(response: urllib3.BaseHTTPResponse, size: int) -> Iterator[bytes]:
    """The body of an open S3 GET as it arrives; the connection goes back to the pool however reading ends."""
    try:
        yield from response.stream(size)
    finally:
        response.close()
        response.release_conn()


@dataclass
class MinioLake:
    """Objects live in `bucket` under `prefix`; keys given to the methods are relative to the prefix."""

    client: Minio
    endpoint: str
    bucket: str
    prefix: str = ""
    keys: MinioKeys = DEFAULT_KEYS  # named in the message when MinIO refuses them
    temporary: bool = False  # a stream's key minted by the runner (LLF_MINIO_SESSION_TOKEN)
    _bucket_ready: bool = field(default=False, init=False)

    @classmethod
    def from_url(cls, url: str, keys: MinioKeys = DEFAULT_KEYS) -> MinioLake:
        """Open `s3://bucket/prefix` with the endpoint of LLF_MINIO_ENDPOINT and the key pair of the settings
        `keys` (LLF_MINIO_ACCESS_KEY / LLF_MINIO_SECRET_KEY unless told).

        llf's own pair comes with LLF_MINIO_SESSION_TOKEN when it is temporary: in a notebook kernel, the key
        the runner minted for the stream (llf.services.lake.stream_keys), for a bucket the runner already made.
        """
        parts = urlsplit(url)
        if not parts.netloc:
            raise ConfigurationError(f"LLF_LAKE_URL={url!r} names no bucket: use s3://bucket/prefix.")
        endpoint, secure = minio_endpoint(url)
        token = MINIO_SESSION_TOKEN.read() if keys == DEFAULT_KEYS else None
        client = Minio(
            endpoint,
            access_key=keys[0].read(),
            secret_key=keys[1].read(),
            session_token=token or None,
            secure=secure,
            region=MINIO_REGION.value(),
        )
        lake = cls(client, endpoint, parts.netloc, parts.path.strip("/"), keys, temporary=bool(token))
        lake._bucket_ready = lake.temporary  # a stream's key may not look at the bucket itself, only at its part
        return lake

    def _object(self, path: str) -> str:
        key = clean_key(path)
        return f"{self.prefix}/{key}" if self.prefix else key

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing: llf's key may, a stream's key may not (and need not, see from_url)."""
        if self._bucket_ready:
            return
        with self._errors("create the bucket"):
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        self._bucket_ready = True

    def put(self, path: str, data: LakeData) -> str:
        """Write all of `data` or nothing: S3 shows an object only once its upload completed.

        Small data is one PUT; larger data a multipart upload, which the minio SDK aborts when anything
        fails (the network, or the data source breaking midway), so no object and no parts are left and an
        object already at `path` keeps its old content.
        """
        name = self._object(path)
        location = self.location(path)
        reader = _ChunkReader(byte_chunks(data))  # an unsupported type fails here, before any request
        self.ensure_bucket()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            with self._errors(f"write {name}"):
                # minio types `data` as BinaryIO; it only calls read(size), which _ChunkReader has.
                self.client.put_object(self.bucket, name, reader, -1, content_type,  # type: ignore[arg-type]
                                       part_size=PART_BYTES,
                                       num_parallel_uploads=1)  # parts in order: one in memory at a time
        except (_SourceFailed, S3Error) as error:
            cause = error.__cause__ if isinstance(error, _SourceFailed) else error
            raise LakeWriteError(
                f"Writing {clean_key(path)!r} to the lake ({location}) failed; nothing was stored: "
                f"{type(cause).__name__}: {cause}"
            ) from cause
        return location

    def get(self, path: str) -> bytes:
        name = self._object(path)
        if not self.exists(path):
            raise FileNotFoundError(f"No object {name!r} in the lake s3://{self.bucket}.")
        with self._errors(f"read {name}"):
            response = self.client.get_object(self.bucket, name)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def stream(self, path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        name = self._object(path)
        try:
            with self._errors(f"read {name}"):
                response = self.client.get_object(self.bucket, name)
        except S3Error as error:
            if error.code in _MISSING:
                raise FileNotFoundError(f"No object {name!r} in the lake s3://{self.bucket}.") from error
            raise
        return _response_pieces(response, size)

    def list(self, prefix: str = "") -> list[str]:
        self.ensure_bucket()
        base = f"{self.prefix}/" if self.prefix else ""
        with self._errors("list objects"):
            wanted = base + clean_prefix(prefix)
            objects = self.client.list_objects(self.bucket, prefix=wanted, recursive=True)
            return sorted(item.object_name[len(base) :] for item in objects)

    def exists(self, path: str) -> bool:
        name = self._object(path)
        try:
            with self._errors(f"look up {name}"):
                self.client.stat_object(self.bucket, name)
        except S3Error as error:
            if error.code in _MISSING:
                return False
            raise
        return True

    def url(self, path: str) -> str:
        return self.client.presigned_get_object(self.bucket, self._object(path), expires=PRESIGNED_TTL)

    def location(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._object(path)}" + ("/" if path.endswith("/") else "")

    def key_of(self, location: str) -> str | None:
        return key_under(f"s3://{self.bucket}/" + (f"{self.prefix}/" if self.prefix else ""), location)

    def stored_key(self, path: str) -> str:
        return clean_key(path)  # object stores have no links: the key read is the key asked for

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn S3 and connection errors into errors that name the setting to fix."""
        try:
            yield
        except S3Error as error:
            if error.code in _CREDENTIAL_ERRORS and self.temporary:
                raise PermissionError(
                    f"MinIO refused this notebook's key to {action} in bucket {self.bucket!r} ({error.code}): the "
                    f"key the runner hands a notebook reaches only its own stream's part of the lake, and lasts "
                    f"{LAKE_KEY_SECONDS.name} seconds."
                ) from error
            if error.code in _CREDENTIAL_ERRORS:
                raise ConfigurationError(
                    f"MinIO refused the credentials to {action} in bucket {self.bucket!r} ({error.code}): "
                    f"check {self.keys[0].name} and {self.keys[1].name}."
                ) from error
            raise
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ConfigurationError(
                f"Cannot reach MinIO at {self.endpoint} ({MINIO_ENDPOINT.name}) to {action}: {error}"
            ) from error
