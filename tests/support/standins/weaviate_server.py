"""A Weaviate stand-in for the real `weaviate-client` v4: REST (schema, meta, readiness, DB users and RBAC roles)
on a threaded http.server and gRPC (Search, BatchObjects, BatchDelete, Aggregate, health) built on the protobuf
stubs shipped inside the client, both on 127.0.0.1 with ephemeral ports.

In memory and small, but it behaves like the server where llf relies on it: auto-schema fixes a property's
type on first sight and rejects later objects that disagree (per-object batch errors, as Weaviate reports
them), a collection's vectors must share one length, near-vector search ranks by cosine distance, and hybrid
search fuses a BM25 keyword score with the vector score (relative score fusion, weighted by `alpha`).

Authorization is Weaviate's with `AUTHORIZATION_RBAC_ENABLED` and `AUTHENTICATION_DB_USERS_ENABLED`
(tests/support/standins/weaviate_rbac.py): the configured API key is the root user `llf`; DB users get a
generated key once, at creation; a key's roles grant collection and data actions on collections named exactly
or by a prefix ending in `*`; every schema route and every gRPC method refuses what they do not cover (403 on
REST, PERMISSION_DENIED on gRPC), and the schema listing shows only the collections the key may read.
"""

from __future__ import annotations

import json
import math
import re
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

from tests.support.standins.weaviate_rbac import ROOT, Rbac

VERSION = "1.36.2"  # the image docker-compose.yml runs; the client picks its protocol paths by it
_TOKEN = re.compile(r"\w+")
_Filters = base_pb2.Filters


@dataclass
class Stored:
    """One object: its properties and its (single, named) vector."""

    properties: dict[str, Any]
    vector: list[float]


