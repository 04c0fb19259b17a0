"""Fixtures of the validation page and API tests: a NatID (the golden hierarchy on each test
database), a civil servant with a gov-sign certificate whose key is server-side, and an app
with the validation router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.context import AppContext
from api.errors import install_error_handlers
from api.routers import signing_validate
from ca.hierarchy import Hierarchy
from ca.profiles import ProfileName
from ca.store import IssuedCertificate
from core.clock import FixedClock
from tests.api._ra import golden_keys, installed_context
from tests.ca._issuance import add_entity, add_person, add_servant

__all__ = ["golden_keys", "servant_cert", "validate_ctx", "validate_http"]


@pytest.fixture
def validate_ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[AppContext]:
    ctx = installed_context(tmp_path / "var", db_url, golden_keys, clock)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def validate_http(validate_ctx: AppContext) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.ctx = validate_ctx
    install_error_handlers(app)
    app.include_router(signing_validate.router)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def servant_cert(validate_ctx: AppContext) -> IssuedCertificate:
    register = validate_ctx.register
    servant = add_servant(
        register,
        add_person(register, name_latin="Chan Sopheap"),
        add_entity(register, kind="ministry"),
    )
    return validate_ctx.ca().issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
