"""The observability middleware around every route: request ids, the access line, metrics.

tests/api/test_app.py covers the basics through the test client; these tests pin what a
client, an operator reading the logs or Prometheus would notice in the harder cases: streaming
responses, endpoints that fail before or after their response started, log lines written by
the endpoint itself, 404/405 labels. Some drive the ASGI application directly, because the test
client reads a whole response before it returns.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from starlette.types import Message

from api.app import create_app
from api.context import AppContext
from api.observability import JsonFormatter, request_id_var

inner_log = logging.getLogger("natid.test.endpoint")


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "natid.http"]


def _app(ctx: AppContext, gate: asyncio.Event | None = None) -> FastAPI:
    app = create_app(ctx)
    router = APIRouter()

    @router.get("/t/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            if gate is not None:
                # Waits until the first chunk has reached the server: a middleware that
                # buffered the body would never let it through, and the test would time out.
                await gate.wait()
            yield b"second"

        return StreamingResponse(chunks(), media_type="text/plain")

    @router.get("/t/stream-breaks")
    async def stream_breaks() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first;"
            raise RuntimeError("storage went away mid-stream")

        return StreamingResponse(chunks(), media_type="text/plain")

    @router.get("/t/crash/{item}")
    async def crash(item: str) -> None:
        raise RuntimeError(f"secret {item}")

    @router.get("/t/logs-sync")
    def logs_sync(request: Request) -> dict[str, str]:
        inner_log.info("inside a sync endpoint")
        return {"state": request.state.request_id}

    @router.get("/t/logs-async")
    async def logs_async(request: Request) -> dict[str, str]:
        inner_log.info("inside an async endpoint")
        return {"state": request.state.request_id}

    @router.get("/t/own-request-id")
    def own_request_id() -> Response:
        return Response(b"x", headers={"X-Request-ID": "endpoint-chosen-id"})

    app.include_router(router)
    return app


def _scope(app: FastAPI, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "app": app,
    }


def test_streaming_response_is_not_buffered(
    app_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="natid.http")
    sent: list[Message] = []

    async def main() -> None:
        gate = asyncio.Event()
        app = _app(app_ctx, gate)

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(3600)  # no disconnect while the response streams
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and message.get("body"):
                gate.set()

        headers = [(b"x-request-id", b"stream-12345678")]
        await asyncio.wait_for(app(_scope(app, "/t/stream", headers), receive, send), 10)

    asyncio.run(main())
    start = sent[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    assert (b"x-request-id", b"stream-12345678") in start["headers"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body == b"first;second"
    assert sent[-1]["type"] == "http.response.body"
    assert not sent[-1].get("more_body", False)
    lines = _access_lines(caplog)
    assert [(x["route"], x["status"], x["request_id"]) for x in lines] == [
        ("/t/stream", 200, "stream-12345678")
    ]


def test_stream_failing_midway_leaves_one_access_line(
    app_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="natid.http")
    app = _app(app_ctx)
    sent: list[Message] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="mid-stream"):
        asyncio.run(app(_scope(app, "/t/stream-breaks"), receive, send))
    assert sent[0]["status"] == 200  # the status line had gone out before the failure
    lines = _access_lines(caplog)
    assert [(x["route"], x["status"]) for x in lines] == [("/t/stream-breaks", 200)]


def test_crash_is_500_problem_logged_and_counted(
    app_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    c = TestClient(_app(app_ctx), raise_server_exceptions=False)
    r = c.get("/t/crash/hunter2", headers={"X-Request-ID": "crash-12345678"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["request_id"] == "crash-12345678"
    assert r.headers["x-request-id"] == "crash-12345678"
    assert r.json()["code"] == "internal_error"
    assert "secret" not in r.text
    lines = _access_lines(caplog)
    assert len(lines) == 1
    line = lines[0]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/t/crash/{item}", 500)
    assert line["request_id"] == "crash-12345678"
    assert line["message"] == "request"
    assert isinstance(line["duration_ms"], float | int)
    assert "secret" not in json.dumps(lines)
    errors = [r for r in caplog.records if r.name == "api.errors"]
    assert [e.getMessage() for e in errors] == ["unhandled error"]
    text = c.get("/metrics").text
    assert (
        'natid_http_requests_total{method="GET",route="/t/crash/{item}",status="500"} 1.0' in text
    )
    assert (
        'natid_http_request_duration_seconds_count{method="GET",route="/t/crash/{item}"} 1.0'
        in text
    )


def test_a_browser_meeting_a_crash_gets_a_page_with_the_reference(
    app_ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    c = TestClient(_app(app_ctx), raise_server_exceptions=False)
    r = c.get(
        "/t/crash/hunter2",
        headers={
            "X-Request-ID": "crash-87654321",
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language": "km",
        },
    )
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["x-request-id"] == "crash-87654321"
    assert "មានបញ្ហានៅលើម៉ាស៊ីនមេ។" in r.text  # "The server had a problem." in Khmer
    assert "<code>crash-87654321</code>" in r.text
    assert "secret" not in r.text  # the exception's message stays in the log
    errors = [r for r in caplog.records if r.name == "api.errors"]
    assert [e.getMessage() for e in errors] == ["unhandled error"]  # still logged once
    assert [(x["route"], x["status"]) for x in _access_lines(caplog)] == [("/t/crash/{item}", 500)]


class _JsonLines(logging.Handler):
    """Formats each record when it is written, as the production handler does (the request id
    of a line written by an endpoint comes from the context at that moment)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(JsonFormatter().format(record)))


@pytest.mark.parametrize("path", ["/t/logs-sync", "/t/logs-async"])
def test_endpoint_log_lines_and_state_carry_request_id(app_ctx: AppContext, path: str) -> None:
    handler = _JsonLines()
    inner_log.addHandler(handler)
    inner_log.setLevel(logging.INFO)
    try:
        c = TestClient(_app(app_ctx), raise_server_exceptions=False)
        r = c.get(path, headers={"X-Request-ID": "inner-12345678"})
    finally:
        inner_log.removeHandler(handler)
    assert r.json() == {"state": "inner-12345678"}
    assert [x["request_id"] for x in handler.lines] == ["inner-12345678"]
    assert request_id_var.get() is None


def test_request_id_is_reset_after_the_request(app_ctx: AppContext) -> None:
    app = _app(app_ctx)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    async def main() -> str | None:
        await app(_scope(app, "/healthz", [(b"x-request-id", b"reset-12345678")]), receive, send)
        return request_id_var.get()

    assert asyncio.run(main()) is None


def test_endpoint_cannot_choose_the_request_id(app_ctx: AppContext) -> None:
    c = TestClient(_app(app_ctx), raise_server_exceptions=False)
    r = c.get("/t/own-request-id", headers={"X-Request-ID": "client-12345678"})
    assert r.headers.get_list("x-request-id") == ["client-12345678"]


def test_unmatched_and_wrong_method_labels(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="natid.http")
    assert client.get("/no/such/thing").status_code == 404
    r = client.delete("/healthz")
    assert r.status_code == 405
    assert len(r.headers["x-request-id"]) == 16
    lines = _access_lines(caplog)
    assert [(x["method"], x["route"], x["status"]) for x in lines] == [
        ("GET", "unmatched", 404),
        ("DELETE", "/healthz", 405),
    ]


def test_access_line_not_written_above_info(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="natid.http")
    client.get("/healthz")
    assert _access_lines(caplog) == []
    text = client.get("/metrics").text
    assert 'natid_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
