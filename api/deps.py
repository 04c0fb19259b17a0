"""FastAPI dependencies: hand the application context to routes (STYLE.md, no globals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.context import AppContext

__all__ = ["Ctx", "get_context"]


async def get_context(request: Request) -> AppContext:
    # Async although it awaits nothing: FastAPI runs a plain ``def`` dependency in the thread
    # pool, a hop that cost more CPU than many endpoints (bench/bench_request_overhead.py).
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]
