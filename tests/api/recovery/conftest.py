"""Fixtures of the recovery pages' tests: the real application on a context with the
development CA hierarchy, cheap Argon2 parameters and the security notices wired."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.routers.recovery import install_security_notifications
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from tests.api._ra import golden_keys, installed_context
from tests.idp._web import fast_passwords

__all__ = ["golden_keys"]


@pytest.fixture
def ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    context = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    fast_passwords(context)
    install_security_notifications(context)
    try:
        yield context
    finally:
        context.close()


def browser(ctx: AppContext, address: str = "127.0.0.1") -> TestClient:
    """A new browser (its own cookies) connecting from ``address``."""
    return TestClient(
        create_app(ctx),
        base_url="http://localhost:8000",
        client=(address, 51000),
        raise_server_exceptions=True,
    )


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with browser(ctx) as c:
        yield c
