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
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = ["JsonFormatter", "configure_logging", "install_observability", "request_id_var"]

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


def install_observability(app: FastAPI) -> CollectorRegistry:
    registry = CollectorRegistry()
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

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _SANE_ID.match(incoming) else secrets.token_hex(8)
        request.state.request_id = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = request_id
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            requests.labels(request.method, template, str(status)).inc()
            latency.labels(request.method, template).observe(elapsed)
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Several workers (`natid serve --workers N`): each writes its samples to files in
            # that directory and any worker answers a scrape with the sum of all of them.
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return Response(generate_latest(merged), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