@dataclass
class WeaviateState:
    """Collections (their schema JSON) and objects, shared by the REST and gRPC sides; `rbac` says who may
    touch which (its root key is the configured API key)."""

    api_key: str | None = None
    rbac: Rbac = field(default_factory=Rbac)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Stored]] = field(default_factory=dict)
    grpc_calls: Counter[str] = field(default_factory=Counter)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create(self, schema: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            properties = [_property(prop) for prop in schema.get("properties", [])]
            vectors = {name: _named_vector(config) for name, config in schema.get("vectorConfig", {}).items()}
            schema = {**schema, "properties": properties, **({"vectorConfig": vectors} if vectors else {})}
            self.schemas[schema["class"]] = schema
            self.objects[schema["class"]] = {}
            return schema

    def drop(self, name: str) -> None:
        with self.lock:
            self.schemas.pop(name, None)
            self.objects.pop(name, None)


def _property(prop: dict[str, Any]) -> dict[str, Any]:
    """A property with the index defaults the server fills in (and the client expects to read back)."""
    text = prop["dataType"][0] in ("text", "text[]")
    defaults = {"indexFilterable": True, "indexSearchable": text, "indexRangeFilters": False}
    return {**defaults, **({"tokenization": "word"} if text else {}), **prop}


HNSW_DEFAULTS = {
    "cleanupIntervalSeconds": 300,
    "distance": "cosine",
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "ef": -1,
    "efConstruction": 128,
    "filterStrategy": "sweeping",
    "flatSearchCutoff": 40000,
    "maxConnections": 32,
    "skip": False,
    "vectorCacheMaxObjects": 10**12,
}


def _named_vector(config: dict[str, Any]) -> dict[str, Any]:
    """A named vector with the HNSW index defaults the server fills in (only cosine is served here)."""
    index = {**HNSW_DEFAULTS, **(config.get("vectorIndexConfig") or {})}
    return {**config, "vectorIndexType": "hnsw", "vectorIndexConfig": index}


@dataclass
class WeaviateStandin:
    """What a test needs: the `weaviate://` URL, and the state to inspect."""

    url: str
    state: WeaviateState


# --- values -------------------------------------------------------------------------------------------


def _floats(data: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def _vector_of(message: Any) -> list[float]:
    """A single fp32 vector from whichever field the client used (vectors, vector_bytes, vector)."""
    if len(message.vectors):
        return _floats(message.vectors[0].vector_bytes)
    if message.vector_bytes:
        return _floats(message.vector_bytes)
    return list(message.vector)


def _properties_of(obj: batch_pb2.BatchObject) -> dict[str, Any]:
    properties = json_format.MessageToDict(obj.properties.non_ref_properties)
    for arrays in (
        obj.properties.text_array_properties,
        obj.properties.number_array_properties,
        obj.properties.int_array_properties,
        obj.properties.boolean_array_properties,
    ):
        for array in arrays:
            values = list(array.values) or _floats(getattr(array, "values_bytes", b""))
            properties[array.prop_name] = values
    return properties


def _data_type(value: Any) -> str:
    if isinstance(value, list):
        return _data_type(value[0]) + "[]" if value else "text[]"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"


def _value(value: Any) -> properties_pb2.Value:
    if isinstance(value, bool):
        return properties_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return properties_pb2.Value(number_value=float(value))
    if isinstance(value, list):
        if value and isinstance(value[0], int | float):
            packed = struct.pack(f"<{len(value)}d", *value)
            return properties_pb2.Value(
                list_value=properties_pb2.ListValue(number_values=properties_pb2.NumberValues(values=packed))
            )
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(text_values=properties_pb2.TextValues(values=value))
        )
    return properties_pb2.Value(text_value=str(value))


# --- filters and scores ---------------------------------------------------------------------------------


def _matches(where: _Filters, key: str, stored: Stored) -> bool:
    operator = where.operator
    if operator == _Filters.OPERATOR_AND:
        return all(_matches(inner, key, stored) for inner in where.filters)
    if operator == _Filters.OPERATOR_OR:
        return any(_matches(inner, key, stored) for inner in where.filters)
    if operator == _Filters.OPERATOR_NOT:
        return not _matches(where.filters[0], key, stored)
    name = where.target.property or (where.on[0] if where.on else "")
    actual = key if name == "_id" else stored.properties.get(name)
    kind = where.WhichOneof("test_value")
    expected = getattr(where, kind) if kind else None
    if kind and kind.endswith("_array"):
        expected = list(expected.values)
    comparisons = {
        _Filters.OPERATOR_EQUAL: lambda: actual == expected,
        _Filters.OPERATOR_NOT_EQUAL: lambda: actual != expected,
        _Filters.OPERATOR_GREATER_THAN: lambda: actual is not None and actual > expected,
        _Filters.OPERATOR_GREATER_THAN_EQUAL: lambda: actual is not None and actual >= expected,
        _Filters.OPERATOR_LESS_THAN: lambda: actual is not None and actual < expected,
        _Filters.OPERATOR_LESS_THAN_EQUAL: lambda: actual is not None and actual <= expected,
        _Filters.OPERATOR_CONTAINS_ANY: lambda: bool(set(_listed(actual)) & set(expected)),
        _Filters.OPERATOR_CONTAINS_ALL: lambda: set(expected) <= set(_listed(actual)),
        _Filters.OPERATOR_IS_NULL: lambda: (actual is None) == expected,
    }
    if operator not in comparisons:
        raise ValueError(f"filter operator {_Filters.Operator.Name(operator)} is not in this stand-in")
    return comparisons[operator]()


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _cosine_distance(left: list[float], right: list[float]) -> float:
    norms = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return 1.0 - (sum(a * b for a, b in zip(left, right, strict=True)) / norms if norms else 0.0)


def _bm25(query: str, documents: dict[str, str], k1: float = 1.2, b: float = 0.75) -> dict[str, float]:
    """Okapi BM25 of each document for the query's tokens (Weaviate's keyword half of hybrid search)."""
    tokens = {key: _TOKEN.findall(text.lower()) for key, text in documents.items()}
    average = sum(map(len, tokens.values())) / len(tokens) if tokens else 0.0
    scores = dict.fromkeys(documents, 0.0)
    for term in set(_TOKEN.findall(query.lower())):
        having = sum(term in words for words in tokens.values())
        idf = math.log(1 + (len(tokens) - having + 0.5) / (having + 0.5))
        for key, words in tokens.items():
            frequency = words.count(term)
            if frequency:
                norm = frequency + k1 * (1 - b + b * len(words) / (average or 1))
                scores[key] += idf * frequency * (k1 + 1) / norm
    return scores


def _normalised(scores: dict[str, float]) -> dict[str, float]:
    """Min-max scaling to [0, 1], as Weaviate's relative score fusion does per search."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    return {key: (value - low) / (high - low) if high > low else 1.0 for key, value in scores.items()}


# --- gRPC -----------------------------------------------------------------------------------------------


class _Weaviate(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, state: WeaviateState) -> None:
        self.state = state

    def _authorise(self, method: str, context: grpc.ServicerContext, collections: Iterable[str], *actions: str) -> str:
        """The caller's user, once it may do every one of `actions` on every one of `collections` (else the call is
        aborted: UNAUTHENTICATED for an unknown key, PERMISSION_DENIED for a known one its roles do not cover)."""
        self.state.grpc_calls[method] += 1
        user = self.state.rbac.principal(dict(context.invocation_metadata()).get("authorization"))
        if user is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "unauthorized: invalid api key")
        for collection in collections:
            for action in actions:
                refused = self.state.rbac.refusal(user, action, collection)
                if refused:
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, refused)
        return user

    def _collection(self, name: str, context: grpc.ServicerContext) -> dict[str, Stored]:
        if name not in self.state.objects:
            context.abort(grpc.StatusCode.NOT_FOUND, f'could not find class "{name}" in schema')
        return self.state.objects[name]

    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext):
        collections = sorted({obj.collection for obj in request.objects})  # the whole batch, up front
        user = self._authorise("BatchObjects", context, collections, "create_data", "update_data")
        started, errors = time.perf_counter(), []
        with self.state.lock:
            for index, obj in enumerate(request.objects):
                error = self._import(obj, user)
                if error:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=error))
        return batch_pb2.BatchObjectsReply(took=time.perf_counter() - started, errors=errors)

    def _import(self, obj: batch_pb2.BatchObject, user: str) -> str | None:
        """Store one object, or say why not (the checks Weaviate's auto-schema and vector index make; the
        auto-schema needs the rights to create the class or add properties, as on the server)."""
        if obj.collection not in self.state.schemas:  # auto-schema creates unknown classes
            refused = self.state.rbac.refusal(user, "create_collections", obj.collection)
            if refused:
                return refused
            self.state.create({"class": obj.collection})
        schema, objects = self.state.schemas[obj.collection], self.state.objects[obj.collection]
        properties, vector = _properties_of(obj), _vector_of(obj)
        declared = {prop["name"]: prop["dataType"][0] for prop in schema["properties"]}
        for name, value in properties.items():
            kind = _data_type(value)
            if name in declared and declared[name] != kind:
                return (
                    f"invalid {declared[name]} property '{name}' on class '{obj.collection}': "
                    f"requires a {declared[name]}, the given value is {value!r}"
                )
            if name not in declared:
                refused = self.state.rbac.refusal(user, "update_collections", obj.collection)
                if refused:
                    return refused
                schema["properties"].append(_property({"name": name, "dataType": [kind]}))
                declared[name] = kind
        others = [stored.vector for key, stored in objects.items() if key != obj.uuid]
        if others and len(others[0]) != len(vector):
            return (
                f"insert to vector index: new node has a vector with length {len(vector)}. "
                f"Existing nodes have vectors with length {len(others[0])}"
            )
        objects[obj.uuid] = Stored(properties, vector)
        return None

    def Search(self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext):
        self._authorise("Search", context, [request.collection], "read_data")
        started = time.perf_counter()
        with self.state.lock:
            objects = dict(self._collection(request.collection, context))
        if request.HasField("filters"):
            objects = {key: obj for key, obj in objects.items() if _matches(request.filters, key, obj)}
        if request.HasField("hybrid_search"):
            ranked = self._hybrid(request.hybrid_search, objects, context)
        elif request.HasField("near_vector"):
            ranked = self._near(_vector_of(request.near_vector), objects, context)
        else:
            ranked = [(key, {}) for key in objects]
        limit = request.limit or len(ranked)
        results = [self._result(key, objects[key], scores, request) for key, scores in ranked[:limit]]
        return search_get_pb2.SearchReply(took=time.perf_counter() - started, results=results)

    def _check_length(self, vector: list[float], objects: dict[str, Stored], context) -> None:
        lengths = {len(obj.vector) for obj in objects.values()}
        if lengths and len(vector) not in lengths:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"vector search: knn search: distance between entrypoint and query node: "
                f"vector lengths don't match: {lengths.pop()} vs {len(vector)}",
            )

    def _near(self, vector: list[float], objects: dict[str, Stored], context) -> list[tuple[str, dict]]:
        self._check_length(vector, objects, context)
        distances = {key: _cosine_distance(obj.vector, vector) for key, obj in objects.items()}
        return [(key, {"distance": value}) for key, value in sorted(distances.items(), key=_second)]

    def _hybrid(self, hybrid, objects: dict[str, Stored], context) -> list[tuple[str, dict]]:
        vector = _vector_of(hybrid)
        alpha = hybrid.alpha_param if hybrid.use_alpha_param else hybrid.alpha
        keyword = _bm25(hybrid.query, {key: self._text(obj, hybrid.properties) for key, obj in objects.items()})
        similarity = {}
        if vector:
            self._check_length(vector, objects, context)
            similarity = {key: 1 - _cosine_distance(obj.vector, vector) for key, obj in objects.items()}
        keyword, similarity = _normalised(keyword), _normalised(similarity)
        fused = {key: alpha * similarity.get(key, 0) + (1 - alpha) * keyword.get(key, 0) for key in objects}
        ranked = sorted(fused.items(), key=_second, reverse=True)
        return [(key, {"score": score}) for key, score in ranked]

    @staticmethod
    def _text(obj: Stored, names) -> str:
        chosen = list(names) or [name for name, value in obj.properties.items() if isinstance(value, str)]
        return " ".join(str(obj.properties.get(name, "")) for name in chosen)

    @staticmethod
    def _result(key: str, obj: Stored, scores: dict[str, float], request) -> search_get_pb2.SearchResult:
        wanted = request.properties
        names = (
            obj.properties
            if not wanted.non_ref_properties or wanted.return_all_nonref_properties
            else wanted.non_ref_properties
        )
        fields = {name: _value(obj.properties[name]) for name in names if name in obj.properties}
        metadata = search_get_pb2.MetadataResult(
            id=key,
            id_as_bytes=uuid.UUID(key).bytes,
            distance=scores.get("distance", 0.0),
            distance_present="distance" in scores and request.metadata.distance,
            score=scores.get("score", 0.0),
            score_present="score" in scores and request.metadata.score,
        )
        if request.metadata.vector or request.metadata.vectors:
            packed = struct.pack(f"<{len(obj.vector)}f", *obj.vector)
            name = request.metadata.vectors[0] if request.metadata.vectors else "default"
            metadata.vectors.append(
                base_pb2.Vectors(name=name, vector_bytes=packed, type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32)
            )
        return search_get_pb2.SearchResult(
            properties=search_get_pb2.PropertiesResult(
                non_ref_props=properties_pb2.Properties(fields=fields), target_collection=request.collection
            ),
            metadata=metadata,
        )

    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext):
        self._authorise("BatchDelete", context, [request.collection], "delete_data")
        started = time.perf_counter()
        with self.state.lock:
            objects = self._collection(request.collection, context)
            matched = [key for key, obj in objects.items() if _matches(request.filters, key, obj)]
            if not request.dry_run:
                for key in matched:
                    del objects[key]
        return batch_delete_pb2.BatchDeleteReply(
            took=time.perf_counter() - started,
            matches=len(matched),
            successful=0 if request.dry_run else len(matched),
            objects=[batch_delete_pb2.BatchDeleteObject(uuid=uuid.UUID(key).bytes, successful=True) for key in matched]
            if request.verbose
            else [],
        )

    def Aggregate(self, request: aggregate_pb2.AggregateRequest, context: grpc.ServicerContext):
        self._authorise("Aggregate", context, [request.collection], "read_data")
        started = time.perf_counter()
        with self.state.lock:
            objects = self._collection(request.collection, context)
            count = sum(
                not request.HasField("filters") or _matches(request.filters, key, obj) for key, obj in objects.items()
            )
        return aggregate_pb2.AggregateReply(
            took=time.perf_counter() - started,
            single_result=aggregate_pb2.AggregateReply.Single(objects_count=count),
        )


def _second(pair: tuple[str, float]) -> float:
    return pair[1]


def _health_handler() -> grpc.GenericRpcHandler:
    """grpc.health.v1.Health/Check, the ping the client makes on connect and in is_live()."""

    def check(request, context) -> health_weaviate_pb2.WeaviateHealthCheckResponse:
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    method = grpc.unary_unary_rpc_method_handler(
        check,
        request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
        response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": method})


# --- REST -----------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return None

    @property
    def state(self) -> WeaviateState:
        return self.server.state

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _user(self) -> str | None:
        """The caller's user (the root user on public routes); None, the 401 sent, for an unknown key."""
        if self.path.startswith(("/v1/.well-known/", "/v1/meta")):
            return ROOT
        user = self.state.rbac.principal(self.headers.get("Authorization"))
        if user is None:
            self._send(401, {"code": 401, "message": "unauthorized: invalid api key"})
        return user

    def _refused(self, user: str, action: str, collection: str) -> bool:
        """Send Weaviate's 403 when `user` may not do `action` on `collection`."""
        refused = self.state.rbac.refusal(user, action, collection)
        if refused:
            self._send(403, {"error": [{"message": refused}]})
        return refused is not None

    def _send_reply(self, status: int, body: Any) -> None:
        if body is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self._send(status, body)

    def _path(self) -> str:
        return self.path.split("?")[0].rstrip("/")

    def do_GET(self) -> None:
        user = self._user()
        if user is None:
            return None
        path = self._path()
        reply = self.state.rbac.handle("GET", path, {}, user)
        if reply is not None:
            return self._send_reply(*reply)
        if path in ("/v1/.well-known/ready", "/v1/.well-known/live"):
            return self._send(200, {})
        if path == "/v1/.well-known/openid-configuration":
            return self._send(404, {})
        if path == "/v1/meta":
            return self._send(200, {"hostname": "http://[::]:8080", "version": VERSION, "modules": {}})
        if path == "/v1/nodes":
            return self._send(200, {"nodes": [{"name": "standin", "status": "HEALTHY", "version": VERSION}]})
        if path == "/v1/schema":  # the classes the caller may read, as Weaviate filters the listing
            with self.state.lock:
                readable = [schema for name, schema in self.state.schemas.items()
                            if self.state.rbac.allowed(user, "read_collections", name)]
            return self._send(200, {"classes": readable})
        name = path.removeprefix("/v1/schema/")
        if path.startswith("/v1/schema/") and self._refused(user, "read_collections", name):
            return None
        with self.state.lock:
            if path.startswith("/v1/schema/") and name in self.state.schemas:
                return self._send(200, self.state.schemas[name])
        return self._send(404, {"error": [{"message": f"no route or class {path}"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        user = self._user()
        if user is None:
            return None
        reply = self.state.rbac.handle("POST", self._path(), body, user)
        if reply is not None:
            return self._send_reply(*reply)
        if self._path() != "/v1/schema":
            return self._send(404, {"error": [{"message": f"no route {self.path}"}]})
        if self._refused(user, "create_collections", str(body.get("class", ""))):
            return None
        with self.state.lock:
            if body.get("class") in self.state.schemas:
                message = f"class name {body['class']!r} already exists"
                return self._send(422, {"error": [{"message": message}]})
            return self._send(200, self.state.create(body))

    def do_DELETE(self) -> None:
        user = self._user()
        if user is None:
            return None
        reply = self.state.rbac.handle("DELETE", self._path(), {}, user)
        if reply is not None:
            return self._send_reply(*reply)
        name = self._path().removeprefix("/v1/schema/")
        if self._refused(user, "delete_collections", name):
            return None
        self.state.drop(name)
        return self._send(200, {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: WeaviateState


@contextmanager
def weaviate_server(api_key: str | None = None, *, rbac: bool = True) -> Iterator[WeaviateStandin]:
    """Serve REST and gRPC on ephemeral ports; yields the `weaviate://` URL llf is configured with. `api_key` is
    the root user's key (None: anonymous access, everything allowed); `rbac` False has no DB users nor roles."""
    state = WeaviateState(api_key=api_key, rbac=Rbac(root_key=api_key, enabled=rbac))
    rest = _Server(("127.0.0.1", 0), _Handler)
    rest.state = state
    rpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Weaviate(state), rpc)
    rpc.add_generic_rpc_handlers((_health_handler(),))
    grpc_port = rpc.add_insecure_port("127.0.0.1:0")
    rpc.start()
    thread = threading.Thread(target=rest.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield WeaviateStandin(f"weaviate://127.0.0.1:{rest.server_address[1]}?grpc_port={grpc_port}", state)
    finally:
        rest.shutdown()
        rest.server_close()
        rpc.stop(0)
