"""Request ids, structured JSON logs and Prometheus metrics.

Every request gets an id (the caller's ``X-Request-ID`` if it is a sane token, else a new
random one), echoed in the response and attached to every log line written while the request
runs. Logs are one JSON object per line. Metrics are exposed at ``/metrics`` in the Prometheus
text format, summed over all workers when ``natid serve --workers N`` runs several. The path
label is the route template (``/registry/persons/{id}``), never the concrete path, so ids do
not end up in metric labels.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "HttpMetrics",
    "JsonFormatter",
    "ObservabilityMiddleware",
    "configure_logging",
    "install_observability",
    "new_request_id",
    "request_id_var",
    "scope_header",
]

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "natid_request_id", default=None
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Record attributes that are not extra fields (uvicorn's "color_message" is its message with
# terminal colour codes, useless in a JSON line).
_STD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                entry[key] = (
                    value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
                )
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what our middleware logs, with the raw path and query.
    logging.getLogger("uvicorn.access").disabled = True


def new_request_id(incoming: str) -> str:
    """The caller's ``X-Request-ID`` if it is a sane token, else a new random one."""
    return incoming if _SANE_ID.match(incoming) else secrets.token_hex(8)


class HttpMetrics:
    """What every request leaves behind: a counter, a latency sample and a JSON access line.

    Shared by the middleware below and by handlers mounted ahead of it (api/ocsp_fastpath.py),
    so a request is counted the same whichever way it was answered.
    """

    def __init__(self, requests: Counter, latency: Histogram, log: logging.Logger) -> None:
        self._requests = requests
        self._latency = latency
        self._log = log
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def record(self, method: str, route: str, status: int, elapsed: float, request_id: str) -> None:
        key = (method, route, str(status))
        children = self._children.get(key)
        if children is None:
            children = (
                self._requests.labels(method, route, key[2]),
                self._latency.labels(method, route),
            )
            if len(self._children) < 1024:  # method x route x status: bounded by the app
                self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if self._log.isEnabledFor(logging.INFO):
            self._log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


class ObservabilityMiddleware:
    """Request id, access line and metrics for every HTTP request, as a plain ASGI middleware.

    Not Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``), which runs the
    application in a second task behind a memory stream: that cost about 0.3 ms of CPU per
    request. What a client and an operator see is the same as it was then:

    * the request id (:func:`new_request_id`) is in ``request.state.request_id`` and in
      :data:`request_id_var` while the application runs, and replaces any ``X-Request-ID`` the
      application set on its response;
    * the access line and the metrics are written when the response starts (its status is
      known then; a streamed body goes on to the client afterwards, unbuffered), or with status
      500 when the application fails before starting one. The unexpected-error handler that
      answers that 500 runs outside (Starlette's ``ServerErrorMiddleware``), as before.
    """

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(scope_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = _with_request_id(message.get("headers", ()), request_id)
                self._record(scope, message["status"], start, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if not started:
                self._record(scope, 500, start, request_id)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, start: float, request_id: str) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - start
        self.metrics.record(scope["method"], route, status, elapsed, request_id)


def scope_header(scope: Scope, name: bytes) -> str:
    """The first value of header ``name`` in an ASGI scope, or ``""`` (ASGI servers give header
    names in lower case, as ``name`` must be)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _with_request_id(
    headers: Iterable[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    """The response headers with one ``X-Request-ID``: ours, where the application put its own
    (Starlette's ``MutableHeaders`` assignment, which the old middleware used)."""
    ours = (b"x-request-id", request_id.encode("latin-1"))
    result: list[tuple[bytes, bytes]] = []
    replaced = False
    for key, value in headers:
        if key.lower() == b"x-request-id":
            if not replaced:
                result.append(ours)
                replaced = True
        else:
            result.append((key, value))
    if not replaced:
        result.append(ours)
    return result


def install_observability(app: FastAPI, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """The request middleware and ``/metrics``: the HTTP metrics and ``collectors``, which are
    read at each scrape (api/upkeep.py's certificate ends)."""
    collectors = tuple(collectors)
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    requests = Counter(
        "natid_http_requests_total",
        "HTTP requests",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "natid_http_request_duration_seconds",
        "HTTP request latency",
        ["method", "route"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    log = logging.getLogger("natid.http")
    http_metrics = HttpMetrics(requests, latency, log)
    app.state.http_metrics = http_metrics

    app.add_middleware(ObservabilityMiddleware, metrics=http_metrics)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several workers (`natid serve --workers N`): each writes its samples to files in
            # that directory and any worker answers a scrape with the sum of all of them.
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            for collector in collectors:
                merged.register(collector)
            return Response(generate_latest(merged), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
