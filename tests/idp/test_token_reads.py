"""The access-token check reads its grant and the revoked ``jti`` list in one statement
(idp/token_reads.py), and answers exactly as the ORM reads it replaces: a live token, a token
revoked alone (RFC 7009), a token of a revoked grant, a token of a grant that is gone."""

from __future__ import annotations

from typing import Any

import pytest

from core.clock import FixedClock
from idp.clients import Client
from idp.errors import InvalidToken
from idp.models import GrantRow
from idp.service import ProviderCore
from idp.token_reads import token_reads_for
from idp.tokens import TokenResponse
from tests.idp._flow import issue_code, redeemed_grant, secret_client


def _issue(core: ProviderCore, client: Client, clock: FixedClock) -> TokenResponse:
    code, verifier = issue_code(core, client, clock.now())
    grant = core.codes.redeem(
        code, client_id=client.client_id, redirect_uri=client.redirect_uris[0],
        code_verifier=verifier, dpop_jkt=None, at=clock.now(),
    )  # fmt: skip
    return core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())


def _answer(core: ProviderCore, token: str, clock: FixedClock) -> str:
    try:
        info = core.tokens.verify_access_token(token, at=clock.now())
    except InvalidToken as exc:
        return str(exc)
    return f"active for {info.client_id}"


def _general(core: ProviderCore, token: str, clock: FixedClock) -> str:
    """The same check through the ORM path (what a shared-connection engine uses)."""
    reads, core.tokens._reads = core.tokens._reads, None
    try:
        return _answer(core, token, clock)
    finally:
        core.tokens._reads = reads


def _counting(core: ProviderCore, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    reads = core.tokens._reads
    assert reads is not None, "a file or PostgreSQL database gets the held-connection read"
    calls: list[dict[str, Any]] = []
    reader = reads._reader
    fetch = reader.fetch_params

    def counted(params: Any) -> Any:
        calls.append(dict(params))
        return fetch(params)

    monkeypatch.setattr(reader, "fetch_params", counted)
    return calls


def test_one_read_per_check_and_the_same_answers_as_the_orm(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = secret_client(core)
    live, revoked_alone, of_revoked_grant = (_issue(core, client, clock) for _ in range(3))
    core.tokens.revoke(revoked_alone.access_token, client=client, at=clock.now())
    core.tokens.revoke_grant(of_revoked_grant.grant_id, reason="logout", at=clock.now())
    calls = _counting(core, monkeypatch)

    answers = {
        name: _answer(core, response.access_token, clock)
        for name, response in (
            ("live", live),
            ("revoked alone", revoked_alone),
            ("grant revoked", of_revoked_grant),
        )
    }

    assert answers == {
        "live": f"active for {client.client_id}",
        "revoked alone": "the access token has been revoked",
        "grant revoked": "the access token has been revoked",
    }
    assert len(calls) == 3  # one statement per check, not one for the grant and one for the jti
    for name, response in (
        ("live", live),
        ("revoked alone", revoked_alone),
        ("grant revoked", of_revoked_grant),
    ):
        assert _general(core, response.access_token, clock) == answers[name]


def test_a_token_whose_grant_is_gone_is_refused(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = secret_client(core)
    grant = redeemed_grant(core, client, clock.now())
    response = core.tokens.exchange_code(
        grant, client=client, dpop_jkt=None, at=clock.now(), issue_refresh_token=False
    )
    with core.tokens._sessions.begin() as session:  # e.g. removed by a retention job
        session.delete(session.get(GrantRow, response.grant_id))
    calls = _counting(core, monkeypatch)

    assert _answer(core, response.access_token, clock) == "the access token has been revoked"
    assert len(calls) == 1
    assert _general(core, response.access_token, clock) == "the access token has been revoked"


def test_a_revocation_by_another_connection_is_seen_by_the_next_check(
    core: ProviderCore, clock: FixedClock
) -> None:
    client = secret_client(core)
    response = _issue(core, client, clock)
    assert _answer(core, response.access_token, clock) == f"active for {client.client_id}"
    # Revoked through the ORM session (another connection than the held one): no caching.
    core.tokens.revoke(response.access_token, client=client, at=clock.now())
    assert _answer(core, response.access_token, clock) == "the access token has been revoked"
    assert token_reads_for(core.tokens._sessions) is not None
