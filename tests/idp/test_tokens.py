"""Tokens as a relying party and a resource server see them: ID tokens (OIDC Core §2) and
RFC 9068 access tokens that verify with python-jose and joserfc against the published JWKS;
refresh rotation with reuse detection; RFC 7662 introspection; RFC 7009 revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from jose import jwt as jose_jwt
from joserfc import jwt as rfc_jwt
from joserfc.jwk import KeySet

from core.audit import AuditLedger
from core.cache import CacheError, InMemoryCache
from core.clock import FixedClock
from idp.errors import (
    InvalidDPoPProof,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
)
from idp.jose import b64url_decode, b64url_encode
from idp.models import GrantRow
from idp.service import ProviderCore
from tests.idp._flow import PERSON, redeemed_grant, secret_client
from tests.idp.conftest import ISSUER, make_client_keys


def _tokens(core: ProviderCore, clock: FixedClock, *, dpop_jkt: str | None = None, **kw: object):  # type: ignore[no-untyped-def]  # fmt: skip
    client = kw.pop("client", None) or secret_client(core)  # type: ignore[arg-type]
    grant = redeemed_grant(core, client, clock.now(), dpop_jkt=dpop_jkt)  # type: ignore[arg-type]
    return client, core.tokens.exchange_code(
        grant,
        client=client,
        dpop_jkt=dpop_jkt,
        at=clock.now(),
        **kw,  # type: ignore[arg-type]
    )


def test_oidcc_server_id_token_verifies_with_both_libraries(
    core: ProviderCore, clock: FixedClock
) -> None:
    client, tokens = _tokens(core, clock, id_token_claims={"name": "Sok Dara", "iss": "evil"})
    assert tokens.id_token is not None and tokens.token_type == "Bearer"
    jwks = core.signing_keys.jwks(at=clock.now())
    now = int(clock.now().timestamp())
    # python-jose, as a Python RP would (its clock is the real one: skip time checks).
    claims = jose_jwt.decode(
        tokens.id_token, jwks, algorithms=["ES256"], audience=client.client_id, issuer=ISSUER,
        access_token=tokens.access_token, options={"verify_exp": False, "verify_iat": False},
    )  # fmt: skip
    # joserfc, independently.
    token = rfc_jwt.decode(tokens.id_token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert token.claims == claims
    assert claims["iss"] == ISSUER and claims["aud"] == client.client_id
    assert claims["azp"] == client.client_id and claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["iat"] == now and claims["exp"] == now + 600
    assert claims["auth_time"] == now - 60 and claims["acr"] == "substantial"
    assert claims["amr"] == ["pwd", "otp"] and claims["sid"] == "session-1"
    assert claims["name"] == "Sok Dara"  # extra claims pass, reserved ones cannot be overridden
    # at_hash: left half of SHA-256 of the access token (OIDC Core §3.1.3.6).
    digest = hashlib.sha256(tokens.access_token.encode()).digest()[:16]
    assert claims["at_hash"] == b64url_encode(digest)
    # The pairwise sub is not the register id, and is what UserInfo will report.
    assert claims["sub"] != PERSON and claims["sub"] == core.tokens.subject_for(client, PERSON)
    header = json.loads(b64url_decode(tokens.id_token.split(".")[0]))
    assert header["alg"] == "ES256" and header["kid"] == jwks["keys"][0]["kid"]


def test_access_token_is_rfc9068(core: ProviderCore, clock: FixedClock) -> None:
    client, tokens = _tokens(core, clock)
    header = json.loads(b64url_decode(tokens.access_token.split(".")[0]))
    assert header["typ"] == "at+jwt"
    jwks = KeySet.import_key_set(core.signing_keys.jwks(at=clock.now()))
    claims = rfc_jwt.decode(tokens.access_token, jwks, algorithms=["ES256"]).claims
    for name in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti", "scope", "auth_time"):
        assert name in claims
    assert claims["client_id"] == client.client_id and claims["scope"] == "openid profile"
    info = core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    assert info.subject == PERSON and info.scopes == ("openid", "profile")
    # An ID token is not an access token (typ differs).
    with pytest.raises(InvalidToken, match="typ"):
        core.tokens.verify_access_token(tokens.id_token or "", at=clock.now())
    clock.advance(dt.timedelta(minutes=10))
    with pytest.raises(InvalidToken, match="expired"):
        core.tokens.verify_access_token(tokens.access_token, at=clock.now())


def test_dpop_bound_tokens(core: ProviderCore, clock: FixedClock) -> None:
    _, tokens = _tokens(core, clock, dpop_jkt="thumbprint-of-rp-key")
    assert tokens.token_type == "DPoP"
    info = core.tokens.verify_access_token(
        tokens.access_token, at=clock.now(), dpop_jkt="thumbprint-of-rp-key"
    )
    assert info.claims["cnf"] == {"jkt": "thumbprint-of-rp-key"}
    # A stolen DPoP-bound token is useless without the key (RFC 9449 §7.1).
    for jkt in (None, "another-key"):
        with pytest.raises(InvalidToken, match="DPoP"):
            core.tokens.verify_access_token(tokens.access_token, at=clock.now(), dpop_jkt=jkt)


def test_ensure_holder_of_key_required(core: ProviderCore, clock: FixedClock) -> None:
    rp = make_client_keys()
    fapi = core.clients.add(
        name="bank", redirect_uris=["https://bank.example/cb"], auth_method="private_key_jwt",
        jwks=rp.jwks, fapi2=True,
    ).client  # fmt: skip
    with pytest.raises(InvalidDPoPProof):
        _tokens(core, clock, client=fapi)


def test_refresh_token_rotation(core: ProviderCore, clock: FixedClock) -> None:
    client, first = _tokens(core, clock)
    assert first.refresh_token is not None
    clock.advance(dt.timedelta(minutes=5))
    second = core.tokens.refresh(first.refresh_token, client=client, dpop_jkt=None, at=clock.now())
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.id_token is not None
    refreshed = rfc_jwt.decode(
        second.id_token, KeySet.import_key_set(core.signing_keys.jwks(at=clock.now()))
    ).claims
    # OIDC Core §12.2: same sub and auth_time, new iat, no nonce.
    original = rfc_jwt.decode(
        first.id_token or "", KeySet.import_key_set(core.signing_keys.jwks(at=clock.now()))
    ).claims
    assert refreshed["sub"] == original["sub"] and refreshed["auth_time"] == original["auth_time"]
    assert refreshed["iat"] > original["iat"] and "nonce" not in refreshed
    # A narrower scope is allowed, a wider one is not.
    third = core.tokens.refresh(
        second.refresh_token or "", client=client, dpop_jkt=None, at=clock.now(), scope=["openid"]
    )
    assert third.scope == "openid"
    with pytest.raises(InvalidScope):
        core.tokens.refresh(
            third.refresh_token or "", client=client, dpop_jkt=None, at=clock.now(),
            scope=["openid", "email"],
        )  # fmt: skip


def test_refresh_token_reuse_revokes_the_family(
    core: ProviderCore, clock: FixedClock, ledger: AuditLedger
) -> None:
    client, first = _tokens(core, clock)
    second = core.tokens.refresh(first.refresh_token or "", client=client, dpop_jkt=None,
                                 at=clock.now())  # fmt: skip
    # The old refresh token comes back (a thief, or the client after the thief): all revoked.
    with pytest.raises(InvalidGrant, match="already used"):
        core.tokens.refresh(first.refresh_token or "", client=client, dpop_jkt=None, at=clock.now())
    with pytest.raises(InvalidGrant, match="revoked"):
        core.tokens.refresh(second.refresh_token or "", client=client, dpop_jkt=None,
                            at=clock.now())  # fmt: skip
    for token in (first.access_token, second.access_token):
        with pytest.raises(InvalidToken, match="revoked"):
            core.tokens.verify_access_token(token, at=clock.now())
    revoked = [e for e in ledger.tail(10) if e.event == "idp.grant.revoked"]
    assert revoked and revoked[-1].data["reason"] == "refresh_token_reuse"
    assert revoked[-1].subject == PERSON


def test_refresh_token_bound_to_client(core: ProviderCore, clock: FixedClock) -> None:
    _, tokens = _tokens(core, clock)
    other = secret_client(core)
    with pytest.raises(InvalidGrant, match="another client"):
        core.tokens.refresh(tokens.refresh_token or "", client=other, dpop_jkt=None,
                            at=clock.now())  # fmt: skip


def test_refresh_tokens_stored_only_as_hashes(
    core: ProviderCore, clock: FixedClock, session_factory: object
) -> None:
    from sqlalchemy import text

    _, tokens = _tokens(core, clock)
    with session_factory() as session:  # type: ignore[operator]
        rows = session.execute(text("SELECT token_sha256 FROM idp_refresh_tokens")).all()
    assert rows and all(tokens.refresh_token not in r[0] for r in rows)


def test_introspection(core: ProviderCore, clock: FixedClock) -> None:
    client, tokens = _tokens(core, clock, dpop_jkt="jkt-1")
    body = core.tokens.introspect(tokens.access_token, client=client, at=clock.now())
    assert body["active"] is True and body["client_id"] == client.client_id
    assert body["token_type"] == "DPoP" and body["cnf"] == {"jkt": "jkt-1"}
    assert body["scope"] == "openid profile" and body["iss"] == ISSUER
    refresh = core.tokens.introspect(tokens.refresh_token or "", client=client, at=clock.now())
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    other = secret_client(core)
    inactive = {"active": False}
    # Another client's token, garbage, an ID token, expired: all just inactive.
    assert core.tokens.introspect(tokens.access_token, client=other, at=clock.now()) == inactive
    for junk in ("", "x", "a.b.c", "x" * 20000, tokens.id_token or ""):
        assert core.tokens.introspect(junk, client=client, at=clock.now()) == inactive
    clock.advance(dt.timedelta(minutes=11))
    assert core.tokens.introspect(tokens.access_token, client=client, at=clock.now()) == inactive


def test_revocation(core: ProviderCore, clock: FixedClock) -> None:
    client, tokens = _tokens(core, clock)
    other = secret_client(core)
    # Another client cannot revoke it (refused, RFC 7009 §2.1); garbage is ignored (§2.2).
    with pytest.raises(InvalidRequest):
        core.tokens.revoke(tokens.access_token, client=other, at=clock.now())
    core.tokens.revoke("garbage", client=client, at=clock.now())
    assert core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    # Revoking the access token revokes only that one.
    core.tokens.revoke(tokens.access_token, client=client, at=clock.now())
    assert core.tokens.introspect(tokens.access_token, client=client, at=clock.now()) == {
        "active": False
    }
    assert core.tokens.introspect(tokens.refresh_token or "", client=client, at=clock.now())[
        "active"
    ]
    # Revoking the refresh token revokes the grant: refresh and every access token.
    second = core.tokens.refresh(tokens.refresh_token or "", client=client, dpop_jkt=None,
                                 at=clock.now())  # fmt: skip
    core.tokens.revoke(second.refresh_token or "", client=client, at=clock.now())
    with pytest.raises(InvalidToken, match="revoked"):
        core.tokens.verify_access_token(second.access_token, at=clock.now())
    with pytest.raises(InvalidGrant):
        core.tokens.refresh(second.refresh_token or "", client=client, dpop_jkt=None,
                            at=clock.now())  # fmt: skip


def test_revoking_another_clients_live_tokens_is_refused_and_revokes_nothing(
    core: ProviderCore, clock: FixedClock, ledger: AuditLedger
) -> None:
    """RFC 7009 §2.1: a client holding another client's token (a leak, or a confused client)
    cannot end that client's grant; it is told so, without learning whose token it is."""
    client, tokens = _tokens(core, clock, issue_refresh_token=True)
    other = secret_client(core)
    before = len(ledger.tail(100))
    for token in (tokens.access_token, tokens.refresh_token or ""):
        with pytest.raises(InvalidRequest) as refused:
            core.tokens.revoke(token, client=other, at=clock.now())
        assert client.client_id not in refused.value.description
    assert core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    assert core.tokens.introspect(tokens.refresh_token or "", client=client, at=clock.now())[
        "active"
    ]
    assert len(ledger.tail(100)) == before  # nothing revoked, so nothing audited


