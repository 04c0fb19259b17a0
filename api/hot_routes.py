"""Direct dispatch of the login's hot routes, ahead of FastAPI's routing (issue 4).

A complete login (``GET /authorize`` with a session, ``POST /token``, ``GET /userinfo``) and a
KYC read (``GET /kyc/v1/person``) spent 15-20 % of their server CPU in FastAPI between the
middlewares and the endpoint: route matching (twice per request through an included router),
dependency solving, three exit stacks, the request/response wrappers and Starlette's
``ExceptionMiddleware``. These endpoints take nothing but the request and the application
context, so :class:`HotRoutes` calls them itself. Decisions:

1. **What it answers**: the exact ``(method, path)`` pairs of :data:`HOT_ROUTES` (the path as
   Starlette's routing sees it, under ``root_path``). Anything else - ``HEAD``, another method,
   a trailing slash, another path - goes on to FastAPI untouched, as does every request while
   ``app.dependency_overrides`` is not empty or FastAPI's own telemetry observes the request
   (its spans and route attributes come from FastAPI's routing). The routes stay registered in
   FastAPI, which still describes them in OpenAPI.
2. **The same endpoint, checked at start-up**: each endpoint is taken from the application's
   own routes (the first route that matches the request, as FastAPI would choose it), and
   :func:`install_hot_routes` refuses to build the application (:class:`HotRouteError`) unless
   FastAPI would call it with exactly ``request: Request`` and optionally ``ctx: Ctx``
   (api/deps.py) and nothing else: no other dependency (also none declared on a router), no
   parameter, no body limit, and a ``Response`` as its declared result. A new parameter on one
   of these endpoints therefore stops start-up instead of being silently left unset.
3. **The same request**: the endpoint gets a fresh ``Request`` on the scope the middlewares
   prepared (``request.app``, ``request.state.request_id``, ``root_path``, a body readable once)
   with ``scope["route"]``, ``scope["endpoint"]``, ``scope["path_params"]`` and
   ``scope["router"]`` set as FastAPI sets them, so the observability middleware labels the
   metrics and the access line with the same route template. A sync endpoint runs in the
   thread pool, as FastAPI runs it.
4. **The same errors**: an exception is answered by the application's exception handlers
   exactly as the two layers of Starlette's handling would (the route's, then
   ``ExceptionMiddleware``'s): status handlers first for an ``HTTPException``, then the first
   handler along the exception's MRO; the ``Exception`` / 500 handler is not among them, so an
   unhandled exception propagates to ``ServerErrorMiddleware`` and its 500 as before.
5. **Where it sits**: right inside ``ObservabilityMiddleware`` (api/observability.py), so the
   request id, the access line, the metrics, the proxy headers and the peer address are those
   of every other request.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter, iter_route_contexts

# Starlette's own helpers for the path its routing matches and for calling a handler, so
# those two steps cannot drift from what FastAPI's stack does.
from starlette._utils import get_route_path, is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import Ctx, get_context
from api.observability import ObservabilityMiddleware

__all__ = [
    "HOT_ROUTES",
    "HotRoute",
    "HotRouteError",
    "HotRoutes",
    "install_hot_routes",
    "resolve_hot_routes",
]

#: The requests of a login and of a KYC read that skip FastAPI's routing.
HOT_ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "/token"),
    ("GET", "/userinfo"),
    ("GET", "/authorize"),
    ("GET", "/kyc/v1/person"),
)

Handler = Callable[[Request, Exception], Any]


class HotRouteError(RuntimeError):
    """A hot route's endpoint is not one :class:`HotRoutes` can call as FastAPI would."""


@dataclass(frozen=True, slots=True)
class HotRoute:
    """One endpoint to call directly, with what FastAPI would put in the scope for it."""

    route: BaseRoute  #: ``scope["route"]``: the router's route object, as FastAPI sets it
    endpoint: Callable[..., Any]
    request_param: str
    ctx_param: str | None  #: the ``Ctx`` parameter's name, if the endpoint takes one
    is_async: bool  #: else FastAPI runs it in the thread pool, and so does this module
    overrides: Any  #: what FastAPI reads ``dependency_overrides`` from (the application)
    router: APIRouter  #: ``scope["router"]``


