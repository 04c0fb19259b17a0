"""Fixtures for the signing tests: a CA on each test database, subjects with server-side signing
keys, a signing service, and PDFs made with fpdf2.

The CA's hierarchy comes from ``tests/ca/_issuance.py`` (keys made once per session); every test
gets a fresh database on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ca.profiles import ProfileName
from ca.service import CAService
from ca.store import IssuedCertificate
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister, LegalEntity
from signing.service import SigningService
from tests.ca import _issuance
from tests.ca._issuance import BASE_URL, add_entity, add_person, add_servant

# The CA fixtures of the issuance tests, made visible to every signing test.
ca_service = _issuance.ca_service
hierarchy_keys = _issuance.hierarchy_keys
ledger = _issuance.ledger
register = _issuance.register
session_hierarchy = _issuance.session_hierarchy
transparency = _issuance.transparency
tsa_renewal = _issuance.tsa_renewal


@pytest.fixture
def new_signing_service(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    register: EmbeddedRegister,
) -> Callable[[], SigningService]:
    """Makes a signing service over the test's CA; a second one is what a restarted server
    makes (it reads the time-stamping unit afresh)."""

    def make() -> SigningService:
        return SigningService(
            session_factory,
            ca=ca_service,
            keys=hierarchy_keys,
            ledger=ledger,
            clock=clock,
            register=register,
            public_base_url=BASE_URL,
        )

    return make


@pytest.fixture
def signing(new_signing_service: Callable[[], SigningService]) -> SigningService:
    return new_signing_service()


@pytest.fixture
def entity(register: EmbeddedRegister) -> LegalEntity:
    return add_entity(register)


@pytest.fixture
def eseal(signing: SigningService, entity: LegalEntity) -> IssuedCertificate:
    return signing.ensure_eseal(entity.id, actor="test")


@pytest.fixture
def servant_id(register: EmbeddedRegister, ca_service: CAService) -> str:
    """A civil servant with a gov-sign certificate whose key is server-side."""
    ministry = add_entity(register, kind="ministry")
    servant = add_servant(register, add_person(register), ministry)
    ca_service.issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
    return servant.id