def test_revoking_another_clients_dead_tokens_is_ignored(
    core: ProviderCore, clock: FixedClock
) -> None:
    """RFC 7009 §2.2: an invalid token - here used or expired - is answered as if revoked,
    whoever it was issued to; only live tokens are refused to other clients."""
    client, tokens = _tokens(core, clock, issue_refresh_token=True)
    other = secret_client(core)
    rotated = core.tokens.refresh(tokens.refresh_token or "", client=client, dpop_jkt=None,
                                  at=clock.now())  # fmt: skip
    core.tokens.revoke(tokens.refresh_token or "", client=other, at=clock.now())  # used
    clock.advance(dt.timedelta(minutes=11))
    core.tokens.revoke(rotated.access_token, client=other, at=clock.now())  # expired
    # The legitimate client's grant lives on.
    assert core.tokens.introspect(rotated.refresh_token or "", client=client, at=clock.now())[
        "active"
    ]


def test_token_signed_by_rotated_out_key_still_verifies(
    core: ProviderCore, clock: FixedClock
) -> None:
    core.signing_keys.rotate()  # publishes the next key
    clock.advance(core.signing_keys.cache_period)
    client, old = _tokens(core, clock)  # still signed by the old key
    core.signing_keys.rotate()  # promotes the next key, retires the old one
    _, fresh = _tokens(core, clock, client=client)
    kid = [
        json.loads(b64url_decode(t.split(".")[0]))["kid"]
        for t in (old.access_token, fresh.access_token)
    ]
    assert kid[0] != kid[1] == core.signing_keys.signing_key().kid
    for token in (old.access_token, fresh.access_token):
        assert core.tokens.verify_access_token(token, at=clock.now()).client_id == client.client_id


