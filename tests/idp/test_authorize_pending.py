"""Pending authorization requests (idp/authz_pending.py) and the error redirect."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.authorize import AuthorizationRequest, PendingAuthorizations, error_redirect_url
from idp.errors import InvalidRequest
from idp.pkce import s256_challenge
from idp.sessions import LoginSession
from registry.records import AssuranceLevel


def _request(at: dt.datetime, **kw: object) -> AuthorizationRequest:
    values: dict[str, object] = {
        "client_id": "c1", "client_name": "Portal", "redirect_uri": "https://rp.gov.kh/cb?x=1",
        "scopes": ("openid", "email"), "code_challenge": s256_challenge("v" * 43),
        "created_at": at, "state": "s1", "prompt": frozenset({"login"}),
        "claims": {"userinfo": {"email": {"essential": True}, "name": None}},
    }  # fmt: skip
    values.update(kw)
    return AuthorizationRequest(**values)  # type: ignore[arg-type]


def _session(at: dt.datetime, sid: str = "s-1") -> LoginSession:
    return LoginSession(
        id=sid, account_id="a-1", acr=AssuranceLevel.LOW, amr=("pwd",), auth_time=at,
        created_at=at, last_seen_at=at, expires_at=at + dt.timedelta(hours=1), clients=(),
        source=None, user_agent=None,
    )  # fmt: skip


def test_request_round_trips_and_names_what_consent_shows(clock: FixedClock) -> None:
    request = _request(clock.now())
    assert AuthorizationRequest.from_json(request.to_json()) == request
    assert request.optional_scopes == ("email",)
    assert request.requested_claim_names == ("email", "name")
    assert request.essential_claims == ("email",)


def test_a_login_after_the_request_is_recognised_on_a_clock_that_does_not_move(
    clock: FixedClock,
) -> None:
    pending = PendingAuthorizations(InMemoryCache(clock=clock))
    before = _session(clock.now())
    pending_id = pending.create(_request(clock.now()), session=before)
    record = pending.record(pending_id)
    assert not record.logged_in_since(before)
    assert not record.logged_in_since(None)
    assert record.logged_in_since(_session(clock.now(), sid="s-2"))
    pending.mark_login_done(pending_id, at=clock.now())
    assert pending.record(pending_id).logged_in_since(before)


def test_pending_request_expires_after_15_minutes(clock: FixedClock) -> None:
    pending = PendingAuthorizations(InMemoryCache(clock=clock))
    pending_id = pending.create(_request(clock.now()), session=None)
    assert pending.get(pending_id).client_id == "c1"
    clock.advance(dt.timedelta(minutes=15, seconds=1))
    with pytest.raises(InvalidRequest):
        pending.get(pending_id)


def test_error_redirect_keeps_the_registered_query_and_adds_state_and_iss(
    clock: FixedClock,
) -> None:
    url = error_redirect_url(
        _request(clock.now()), "access_denied", "the user said no", issuer="https://id.gov.kh"
    )
    parts = urlsplit(url)
    assert parts.netloc == "rp.gov.kh"
    assert parse_qs(parts.query) == {
        "x": ["1"], "error": ["access_denied"], "error_description": ["the user said no"],
        "state": ["s1"], "iss": ["https://id.gov.kh"],
    }  # fmt: skip
