"""The KYC call's fast paths agree with the general ones (SQLite and PostgreSQL):

* the relying party read on a held connection (:mod:`kyc.rp_reads`) gives what a session read
  gives, sees a suspension or policy change at once, and fails as the KYC store;
* the consent read of ``api/routers/kyc.py`` (account and consent in one statement) gives what
  ``find_by_person`` + ``Consents.find`` give, for live, expired, withdrawn, missing, another
  bank's and malformed cases;
* the access-log row (a Core insert) and its audit entry are written both or neither.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.pool import StaticPool

from api.context import AppContext
from api.routers.kyc import _live_consent, kyc_service
from core.audit import AuditLedger
from core.db import make_session_factory
from core.errors import NotFound
from idp.consents import Consents
from kyc import ConsentView, KYCStoreUnavailable, RelyingParties, RelyingPartyNotFound
from kyc.models import AccessLogRow
from kyc.rp_reads import held_rp_reader
from registry.errors import RegistryError
from registry.records import Person
from tests.api.kyc.conftest import SCOPES, Bank, bank_token, consent, make_bank

PATH = "/kyc/v1/person"


def _session_read(ctx: AppContext, client_id: str) -> Any:
    """The general path: the relying party read through an ORM session."""
    rps = kyc_service(ctx).relying_parties
    try:
        return rps.get(client_id)
    except RelyingPartyNotFound:
        return None


def test_held_relying_party_read_agrees_with_the_session_read(
    app_ctx: AppContext, bank: Bank
) -> None:
    assert held_rp_reader(app_ctx.sessions) is not None  # the fast path is the one tested
    rps = kyc_service(app_ctx).relying_parties
    assert rps.find_by_client(bank.client.client_id) == _session_read(
        app_ctx, bank.client.client_id
    )
    assert rps.find_by_client(bank.client.client_id) == bank.rp
    assert rps.find_by_client("no-such-client") is None
    assert rps.find_by_client("") is None
    assert rps.find_by_client("x" * 65) is None


def test_held_read_sees_every_change_at_once(app_ctx: AppContext, bank: Bank) -> None:
    rps = kyc_service(app_ctx).relying_parties
    assert rps.find_by_client(bank.client.client_id) is not None  # a connection is now held
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "kid": "enc-1",
    }
    updated = rps.update(
        bank.rp.id, active=False, attributes="name,birthdate", rate_limit=7, encryption_jwk=jwk
    )
    fast = rps.find_by_client(bank.client.client_id)
    assert fast == updated == _session_read(app_ctx, bank.client.client_id)
    assert fast is not None and fast.active is False and fast.encryption_jwk == jwk
    assert fast.legal_basis_match is False and fast.rate_limit_per_minute == 7
    assert fast.created_at.tzinfo is not None  # aware times, as through the ORM


def test_shared_connection_engines_read_through_the_session(app_ctx: AppContext) -> None:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        sessions = make_session_factory(engine)
        assert held_rp_reader(sessions) is None
    finally:
        engine.dispose()


def test_held_read_failure_is_the_kyc_store_error(app_ctx: AppContext, bank: Bank) -> None:
    broken = create_engine("sqlite:////nonexistent-dir/natid.db")
    try:
        rps = RelyingParties(
            make_session_factory(broken),
            register=app_ctx.register,
            ledger=app_ctx.ledger,
            clock=app_ctx.clock,
        )
        with pytest.raises(KYCStoreUnavailable):
            rps.find_by_client(bank.client.client_id)
    finally:
        broken.dispose()


def _general_consent(ctx: AppContext, person_id: str, client_id: str) -> ConsentView | None:
    """The general path: the account through the register, then ``Consents.find``."""
    try:
        account = ctx.idp_accounts().find_by_person(person_id)
    except (NotFound, RegistryError):  # unknown or malformed person: no consent
        return None
    if account is None:
        return None
    found = Consents(ctx.sessions, ledger=ctx.ledger).find(
        account.id, client_id, at=ctx.clock.now()
    )
    if found is None:
        return None
    return ConsentView(found.scopes, found.claims, found.granted_at, found.expires_at)


def _agree(ctx: AppContext, person_id: str, client_id: str) -> ConsentView | None:
    fast = _live_consent(ctx, person_id, client_id, at=ctx.clock.now())
    assert fast == _general_consent(ctx, person_id, client_id)
    return fast


def test_consent_read_agrees_with_the_general_path(
    app_ctx: AppContext, bank: Bank, person: Person, clock: Any
) -> None:
    client_id = bank.client.client_id
    assert _agree(app_ctx, person.id, client_id) is None  # no consent yet
    consent(app_ctx, person, bank, claims=("email",))
    live = _agree(app_ctx, person.id, client_id)
    assert live is not None and set(SCOPES) <= live.scopes and live.claims == {"email"}
    assert live.granted_at == app_ctx.clock.now()
    other = make_bank(app_ctx, name="Other Bank", register_no="00054321")
    assert _agree(app_ctx, person.id, other.client.client_id) is None  # another bank's
    assert _agree(app_ctx, person.id.upper(), client_id) == live  # the register's id form
    for person_id in ("not-a-uuid", "", "00000000-0000-4000-8000-000000000000"):
        assert _agree(app_ctx, person_id, client_id) is None
    clock.advance(dt.timedelta(days=366))  # past the consent's lifetime
    assert _agree(app_ctx, person.id, client_id) is None
    clock.advance(dt.timedelta(days=-366))
    account = app_ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    Consents(app_ctx.sessions, ledger=app_ctx.ledger).withdraw(
        account.id, client_id, at=app_ctx.clock.now()
    )
    assert _agree(app_ctx, person.id, client_id) is None


def test_access_log_row_and_audit_entry_are_written_both_or_neither(
    http: TestClient,
    app_ctx: AppContext,
    bank: Bank,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    real_append = AuditLedger.append

    def failing(self: AuditLedger, event: str, **kw: Any) -> Any:
        if event == "kyc.released":
            raise RuntimeError("the ledger failed")
        return real_append(self, event, **kw)

    monkeypatch.setattr(AuditLedger, "append", failing)
    response = session.request("GET", PATH, access_token=token)
    assert response.status_code == 500
    with app_ctx.sessions() as s:
        assert s.scalars(select(AccessLogRow)).all() == []
    monkeypatch.setattr(AuditLedger, "append", real_append)
    response = session.request("GET", PATH, access_token=token)
    assert response.status_code == 200, response.text
    (entry,) = kyc_service(app_ctx).access_log.for_person(person.id)
    released = [e for e in app_ctx.ledger.tail(50) if e.event == "kyc.released"]
    assert [e.data["txn"] for e in released] == [entry.txn]
