"""A death reported by the register reaches every certificate, session, token, consent and role
of the person (issue 8, "Life events"; the issue's life-event test)."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.context import AppContext
from api.security import operator_service
from core.clock import FixedClock
from idp.account_models import AccountStatus
from idp.consents import Consents
from idp.sessions import LoginSessions
from registry import PersonStatus
from registry.event_models import RegisterEventRow
from tests.api.idp_token._tokens import refresh
from tests.api.lifecycle._ocsp import ocsp_answer
from tests.api.lifecycle.conftest import Citizen, later, login
from tests.idp._web import browser_login, totp_code


def death(who: Citizen, event_id: str = "crvs-death-1") -> dict[str, str]:
    return {"id": event_id, "type": "death", "subject": who.person.id, "date": "2026-10-30"}


def test_death_revokes_every_certificate_tokens_sessions_and_account(
    lc_ctx: AppContext,
    client: TestClient,
    citizen: Citizen,
    pusher: dict[str, str],
    clock: FixedClock,
) -> None:
    every = citizen.certificates + citizen.gov_certificates
    for cert in every:
        assert ocsp_answer(client, lc_ctx, cert).certificate_status is ocsp.OCSPCertStatus.GOOD
    login(client, lc_ctx, citizen)
    assert client.get("/account", follow_redirects=False).status_code == 200
    account = lc_ctx.idp_accounts().find_by_person(citizen.person.id)
    assert account is not None
    later(clock)

    r = client.post("/registry/v1/events", json=death(citizen), headers=pusher)

    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "done"
    assert body["outcome_detail"]["certificates_revoked"] == len(every)
    assert r.headers["location"] == "/registry/v1/events/crvs-death-1"
    # OCSP, asked at the URL each certificate names, says revoked: cessationOfOperation.
    for cert in every:
        answer = ocsp_answer(client, lc_ctx, cert)
        assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
        assert answer.revocation_reason is x509.ReasonFlags.cessation_of_operation
    # The relying party's refresh token fails at /token.
    failed = refresh(
        client, lc_ctx.idp_core(), lc_ctx, citizen.rp, citizen.refresh_token, expect=400
    )
    assert failed["error"] == "invalid_grant"
    # The browser session is gone, the account closed, consents withdrawn, roles removed.
    assert client.get("/account", follow_redirects=False).status_code in (302, 303)
    now = lc_ctx.clock.now()
    assert (
        LoginSessions(lc_ctx.sessions, ledger=lc_ctx.ledger).list_for_account(account.id, at=now)
        == []
    )
    assert lc_ctx.idp_accounts().get(account.id).status is AccountStatus.DISABLED
    assert (
        Consents(lc_ctx.sessions, ledger=lc_ctx.ledger).list_for_account(account.id, at=now) == []
    )
    assert operator_service(lc_ctx).get("dara.ra").roles == frozenset()
    assert lc_ctx.register.get_person(citizen.person.id).status is PersonStatus.DECEASED
    assert not lc_ctx.register.get_servant(citizen.servant.id).active
    # Nobody logs in to the closed account, even with the right password and code.
    later(clock)
    again = browser_login(
        client,
        citizen.national_id,
        citizen.password,
        code=totp_code(citizen.totp_secret, lc_ctx.clock.now()),
    )
    assert again.status_code != 303 or "/login" in again.headers.get("location", "")


def test_death_event_replayed_is_not_applied_twice(
    lc_ctx: AppContext, client: TestClient, citizen: Citizen, pusher: dict[str, str]
) -> None:
    first = client.post("/registry/v1/events", json=death(citizen), headers=pusher)
    assert first.status_code == 201, first.text

    again = client.post("/registry/v1/events", json=death(citizen), headers=pusher)

    assert again.status_code == 200, again.text
    assert again.json()["received_at"] == first.json()["received_at"]
    with lc_ctx.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(RegisterEventRow))
    assert stored == 1
    events = [e.event for e in lc_ctx.ledger.tail(500)]
    assert events.count("registry.event.recorded") == 1
    assert events.count("idp.account.disabled") == 1
    # The same id for another event is a conflict, and changes nothing.
    other = {**death(citizen), "type": "name_change", "family_name_latin": "Chan"}
    clash = client.post("/registry/v1/events", json=other, headers=pusher)
    assert clash.status_code == 409, clash.text
    assert clash.headers["content-type"] == "application/problem+json"
