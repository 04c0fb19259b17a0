"""Liveness and readiness for load balancers and orchestrators.

``/healthz`` answers 200 while the process runs. ``/readyz`` answers 200 only when the database
answers a query, the key backend passes its health check and the cache can take and keep new
entries (Redis answers and does not evict; the in-process cache is not full), else 503 with which
check failed (never why in detail: connection strings and HSM errors stay in the log).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import Ctx
from core.errors import NatIDError

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", summary="Liveness: the process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database, key backend and cache usable")
def readyz(ctx: Ctx) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure means not ready; the details go to the log only
        log.exception("readiness: database check failed")
        checks["database"] = "fail"
    try:
        ctx.keys.health_check()
        checks["key_backend"] = "ok"
    except NatIDError as exc:
        log.warning("readiness: key backend check failed: %s", exc.code)
        checks["key_backend"] = "fail"
    try:
        ctx.cache.health_check()
        checks["cache"] = "ok"
    except NatIDError as exc:
        # For the log only: "Redis may evict ... (policy X)", "... full", or where Redis is
        # (host:port, never the password) and its error. The answer says just "fail".
        log.warning("readiness: cache check failed: %s", exc.message)
        checks["cache"] = "fail"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
