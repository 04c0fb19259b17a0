"""The HTTP shell every service shares: health, readiness, errors, request ids, metrics."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.observability import JsonFormatter
from core.cache import InMemoryCache, RedisCache
from core.errors import Conflict, InvalidInput
from hsm_adapters import KeyBackendUnavailable
from tests._env import environ_without_natid


def test_healthz_answers_while_process_runs(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_checks_database_key_backend_and_cache(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "key_backend": "ok", "cache": "ok"},
    }


def test_readyz_is_503_when_key_backend_fails(
    app_ctx: AppContext, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise KeyBackendUnavailable("token not present")

    monkeypatch.setattr(app_ctx.keys, "health_check", broken)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "key_backend": "fail", "cache": "ok"}
    assert "token not present" not in r.text


def test_readyz_is_503_while_the_in_process_cache_is_full(
    app_ctx: AppContext, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # New logins are refused with 503 while the cache is full: a load balancer should know.
    full = InMemoryCache(max_entries=2)
    full.set("a", b"1", ttl=60)
    full.set("b", b"2", ttl=60)
    app_ctx.cache = full
    with caplog.at_level(logging.WARNING, logger="api.routers.health"):
        r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "key_backend": "ok", "cache": "fail"}
    assert "cache check failed: the in-process cache is full" in caplog.text
    full.delete("a")
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_on_a_redis_that_may_evict(
    app_ctx: AppContext,
    client: TestClient,
    evicting_redis: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app_ctx.cache = RedisCache.from_url(evicting_redis)
    with caplog.at_level(logging.WARNING, logger="api.routers.health"):
        r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["cache"] == "fail"
    assert "volatile-lru" not in r.text  # why goes to the log only
    assert "maxmemory-policy volatile-lru" in caplog.text
    assert "redis.sock" not in caplog.text


def test_readyz_is_503_when_database_is_gone(app_ctx: AppContext, client: TestClient) -> None:
    from core.db import make_engine

    app_ctx.engine = make_engine("sqlite:////nonexistent-dir/natid.db")
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "fail"
    assert "nonexistent-dir" not in r.text


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["type"].endswith("/not_found")
    assert body["instance"] == "/no/such/thing"


def _app_with_failing_routes(ctx: AppContext) -> TestClient:
    app = create_app(ctx)
    router = APIRouter()

    @router.get("/boom/invalid")
    def invalid() -> None:
        raise InvalidInput("birthdate: expected YYYY-MM-DD, got a value in the future")

    @router.get("/boom/conflict")
    def conflict() -> None:
        raise Conflict("a person with this national ID already exists", code="duplicate_person")

    @router.get("/boom/crash")
    def crash() -> None:
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


def test_domain_errors_map_to_status_and_stable_code(app_ctx: AppContext) -> None:
    c = _app_with_failing_routes(app_ctx)
    r = c.get("/boom/invalid")
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_input"
    assert "expected YYYY-MM-DD" in r.json()["detail"]
    r = c.get("/boom/conflict")
    assert r.status_code == 409
    assert r.json()["type"].endswith("/duplicate_person")


def test_unexpected_error_leaks_nothing(app_ctx: AppContext) -> None:
    c = _app_with_failing_routes(app_ctx)
    r = c.get("/boom/crash", headers={"X-Request-ID": "req-12345678"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in r.text
    assert "postgres://" not in r.text
    assert r.json()["request_id"] == "req-12345678"


def test_request_id_echoed_or_generated(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-12345678"})
    assert r.headers["X-Request-ID"] == "abc-12345678"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 16


def test_hostile_request_id_replaced(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": 'x" onload=alert(1) ' + "A" * 300})
    replaced = r.headers["X-Request-ID"]
    assert len(replaced) == 16
    assert all(c in "0123456789abcdef" for c in replaced)


def test_metrics_use_route_templates(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/no/such/secret-path-12345")
    text = client.get("/metrics").text
    assert 'natid_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "secret-path-12345" not in text


def test_openapi_document_lists_endpoints(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["info"]["title"] == "NatID"
    assert "/readyz" in doc["paths"]


def test_logs_are_json_lines_with_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="natid.http")
    client.get("/healthz", headers={"X-Request-ID": "trace-12345678"})
    records = [r for r in caplog.records if r.name == "natid.http"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert line["level"] == "info"
    assert line["request_id"] == "trace-12345678"


def _segments(template: str) -> list[str]:
    """A route template as segments: literal, ``*`` (one segment's parameter, or a segment
    mixing text and parameters) or ``**`` (a ``:path`` parameter: any number of segments)."""
    found = []
    for segment in template.strip("/").split("/"):
        if ":path}" in segment:
            found.append("**")
        elif "{" in segment:
            found.append("*")
        else:
            found.append(segment)
    return found


def _may_overlap(a: list[str], b: list[str]) -> bool:
    """Whether some path could match both templates (erring towards yes)."""
    if not a or not b:
        return all(s == "**" for s in a + b)  # a ":path" may match nothing
    if a[0] == "**":
        return any(_may_overlap(a[1:], b[k:]) for k in range(len(b) + 1))
    if b[0] == "**":
        return _may_overlap(b, a)
    return (a[0] == b[0] or "*" in (a[0], b[0])) and _may_overlap(a[1:], b[1:])


def _flat_routes(route: object) -> list[object]:
    inner = getattr(route, "original_router", None)
    if inner is None:
        return [route]
    return [r for child in inner.routes for r in _flat_routes(child)]


def test_routers_never_overlap(app_ctx: AppContext) -> None:
    """No path can match routes of two different routers, so api/app.py may order the routers
    by traffic: which route answers a request never depends on that order."""
    app = create_app(app_ctx)
    owned = [
        (index, str(getattr(route, "path", "")))
        for index, top in enumerate(app.router.routes)
        for route in _flat_routes(top)
    ]
    assert len(owned) > 100
    clashes = [
        (p, q)
        for n, (i, p) in enumerate(owned)
        for j, q in owned[n + 1 :]
        if i != j and _may_overlap(_segments(p), _segments(q))
    ]
    assert clashes == []


def test_overlap_check_finds_overlaps() -> None:
    assert _may_overlap(_segments("/pki/ocsp/{ca}"), _segments("/pki/ocsp/citizen"))
    assert _may_overlap(_segments("/pki/ocsp/{ca}/{r:path}"), _segments("/pki/ocsp/a/b/c"))
    assert _may_overlap(_segments("/h/{u:path}"), _segments("/h/x/{y}.json"))
    assert not _may_overlap(_segments("/pki/ocsp/{ca}"), _segments("/pki/crl/{ca}/x"))
    assert not _may_overlap(_segments("/token"), _segments("/token/{x}"))


def test_served_application_is_frozen_for_the_garbage_collector(app_ctx: AppContext) -> None:
    """``natid serve``'s factory freezes the built application (a full collection of its
    ~300,000 objects stalled the event loop for ~130 ms)."""
    import subprocess
    import sys

    env = environ_without_natid()
    env["NATID_DATA_DIR"] = str(app_ctx.settings.data_dir)
    env["NATID_DATABASE_URL"] = app_ctx.settings.resolved_database_url
    probe = (
        "import gc; from api.app import create_app_from_env; app = create_app_from_env(); "
        "print(gc.get_freeze_count())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 100_000