class HotRoutes:
    """Answers :data:`HOT_ROUTES` by calling their endpoints directly (module docstring).

    ``handlers`` is the application's ``exception_handlers``; like FastAPI's
    ``build_middleware_stack`` it is read when the middleware stack is built, which is when this
    middleware is constructed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[tuple[str, str], HotRoute],
        handlers: Mapping[Any, Any],
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.status_handlers: dict[int, Handler] = {}
        self.exception_handlers: dict[type[BaseException], Handler] = {}
        for key, handler in handlers.items():
            if key in (500, Exception):
                continue  # ServerErrorMiddleware's, outside (as in build_middleware_stack)
            if isinstance(key, int):
                self.status_handlers[key] = handler
            else:
                self.exception_handlers[key] = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"] if not scope.get("root_path") else get_route_path(scope)
            hot = self.routes.get((scope["method"], path))
            if (
                hot is not None
                and scope.get("fastapi.telemetry") is None
                and not getattr(hot.overrides, "dependency_overrides", None)
            ):
                await self._dispatch(hot, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _dispatch(self, hot: HotRoute, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("router", hot.router)
        scope["endpoint"] = hot.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        scope["route"] = hot.route
        request = Request(scope, receive, send)
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            try:
                response = await _call(hot, request)
                await response(scope, receive, sender)
            except Exception as exc:  # noqa: BLE001 - the route's layer of handlers decides
                await self._handle(exc, request, started, sender)
        except Exception as exc:  # noqa: BLE001 - ExceptionMiddleware's layer, as above
            # That layer hands its handlers a Request of its own, not the endpoint's.
            await self._handle(exc, Request(scope, receive, send), started, sender)

    async def _handle(self, exc: Exception, request: Request, started: bool, send: Send) -> None:
        """Starlette's ``wrap_app_handling_exceptions``, once: the handler's response, or the
        exception raised again when no handler takes it."""
        handler = None
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
        if handler is None:
            handler = _lookup(self.exception_handlers, exc)
        if handler is None:
            raise exc
        if started:
            raise RuntimeError("Caught handled exception, but response already started.") from exc
        if is_async_callable(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        if response is not None:
            await response(request.scope, request.receive, send)
        # Reused exception instances would accumulate tracebacks across requests.
        exc.__traceback__ = None


async def _call(hot: HotRoute, request: Request) -> Response:
    """The endpoint's response, called with what FastAPI's dependency solving would pass."""
    values: dict[str, Any] = {}
    if hot.ctx_param is not None:
        values[hot.ctx_param] = await get_context(request)
    values[hot.request_param] = request
    if hot.is_async:
        result = await hot.endpoint(**values)
    else:
        result = await run_in_threadpool(hot.endpoint, **values)
    if not isinstance(result, Response):
        # Checked at start-up from the declared result; a wrong one is a programming error.
        raise TypeError(f"{hot.endpoint.__qualname__} returned {type(result).__name__}")
    return result


def _lookup(handlers: Mapping[type[BaseException], Handler], exc: Exception) -> Handler | None:
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def install_hot_routes(app: FastAPI, wanted: Iterable[tuple[str, str]] = HOT_ROUTES) -> None:
    """Check the endpoints of ``wanted`` and put :class:`HotRoutes` right inside the
    observability middleware; call it after every router is included.

    Raises :class:`HotRouteError` if an endpoint is not of the simple shape (decision 2), so a
    worker fails at start-up rather than answering differently from FastAPI.
    """
    if app.middleware_stack is not None:
        raise HotRouteError("the application has already started")
    routes = resolve_hot_routes(app, wanted)
    kinds: list[Any] = [m.cls for m in app.user_middleware]
    if ObservabilityMiddleware not in kinds:
        raise HotRouteError("install the observability middleware first")
    inside = kinds.index(ObservabilityMiddleware) + 1
    middleware = Middleware(HotRoutes, routes=routes, handlers=app.exception_handlers)
    app.user_middleware.insert(inside, middleware)


def resolve_hot_routes(
    app: FastAPI, wanted: Iterable[tuple[str, str]] = HOT_ROUTES
) -> dict[tuple[str, str], HotRoute]:
    """``(method, path) -> HotRoute`` for the routes FastAPI would choose for these requests."""
    router = app.router
    if router.middleware_stack != router.app:
        raise HotRouteError("the application's router has middleware of its own")
    contexts = list(iter_route_contexts(app.routes))
    found: dict[tuple[str, str], HotRoute] = {}
    for method, path in wanted:
        probe = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        chosen = next((c for c in contexts if c.matches(probe)[0] == Match.FULL), None)
        where = f"{method} {path}"
        if chosen is None:
            raise HotRouteError(f"{where}: no route of the application answers it")
        original = chosen.original_route
        if not isinstance(original, APIRoute) or chosen.path != path or chosen.param_convertors:
            raise HotRouteError(f"{where} is answered by {chosen.path!r}, not a plain API route")
        if chosen.max_body_size is not None:
            raise HotRouteError(f"{where}: a route body limit is not applied by the direct call")
        endpoint = chosen.endpoint
        assert endpoint is not None
        request_param, ctx_param = _check_endpoint(where, endpoint, chosen.dependant)
        found[(method, path)] = HotRoute(
            route=original,
            endpoint=endpoint,
            request_param=request_param,
            ctx_param=ctx_param,
            is_async=inspect.iscoroutinefunction(endpoint),
            overrides=chosen.dependency_overrides_provider,
            router=router,
        )
    return found


def _check_endpoint(
    where: str, endpoint: Callable[..., Any], dependant: Dependant
) -> tuple[str, str | None]:
    """(request parameter, ctx parameter or None); raises unless the endpoint takes exactly
    ``request: Request`` and optionally ``ctx: Ctx`` and declares a ``Response`` result."""
    name = getattr(endpoint, "__qualname__", repr(endpoint))
    hints = typing.get_type_hints(endpoint, include_extras=True)
    params = inspect.signature(endpoint).parameters
    request_param: str | None = None
    ctx_param: str | None = None
    for param in params.values():
        hint = hints.get(param.name)
        if hint is Request and request_param is None:
            request_param = param.name
        elif hint == Ctx and ctx_param is None:
            ctx_param = param.name
        else:
            raise HotRouteError(
                f"{where}: {name} takes {param.name!r}; a hot route's endpoint takes only "
                "request: Request and optionally ctx: Ctx (api/hot_routes.py)"
            )
    if request_param is None:
        raise HotRouteError(f"{where}: {name} does not take request: Request")
    result = hints.get("return")
    if not (isinstance(result, type) and issubclass(result, Response)):
        raise HotRouteError(f"{where}: {name} must declare a Response result")
    if (
        not inspect.isfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
    ):
        raise HotRouteError(f"{where}: {name} must be a plain function")
    if not _only_request(dependant, request_param) or not _ctx_dependency(dependant, ctx_param):
        raise HotRouteError(
            f"{where}: FastAPI would solve more than request and ctx for {name} "
            "(a router dependency?)"
        )
    return request_param, ctx_param


def _only_request(dependant: Dependant, request_param: str | None) -> bool:
    """Whether FastAPI passes ``dependant`` nothing but the request (and its dependencies)."""
    return (
        dependant.request_param_name == request_param
        and not dependant.path_params
        and not dependant.query_params
        and not dependant.header_params
        and not dependant.cookie_params
        and not dependant.body_params
        and dependant.websocket_param_name is None
        and dependant.http_connection_param_name is None
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
        and dependant.security_scopes_param_name is None
    )


def _ctx_dependency(dependant: Dependant, ctx_param: str | None) -> bool:
    """Whether the only dependency is api/deps.py's ``get_context`` under ``ctx_param``."""
    if ctx_param is None:
        return not dependant.dependencies
    if len(dependant.dependencies) != 1:
        return False
    sub = dependant.dependencies[0]
    return (
        sub.call is get_context
        and sub.name == ctx_param
        and sub.concurrency is None
        and not sub.dependencies
        and _only_request(sub, "request")
    )
