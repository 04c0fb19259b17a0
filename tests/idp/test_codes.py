"""Authorization codes: single use, at most 60 s, bound to client, redirect URI, PKCE S256 and
the DPoP key; reuse revokes the tokens issued from the code (oidcc-codereuse,
oidcc-codereuse-30seconds, fapi2 attempt-reuse-authorization-code-after-one-second)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.cache import CacheError, InMemoryCache
from core.clock import FixedClock
from core.errors import InvalidInput
from idp.codes import new_grant_id
from idp.errors import InvalidGrant, InvalidRequest, InvalidToken
from idp.pkce import s256_challenge
from idp.service import ProviderCore
from tests.idp._flow import PERSON, issue_code, secret_client


def _redeem(core: ProviderCore, code: str, verifier: str, client_id: str, at: dt.datetime,
            **kw: object):  # type: ignore[no-untyped-def]  # fmt: skip
    return core.codes.redeem(
        code,
        client_id=client_id,
        redirect_uri=kw.pop("redirect_uri", "https://portal.moh.gov.kh/cb"),  # type: ignore[arg-type]
        code_verifier=kw.pop("code_verifier", verifier),  # type: ignore[arg-type]
        dpop_jkt=kw.pop("dpop_jkt", None),  # type: ignore[arg-type]
        at=at,
    )


def test_rfc7636_appendix_b_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_code_redeems_once_with_everything_bound(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    assert len(code) >= 43
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    assert grant.subject == PERSON and grant.nonce == "n-0S6_WzA2Mj"
    assert grant.scopes == ("openid", "profile") and grant.amr == ("pwd", "otp")


def test_oidcc_codereuse(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    tokens = core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    with pytest.raises(InvalidGrant, match="already used"):
        _redeem(core, code, verifier, client.client_id, clock.now())
    # The tokens issued from the code are revoked: access token and refresh token.
    with pytest.raises(InvalidToken, match="revoked"):
        core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    assert tokens.refresh_token is not None
    with pytest.raises(InvalidGrant, match="revoked"):
        core.tokens.refresh(tokens.refresh_token, client=client, dpop_jkt=None, at=clock.now())


def test_oidcc_codereuse_30seconds(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    tokens = core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    clock.advance(dt.timedelta(seconds=30))
    with pytest.raises(InvalidGrant):
        _redeem(core, code, verifier, client.client_id, clock.now())
    introspected = core.tokens.introspect(tokens.access_token, client=client, at=clock.now())
    assert introspected == {"active": False}


def test_concurrent_first_redemption_is_revoked_by_the_reuse(
    core: ProviderCore, clock: FixedClock
) -> None:
    # The reuse arrives after the first redemption took the code but before it issued tokens.
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    with pytest.raises(InvalidGrant):
        _redeem(core, code, verifier, client.client_id, clock.now())
    with pytest.raises(InvalidGrant, match="used twice"):
        core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())


def test_ensure_token_endpoint_fails_with_expired_auth_code(
    core: ProviderCore, clock: FixedClock
) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    clock.advance(dt.timedelta(seconds=61))
    with pytest.raises(InvalidGrant):
        _redeem(core, code, verifier, client.client_id, clock.now())


def test_ensure_authorization_code_is_bound_to_client(
    core: ProviderCore, clock: FixedClock
) -> None:
    client, other = secret_client(core), secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    with pytest.raises(InvalidGrant, match="another client"):
        _redeem(core, code, verifier, other.client_id, clock.now())
    # Another client cannot spoil the code (RFC 6749 §4.1.3): the rightful client redeems it.
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    assert grant.client_id == client.client_id


def test_another_client_presenting_a_redeemed_code_revokes_nothing(
    core: ProviderCore, clock: FixedClock
) -> None:
    """Only a second redemption by the client the code was issued to is a reuse: any other
    registered client holding the code (from a log, a referrer) must not be able to revoke the
    tokens the rightful client got for it."""
    client, other = secret_client(core), secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    tokens = core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    with pytest.raises(InvalidGrant, match="another client"):
        _redeem(core, code, verifier, other.client_id, clock.now())
    assert core.tokens.verify_access_token(tokens.access_token, at=clock.now())
    assert tokens.refresh_token is not None
    core.tokens.refresh(tokens.refresh_token, client=client, dpop_jkt=None, at=clock.now())
    # The rightful client's own second redemption still revokes (oidcc-codereuse).
    with pytest.raises(InvalidGrant, match="already used"):
        _redeem(core, code, verifier, client.client_id, clock.now())
    with pytest.raises(InvalidToken, match="revoked"):
        core.tokens.verify_access_token(tokens.access_token, at=clock.now())


def test_redirect_uri_must_be_identical(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    with pytest.raises(InvalidGrant, match="redirect_uri"):
        _redeem(core, code, verifier, client.client_id, clock.now(),
                redirect_uri="https://portal.moh.gov.kh/cb/")  # fmt: skip


def test_incorrect_pkce_code_verifier_rejected(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    for bad in ("x" * 43 + "y", "short", "a" * 129, "é" * 43):
        code, verifier = issue_code(core, client, clock.now())
        with pytest.raises(InvalidGrant, match="code_verifier"):
            _redeem(core, code, verifier, client.client_id, clock.now(), code_verifier=bad)


def test_ensure_pkce_code_verifier_required(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    with pytest.raises(InvalidGrant, match="code_verifier is required"):
        _redeem(core, code, verifier, client.client_id, clock.now(), code_verifier=None)


def test_par_plain_pkce_rejected(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    for method in ("plain", None, "s256"):
        with pytest.raises(InvalidRequest, match="S256"):
            core.codes.issue(
                client_id=client.client_id, redirect_uri=client.redirect_uris[0], subject=PERSON,
                scopes=("openid",), code_challenge="a" * 43, code_challenge_method=method,
                auth_time=clock.now(), at=clock.now(),
            )  # fmt: skip
    with pytest.raises(InvalidRequest, match="code_challenge is required"):
        core.codes.issue(
            client_id=client.client_id, redirect_uri=client.redirect_uris[0], subject=PERSON,
            scopes=("openid",), code_challenge=None, code_challenge_method="S256",  # type: ignore[arg-type]
            auth_time=clock.now(), at=clock.now(),
        )  # fmt: skip


def test_ensure_mismatched_dpop_jkt_fails(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now(), dpop_jkt="jkt-of-the-rp")
    with pytest.raises(InvalidGrant, match="DPoP"):
        _redeem(core, code, verifier, client.client_id, clock.now(), dpop_jkt="another-jkt")
    code, verifier = issue_code(core, client, clock.now(), dpop_jkt="jkt-of-the-rp")
    with pytest.raises(InvalidGrant, match="DPoP"):
        _redeem(core, code, verifier, client.client_id, clock.now(), dpop_jkt=None)
    code, verifier = issue_code(core, client, clock.now(), dpop_jkt="jkt-of-the-rp")
    grant = _redeem(core, code, verifier, client.client_id, clock.now(), dpop_jkt="jkt-of-the-rp")
    assert grant.dpop_jkt == "jkt-of-the-rp"


def test_unknown_and_malformed_codes(core: ProviderCore, clock: FixedClock) -> None:
    client = secret_client(core)
    for code in ("", "x" * 500, "unknown-code"):
        with pytest.raises(InvalidGrant):
            _redeem(core, code, "v" * 43, client.client_id, clock.now())


def test_a_full_cache_refuses_new_codes_and_keeps_the_one_waiting(
    core: ProviderCore, clock: FixedClock, cache: InMemoryCache
) -> None:
    # A busy single-process deployment without Redis: the in-process cache evicted the entry
    # closest to expiry when full, which was the newest user's code; its exchange then found
    # only the reuse marker and revoked the grant as if the code had been stolen.
    client = secret_client(core)
    waiting, verifier = issue_code(core, client, clock.now())
    cache._max_entries = len(cache._data)  # full now, as after a day of logins
    with pytest.raises(CacheError, match="cache is full"):
        issue_code(core, client, clock.now())
    grant = _redeem(core, waiting, verifier, client.client_id, clock.now())
    tokens = core.tokens.exchange_code(grant, client=client, dpop_jkt=None, at=clock.now())
    assert core.tokens.verify_access_token(tokens.access_token, at=clock.now())


def test_grant_ids_sort_in_the_order_they_were_made(core: ProviderCore, clock: FixedClock) -> None:
    """The grants table's key index takes new rows at its end (docs/benchmarks.md, thirteenth
    round): an id made later sorts after, as a string, and ids of one instant still differ."""
    start = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    times = [start + dt.timedelta(milliseconds=m) for m in (0, 1, 999, 1000, 86_400_000)]
    times.append(dt.datetime(2200, 1, 1, tzinfo=dt.UTC))
    ids = [new_grant_id(t) for t in times]
    assert ids == sorted(ids)
    same_instant = {new_grant_id(start) for _ in range(1000)}
    assert len(same_instant) == 1000
    # The random part: 128 bits, base64url; the whole fits the grants table's id column.
    assert all(len(i) == 12 + 22 and len(i) <= 64 for i in same_instant)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        new_grant_id(dt.datetime(2026, 11, 24))

    # A code's grant carries such an id, of the time the code was issued.
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now())
    grant = _redeem(core, code, verifier, client.client_id, clock.now())
    assert grant.grant_id[:12] == f"{int(clock.now().timestamp() * 1000):012x}"