def test_token_events_audited_without_secrets(
    core: ProviderCore, clock: FixedClock, ledger: AuditLedger
) -> None:
    _, tokens = _tokens(core, clock)
    entries = [e for e in ledger.tail(20) if e.event.startswith("idp.token")]
    assert [e.event for e in entries] == ["idp.token.issued"]
    dumped = json.dumps([e.data for e in entries])
    assert tokens.access_token not in dumped and (tokens.refresh_token or "") not in dumped


def test_a_cache_failure_after_the_grant_commits_issues_no_token_and_revokes_it(
    core: ProviderCore,
    clock: FixedClock,
    ledger: AuditLedger,
    cache: InMemoryCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Redis goes away between the grant's commit and the code-reuse check that follows it.
    client = secret_client(core)
    grant = redeemed_grant(core, client, clock.now())

    def unreachable(key: str) -> bytes | None:
        raise CacheError("the Redis cache failed: ConnectionError")

    monkeypatch.setattr(cache, "get", unreachable)
    with pytest.raises(CacheError):
        core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    monkeypatch.undo()
    with core.tokens._db(read=True) as session:
        row = session.get(GrantRow, grant.grant_id)
        assert row is not None
        assert (row.revoked_at is not None, row.revoke_reason) == (True, "cache_unavailable")
    events = [(e.event, e.data.get("reason")) for e in ledger.tail(5)]
    assert events[-2:] == [("idp.token.issued", None), ("idp.grant.revoked", "cache_unavailable")]
    assert cache.get(f"idp:grant-revoked:{grant.grant_id}") is None  # no marker was written
