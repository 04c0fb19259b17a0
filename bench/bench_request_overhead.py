"""The fixed cost of one HTTP request through ``create_app``: CPU µs per request, layer by layer.

    PYTHONPATH=. python bench/bench_request_overhead.py [--requests N] [--repeat R]
        [--database-url URL]

Every request to ``natid serve`` crosses the same middleware stack and route table before its
endpoint runs; the OpenID provider and KYC benchmarks (issues 4 and 6) pay it on every request.
This driver measures that cost without sockets, HTTP parsing or a load generator, so the figure
depends far less on other load on the machine than a request rate would:

1. A data directory (SQLite in it unless ``--database-url``) and ``create_app`` as
   ``natid serve`` builds it, plus three trivial routes added here at the END of the route table
   (``GET /bench/late`` sync, ``/bench/late-async`` async, ``/bench/late-ctx`` async with the
   ``Ctx`` dependency most routes take), so routing over the whole table is measured beside
   ``/healthz``, the first route, and beside a 404, which tries every route.
2. Requests are ASGI calls on this process's event loop: a prebuilt scope, a ``receive`` that
   gives an empty body and a ``send`` that drops the messages. The figure is process CPU time
   (``time.process_time``: the event loop and the thread pool that runs sync endpoints) over N
   requests, the best of R runs (other load on the machine only ever adds CPU time).
3. Layers: the same request entered at each layer of the built middleware stack, outermost
   first; the difference between two rows is what that layer costs. The innermost row is
   FastAPI's exit-stack middleware and the router (route matching, dependencies, the endpoint
   and its response).
4. Route matching alone for the endpoints of the login flow and of KYC: FastAPI tries the routes
   in order until one matches, so the cost grows with the route's place in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.app import create_app
from api.context import build_context
from api.deps import Ctx
from api.observability import JsonFormatter
from core.settings import load_settings

HOT_ROUTES = [
    ("POST", "/token"),
    ("GET", "/authorize"),
    ("POST", "/login"),
    ("GET", "/userinfo"),
    ("GET", "/kyc/v1/person"),
    ("GET", "/no/such/path"),
]
ENDPOINTS = ["/healthz", "/bench/late", "/bench/late-async", "/bench/late-ctx", "/no/such/path"]


def bench_app(data_dir: Path, database_url: str | None) -> FastAPI:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    app = create_app(build_context(settings), close_context=True)
    router = APIRouter()

    @router.get("/bench/late")
    def late() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/bench/late-async")
    async def late_async() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/bench/late-ctx")
    async def late_ctx(ctx: Ctx) -> dict[str, str]:
        return {"status": "ok" if ctx else "no context"}

    app.include_router(router)
    return app


def layers(app: FastAPI) -> list[tuple[str, Any]]:
    """(name, ASGI callable) from the outermost middleware down to the router."""
    found: list[tuple[str, Any]] = [("FastAPI app", app)]
    layer: Any = app.build_middleware_stack()
    app.middleware_stack = layer
    # Down to FastAPI's AsyncExitStackMiddleware: the router alone cannot run routes with
    # dependencies (they need the exit stack that middleware puts in the scope).
    while not isinstance(layer, APIRouter):
        found.append((type(layer).__name__, layer))
        layer = layer.app
    return found


def scope_for(app: FastAPI, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def cpu_per_request(app: FastAPI, entry: Any, path: str, requests: int) -> float:
    """CPU µs per request for ``requests`` calls of ``entry`` (an ASGI callable)."""
    template = scope_for(app, path)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.process_time()
    for _ in range(requests):
        try:
            await entry(dict(template, state={}), receive, send)
        except HTTPException as exc:  # the router alone raises what ExceptionMiddleware answers
            statuses.append(exc.status_code)
    elapsed = time.process_time() - start
    if not statuses or len(statuses) != requests:
        raise SystemExit(f"{path}: {len(statuses)} responses to {requests} requests")
    return elapsed / requests * 1e6


def matching_cpu(app: FastAPI, method: str, path: str, requests: int) -> float:
    """CPU µs to find the route for one request, as the router's loop does."""
    scope = dict(scope_for(app, path), method=method)
    start = time.process_time()
    for _ in range(requests):
        for route in app.router.routes:
            if route.matches(dict(scope))[0] == Match.FULL:
                break
    return (time.process_time() - start) / requests * 1e6


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = bench_app(Path(tmp) / "var", args.database_url)
        stack = layers(app)
        # Warm up: first requests build caches (OpenAPI-independent route data, thread pool).
        for path in ENDPOINTS:
            await cpu_per_request(app, app, path, 200)
        print(f"CPU µs per request (best of {args.repeat} x {args.requests} requests)\n")
        print("| entered at | " + " | ".join(ENDPOINTS) + " |")
        print("|---|" + "---:|" * len(ENDPOINTS))
        for name, entry in stack:
            row = []
            for path in ENDPOINTS:
                runs = [
                    await cpu_per_request(app, entry, path, args.requests)
                    for _ in range(args.repeat)
                ]
                row.append(f"{min(runs):.0f}")
            print(f"| {name} | " + " | ".join(row) + " |")
        print("\nRoute matching alone, CPU µs per request\n")
        print("| request | µs |\n|---|---:|")
        for method, path in HOT_ROUTES:
            runs = [matching_cpu(app, method, path, args.requests) for _ in range(args.repeat)]
            print(f"| {method} {path} | {min(runs):.0f} |")
        app.state.ctx.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="default: SQLite in a temporary data directory")
    args = parser.parse_args(argv)
    # The access log is formatted as in production (JSON lines at INFO) but written to
    # /dev/null: its formatting counts, a terminal's speed does not.
    with open(os.devnull, "w") as devnull:
        handler = logging.StreamHandler(devnull)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
