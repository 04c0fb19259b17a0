"""FastAPI dependencies: hand the application context to routes (STYLE.md, no globals)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.context import AppContext

__all__ = ["Ctx", "get_context"]


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]
