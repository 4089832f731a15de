"""S3 on a real socket, for the `minio` SDK: moto's threaded server, behind a gate that speaks MinIO's STS.

MinIO hands out temporary keys through STS AssumeRole (a POST to the S3 endpoint itself, signed with a user's
key) and holds each to its session policy; llf gives every notebook kernel such a key, limited to its stream's
part of the lake (llf.services.lake.stream_keys). moto answers STS but never applies a session policy, so the
gate does what MinIO does for the part of the protocol llf uses: it mints the key, then checks each S3 request
signed with it (the session token, the expiry, the SigV4 signature) and evaluates the policy (Allow/Deny
statements, `*` and `?` in actions and resources, StringEquals/StringLike on `s3:prefix`; any other condition
refuses) before moto serves it. Requests signed with any other key pass straight to moto, as before.
"""

from __future__ import annotations

import fnmatch
import io
import json
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

MIN_SECONDS, MAX_SECONDS = 900, 365 * 24 * 3600  # MinIO's range for DurationSeconds
MAX_POLICY_CHARS = 2048
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class TemporaryKey:
    secret: str
    token: str
    policy: dict[str, Any] | None
    expires: datetime


def _error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status=status, content_type="application/xml")


def _random(length: int, alphabet: str = string.ascii_uppercase + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _matches(patterns: str | list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in ([patterns] if isinstance(patterns, str)
                                                                     else patterns))


def _condition_holds(condition: dict[str, dict[str, str | list[str]]], context: dict[str, str]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            if operator not in ("StringEquals", "StringLike") or key not in context:
                return False  # an operator this stand-in does not model, or no value to test: refused
            wanted = [expected] if isinstance(expected, str) else expected
            if operator == "StringEquals" and context[key] not in wanted:
                return False
            if operator == "StringLike" and not _matches(wanted, context[key]):
                return False
    return True


def permitted(policy: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    """IAM evaluation as MinIO does it for a session policy: an explicit Deny wins, else some Allow must match."""
    statements = policy.get("Statement", [])
    allowed = False
    for statement in [statements] if isinstance(statements, dict) else statements:
        if not (_matches(statement.get("Action", []), action) and _matches(statement.get("Resource", []), resource)
                and _condition_holds(statement.get("Condition", {}), context)):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def s3_action(method: str, path: str, query: dict[str, list[str]]) -> tuple[str, str, dict[str, str]]:
    """(action, resource ARN, condition context) of a path-style S3 request, as MinIO names them."""
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket:
        return "s3:ListAllMyBuckets", "*", {}
    if not key:
        bucket_actions = {"HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket",
                          "POST": "s3:DeleteObject"}
        if method == "GET" and "location" in query:
            return "s3:GetBucketLocation", f"arn:aws:s3:::{bucket}", {}
        if method == "GET" and "uploads" in query:
            return "s3:ListBucketMultipartUploads", f"arn:aws:s3:::{bucket}", {}
        action = bucket_actions.get(method, "s3:ListBucket")
        if action == "s3:DeleteObject":  # a multi-object delete: judged as deleting anything in the bucket
            return action, f"arn:aws:s3:::{bucket}/*", {}
        context = {"s3:prefix": query.get("prefix", [""])[0]} if method == "GET" else {}
        return action, f"arn:aws:s3:::{bucket}", context
    if method == "DELETE":
        action = "s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"
    elif method in ("GET", "HEAD"):
        action = "s3:ListMultipartUploadParts" if "uploadId" in query else "s3:GetObject"
    else:
        action = "s3:PutObject"  # PUT, and the POSTs that start and complete a multipart upload
    return action, f"arn:aws:s3:::{bucket}/{key}", {}


class MinioGate:
    """The WSGI gate in front of moto: STS AssumeRole answered here, temporary keys held to their policy."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.keys: dict[str, TemporaryKey] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data(cache=True)
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        form = parse_qs(body.decode("utf-8", "replace")) if request.method == "POST" and request.path == "/" else {}
        if form.get("Action") == ["AssumeRole"]:
            return self._assume_role(form)(environ, start_response)
        refusal = self._refusal(request, body)
        if refusal is not None:
            return refusal(environ, start_response)
        return self.app(environ, start_response)

    def _assume_role(self, form: dict[str, list[str]]) -> Response:
        if form.get("Version") != ["2011-06-15"]:
            return _error(400, "InvalidParameterValue", "Version must be 2011-06-15")
        seconds = int(form.get("DurationSeconds", ["3600"])[0])
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            return _error(400, "InvalidParameterValue", f"DurationSeconds must be {MIN_SECONDS}..{MAX_SECONDS}")
        text = form.get("Policy", [""])[0]
        try:
            policy = json.loads(text) if text else None
        except json.JSONDecodeError:
            return _error(400, "MalformedPolicyDocument", "the session policy is not JSON")
        if len(text) > MAX_POLICY_CHARS or (policy is not None and not policy.get("Version")):
            return _error(400, "InvalidParameterValue", "the session policy is too long or has no Version")
        access = _random(20)
        key = TemporaryKey(_random(40, string.ascii_letters + string.digits), secrets.token_urlsafe(48), policy,
                           datetime.now(UTC) + timedelta(seconds=seconds))
        with self._lock:
            self.keys[access] = key
        expires = key.expires.strftime("%Y-%m-%dT%H:%M:%SZ")
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>'
            f"<Credentials><AccessKeyId>{access}</AccessKeyId><SecretAccessKey>{key.secret}</SecretAccessKey>"
            f"<Expiration>{expires}</Expiration><SessionToken>{key.token}</SessionToken></Credentials>"
            "</AssumeRoleResult></AssumeRoleResponse>", content_type="application/xml")

    def _refusal(self, request: Request, body: bytes) -> Response | None:
        authorization = request.headers.get("Authorization", "")
        presigned = "X-Amz-Credential" in request.args
        credential = (request.args["X-Amz-Credential"] if presigned
                      else authorization.partition("Credential=")[2].partition(",")[0])
        key = self.keys.get(credential.partition("/")[0])
        if key is None:
            return None  # not a key minted here: moto's behaviour, unchanged
        token = request.args.get("X-Amz-Security-Token") if presigned else request.headers.get("X-Amz-Security-Token")
        if token != key.token:
            return _error(403, "InvalidTokenId", "The security token included in the request is invalid.")
        if datetime.now(UTC) >= key.expires:
            return _error(400, "ExpiredToken", "The provided token has expired.")
        if not presigned and not _signature_holds(request, body, credential, key):
            return _error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match.")
        action, resource, context = s3_action(request.method, request.path, parse_qs(request.query_string.decode(),
                                                                                     keep_blank_values=True))
        if key.policy is not None and not permitted(key.policy, action, resource, context):
            return _error(403, "AccessDenied", "Access Denied.")
        return None


def _signature_holds(request: Request, body: bytes, credential: str, key: TemporaryKey) -> bool:
    """Recompute the SigV4 signature of a header-signed request with the temporary key's secret (botocore)."""
    authorization = request.headers["Authorization"]
    signed = authorization.partition("SignedHeaders=")[2].partition(",")[0].split(";")
    headers = {name: value for name, value in request.headers.items() if name.lower() in signed}
    url = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    aws = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws.context["timestamp"] = headers.get("X-Amz-Date", request.headers.get("X-Amz-Date", ""))
    access, _, scope = credential.partition("/")
    region = scope.split("/")[1] if scope.count("/") >= 3 else "us-east-1"
    auth = S3SigV4Auth(Credentials(access, key.secret, key.token), "s3", region)
    expected = auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws)
    return secrets.compare_digest(expected, authorization.partition("Signature=")[2].strip())


class GatedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with MinioGate in front of moto's application."""

    gate: MinioGate

    def _server_entry(self) -> None:
        self.gate = MinioGate(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, self.gate, True,
                                   request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def s3_server() -> Iterator[str]:
    """Run the gated S3 on 127.0.0.1 with an ephemeral port; yield its `host:port`."""
    server = GatedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"{host}:{port}"
    finally:
        server.stop()
