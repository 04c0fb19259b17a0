"""The FastAPI application factory.

``create_app(ctx)`` wires routers, error handlers and observability around an already built
:class:`api.context.AppContext`; ``create_app_from_env()`` is the factory uvicorn calls in each
worker (``natid serve``), building the context from the ``NATID_`` settings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.context import AppContext, build_context
from api.errors import install_error_handlers
from api.observability import configure_logging, install_observability
from api.ocsp_fastpath import OCSPFastPath
from api.routers import (
    admin,
    border,
    crl,
    health,
    health_certs,
    ocsp,
    pki,
    ra,
    transparency,
)
from core.settings import load_settings

__all__ = ["create_app", "create_app_from_env"]

DESCRIPTION = (
    "NatID: national digital identity and trust services. Errors are RFC 9457 problem details "
    "(application/problem+json)."
)


def create_app(ctx: AppContext, *, close_context: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_context:
                ctx.close()

    app = FastAPI(title="NatID", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.ctx = ctx
    install_error_handlers(app)
    install_observability(app)
    # Outermost of our middleware: answers most OCSP requests before FastAPI's routing and the
    # observability middleware, counted and logged like every other request
    # (api/ocsp_fastpath.py).
    app.add_middleware(OCSPFastPath)
    app.include_router(health.router)
    app.include_router(admin.router)
    app.include_router(pki.router)
    app.include_router(crl.router)
    app.include_router(ocsp.router)
    app.include_router(transparency.router)
    app.include_router(ra.router)
    app.include_router(health_certs.router)
    app.include_router(border.router)
    return app


def create_app_from_env() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Workers do not migrate: `natid serve` migrated once before starting them.
    ctx = build_context(settings, migrate=False, create_audit_key=False)
    return create_app(ctx, close_context=True)
