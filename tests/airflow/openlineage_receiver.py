"""A real OpenLineage HTTP receiver on 127.0.0.1 (what Marquez's `POST /api/v1/lineage` does, minus
the storage), and the OpenLineage 2-0-2 RunEvent schema the tests validate every event against.

The schema is written here from the OpenLineage spec (RunEvent, Run, Job, datasets, BaseFacet) plus
the standard facets this platform emits; `validate` checks an event against it with jsonschema,
formats (date-time, uuid) included.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_URI = {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z][A-Za-z0-9+.-]*:"}
_BASE_FACET = {
    "type": "object",
    "properties": {"_producer": _URI, "_schemaURL": _URI},
    "required": ["_producer", "_schemaURL"],
}


def _facet(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"allOf": [_BASE_FACET, {"type": "object", "properties": properties, "required": required}]}


_FIELD = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
    "required": ["name"],
}
#: the standard facets the platform sends, by the key they are sent under
FACETS: dict[str, dict[str, Any]] = {
    "schema": _facet({"fields": {"type": "array", "items": _FIELD}}, []),
    "version": _facet({"datasetVersion": {"type": "string"}}, ["datasetVersion"]),
    "outputStatistics": _facet(
        {"rowCount": {"type": "integer"}, "size": {"type": "integer"}, "fileCount": {"type": "integer"}}, []
    ),
    "dataQualityMetrics": _facet({"rowCount": {"type": "integer"}, "columnMetrics": {"type": "object"}}, ["columnMetrics"]),
    "dataQualityAssertions": _facet(
        {"assertions": {"type": "array", "items": {
            "type": "object",
            "properties": {"assertion": {"type": "string"}, "success": {"type": "boolean"}, "column": {"type": "string"}},
            "required": ["assertion", "success"],
        }}},
        ["assertions"],
    ),
    "nominalTime": _facet({"nominalStartTime": {"type": "string", "format": "date-time"}}, ["nominalStartTime"]),
    "errorMessage": _facet(
        {"message": {"type": "string"}, "programmingLanguage": {"type": "string"}}, ["message", "programmingLanguage"]
    ),
    "jobType": _facet(
        {"processingType": {"type": "string"}, "integration": {"type": "string"}, "jobType": {"type": "string"}},
        ["processingType", "integration"],
    ),
}
_FACETS = {"type": "object", "properties": FACETS, "additionalProperties": _BASE_FACET}
_DATASET = {
    "type": "object",
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
    "required": ["namespace", "name"],
}
RUN_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": _URI,
        "schemaURL": _URI,
        "run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS},
            "required": ["runId"],
        },
        "job": {
            "type": "object",
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
            "required": ["namespace", "name"],
        },
        "inputs": {"type": "array", "items": {"allOf": [_DATASET, {"properties": {"inputFacets": _FACETS}}]}},
        "outputs": {"type": "array", "items": {"allOf": [_DATASET, {"properties": {"outputFacets": _FACETS}}]}},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}


def validate(event: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError unless `event` is a valid OpenLineage RunEvent."""
    import jsonschema

    checker = jsonschema.FormatChecker()

    @checker.checks("uuid", raises=ValueError)
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(uuid.UUID(value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or ("T" in value and bool(datetime.fromisoformat(value.replace("Z", "+00:00"))))

    jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=checker).validate(event)


class Receiver:
    """The events POSTed to `url` (any path), in arrival order."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []

    def run_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "eventType" in e]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Start a receiver on a free port; stopped on exit."""
    lock = threading.Lock()
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                box[0].events.append(json.loads(body))
                box[0].paths.append(self.path)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
