"""The FastAPI application factory.

``create_app(ctx)`` wires routers, error handlers and observability around an already built
:class:`api.context.AppContext`; ``create_app_from_env()`` is the factory uvicorn calls in each
worker (``natid serve``), building the context from the ``NATID_`` settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.context import AppContext, build_context
from api.errors import install_error_handlers
from api.hot_routes import install_hot_routes
from api.listeners import install_ledger_listeners
from api.observability import configure_logging, install_observability
from api.ocsp_fastpath import OCSPFastPath
from api.routers import (
    activation,
    admin,
    admin_idp,
    border,
    crl,
    csc,
    demo_site,
    health,
    health_certs,
    idp_account,
    idp_login,
    kyc,
    kyc_pages,
    kyc_requests,
    ocsp,
    officer_pages,
    oidc_authorize,
    oidc_discovery,
    oidc_token,
    oidc_userinfo,
    pki,
    ra,
    recovery,
    registry_events,
    signing_batch,
    signing_pages,
    signing_validate,
    signing_workflows,
    transparency,
)
from api.upkeep import CertificateExpiryCollector, Upkeep
from core.settings import load_settings

__all__ = ["create_app", "create_app_from_env"]

DESCRIPTION = (
    "NatID: national digital identity and trust services. Errors are RFC 9457 problem details "
    "(application/problem+json)."
)


class PeerAddress:
    """Keeps the TCP peer's address in ``scope["natid.peer"]`` before the proxy headers
    replace ``scope["client"]`` with the browser's: certificate login believes the forwarded
    client certificate only when the peer itself is a trusted proxy (api/routers/idp_account.py).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["natid.peer"] = scope.get("client")
        await self.app(scope, receive, send)


def create_app(ctx: AppContext, *, close_context: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        interval = ctx.settings.upkeep_interval_seconds
        upkeep = asyncio.create_task(Upkeep(ctx, interval=interval).run()) if interval else None
        try:
            yield
        finally:
            if upkeep is not None:
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep
            if close_context:
                ctx.close()

    app = FastAPI(
        title="NatID",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # NatID's telemetry is its Prometheus metrics and JSON access lines
        # (api/observability.py). FastAPI's native OpenTelemetry had nothing to report to (no
        # SDK is installed) but still asked the global providers on every request (~2.6 µs).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    install_ledger_listeners(ctx)
    install_error_handlers(app)
    install_observability(app, [CertificateExpiryCollector(ctx)])
    # Outside FastAPI's routing and the observability middleware (only the two cheap address
    # middlewares below wrap it): answers most OCSP requests before them, counted and logged
    # like every other request (api/ocsp_fastpath.py).
    app.add_middleware(OCSPFastPath)
    # X-Forwarded-For / -Proto from the proxies in NATID_TRUSTED_PROXIES (uvicorn itself runs
    # with proxy_headers=False, so the peer address is still known to PeerAddress).
    trusted = [str(network) for network in ctx.settings.trusted_proxy_networks]
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
    app.add_middleware(PeerAddress)
    # FastAPI tries the routes in order, about 2.4 µs of CPU each (bench_request_overhead.py):
    # KYC's /kyc/v1/person came 106th. No two routers share a path (tests/api/test_app.py,
    # test_routers_never_overlap), so their order decides nothing but that cost: the routes of
    # the login flow and of KYC come first.
    for router in (
        health.router,
        oidc_token.router,
        kyc.router,
        oidc_userinfo.router,
        oidc_authorize.router,
        idp_login.router,
        oidc_discovery.router,
        ocsp.router,
        admin.router,
        admin_idp.router,
        pki.router,
        crl.router,
        transparency.router,
        ra.router,
        health_certs.router,
        border.router,
        idp_account.router,
        signing_workflows.router,
        signing_pages.router,
        signing_validate.router,
        csc.router,
        kyc_requests.router,
        kyc_pages.router,
        officer_pages.router,
        activation.router,
        recovery.router,
        registry_events.router,
        signing_batch.router,
        demo_site.router,
    ):
        app.include_router(router)
    # The login's and KYC's hot routes are answered by calling their endpoints directly, inside
    # the observability middleware, without FastAPI's routing and dependency solving (about
    # 15-20 % of their CPU). Refuses to start if one of those endpoints takes more than the
    # request and the context (api/hot_routes.py).
    install_hot_routes(app)
    return app


def create_app_from_env() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Workers do not migrate: `natid serve` migrated once before starting them.
    ctx = build_context(settings, migrate=False, create_audit_key=False)
    app = create_app(ctx, close_context=True)
    # The ~300,000 objects of the built application live as long as the worker. Frozen, the
    # cyclic garbage collector's full passes skip them: such a pass stalled the event loop for
    # ~130 ms on the development machine, ~0 ms frozen (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    return app
