"""A registered client over its life, as an operator runs it (on SQLite and PostgreSQL): key
rotation, a new secret, disabling a compromised client (it is cut off and its tokens die) and
enabling it again, names citizens can tell apart, and refused changes that store nothing."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import InMemoryCache
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from idp.clients import (
    CLIENT_ASSERTION_TYPE,
    CLIENT_DISABLED_REASON,
    Client,
    ClientNameTaken,
    ClientRegistry,
)
from idp.errors import (
    ClientNotFound,
    InvalidClient,
    InvalidClientMetadata,
    InvalidGrant,
    InvalidRedirectUri,
    InvalidToken,
)
from idp.models import GrantRow
from idp.service import ProviderCore, build_provider_core
from tests.idp._flow import redeemed_grant
from tests.idp.conftest import ISSUER, SALT, TOKEN_URL, RPKey, assertion, make_client_keys


@pytest.fixture
def registry(core: ProviderCore) -> ClientRegistry:
    return core.clients


def _bank(registry: ClientRegistry, rp: RPKey, name: str = "ABA Bank") -> Client:
    return registry.add(
        name=name,
        redirect_uris=["https://bank.example.com.kh/cb"],
        auth_method="private_key_jwt",
        jwks=rp.jwks,
        fapi2=True,
    ).client


def _portal(registry: ClientRegistry, name: str = "Ministry portal") -> tuple[Client, str]:
    added = registry.add(
        name=name, redirect_uris=["https://portal.moh.gov.kh/cb"], auth_method="client_secret_basic"
    )
    assert added.client_secret is not None
    return added.client, added.client_secret


def _by_jwt(registry: ClientRegistry, rp: RPKey, client_id: str, at: dt.datetime) -> Client:
    return registry.authenticate(
        client_id=client_id,
        method="private_key_jwt",
        assertion=assertion(rp, client_id, at=at),
        assertion_type=CLIENT_ASSERTION_TYPE,
        endpoint_url=TOKEN_URL,
        at=at,
    )


def _by_secret(registry: ClientRegistry, client_id: str, secret: str, at: dt.datetime) -> Client:
    return registry.authenticate(
        client_id=client_id,
        method="client_secret_basic",
        secret=secret,
        endpoint_url=TOKEN_URL,
        at=at,
    )


def _entries(ledger: AuditLedger, client_id: str) -> list[Any]:
    return [e for e in ledger.tail(200) if e.subject == client_id]


# --- key rotation and new secrets ------------------------------------------------------------


def test_rotated_keys_refuse_assertions_signed_with_the_old_key(
    registry: ClientRegistry, clock: FixedClock, ledger: AuditLedger
) -> None:
    old, new = make_client_keys(kid="bank-2026"), make_client_keys(kid="bank-2027")
    bank = _bank(registry, old)
    now = clock.now()
    assert _by_jwt(registry, old, bank.client_id, now).client_id == bank.client_id
    updated = registry.update(bank.client_id, jwks=new.jwks, actor="op-1")
    assert updated.client_id == bank.client_id and updated.jwks == tuple(new.jwks["keys"])
    # The stolen (old) key no longer authenticates; the bank's new one does, same client_id.
    with pytest.raises(InvalidClient, match=r"does not verify|kid"):
        _by_jwt(registry, old, bank.client_id, now)
    assert _by_jwt(registry, new, bank.client_id, now).client_id == bank.client_id
    assert registry.get(bank.client_id).fapi2 and registry.get(bank.client_id).require_dpop
    entry = next(e for e in _entries(ledger, bank.client_id) if e.event == "idp.client.updated")
    assert entry.actor == "op-1" and entry.data == {"changed": ["jwks"]}


def test_a_fapi_client_keeps_its_key_rules_on_update(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys("PS256")
    bank = _bank(registry, rp)
    rs256 = make_client_keys("PS256").jwks
    rs256["keys"][0]["alg"] = "RS256"
    leaked = {"keys": [make_client_keys().private.as_dict(private=True)]}
    for jwks, why in ((rs256, "RS256"), (leaked, "public keys only"), ({"keys": []}, "1 to")):
        with pytest.raises(InvalidClientMetadata, match=why):
            registry.update(bank.client_id, jwks=jwks)
    with pytest.raises(InvalidRedirectUri, match="FAPI"):
        registry.update(bank.client_id, redirect_uris=["http://localhost/cb"])
    # Nothing was stored: the registered key still works, the URI is unchanged.
    assert registry.get(bank.client_id) == bank
    assert _by_jwt(registry, rp, bank.client_id, clock.now()).client_id == bank.client_id


def test_new_secret_works_and_the_old_one_stops(
    registry: ClientRegistry, clock: FixedClock, ledger: AuditLedger
) -> None:
    portal, old_secret = _portal(registry)
    now = clock.now()
    _by_secret(registry, portal.client_id, old_secret, now)
    rotated = registry.rotate_secret(portal.client_id, actor="op-1")
    assert rotated.client_secret is not None and rotated.client_secret != old_secret
    with pytest.raises(InvalidClient):
        _by_secret(registry, portal.client_id, old_secret, now)
    assert _by_secret(registry, portal.client_id, rotated.client_secret, now) == rotated.client
    # A private_key_jwt client has no secret to rotate: refused, nothing changes.
    bank = _bank(registry, make_client_keys())
    with pytest.raises(InvalidClientMetadata, match="no secret"):
        registry.rotate_secret(bank.client_id)
    assert registry.get(bank.client_id) == bank
    entry = next(
        e for e in _entries(ledger, portal.client_id) if e.event == "idp.client.secret_rotated"
    )
    assert rotated.client_secret not in json.dumps(entry.data)


def test_update_changes_only_what_is_given(registry: ClientRegistry, ledger: AuditLedger) -> None:
    portal, _ = _portal(registry)
    updated = registry.update(
        portal.client_id,
        redirect_uris=["https://portal.moh.gov.kh/callback"],
        post_logout_redirect_uris=["https://portal.moh.gov.kh/bye"],
        actor="op-1",
    )
    assert updated.redirect_uris == ("https://portal.moh.gov.kh/callback",)
    assert updated.post_logout_redirect_uris == ("https://portal.moh.gov.kh/bye",)
    assert (updated.name, updated.scopes, updated.sector) == (
        portal.name, portal.scopes, portal.sector
    )  # fmt: skip
    renamed = registry.update(portal.client_id, name="  Ministry of Health portal ")
    assert renamed.name == "Ministry of Health portal"
    assert renamed.redirect_uris == updated.redirect_uris
    # The same values again change nothing and write no audit entry.
    before = len(_entries(ledger, portal.client_id))
    registry.update(portal.client_id, name="Ministry of Health portal")
    assert len(_entries(ledger, portal.client_id)) == before
    changes = [
        e.data for e in _entries(ledger, portal.client_id) if e.event == "idp.client.updated"
    ]
    assert changes == [{"changed": ["redirect_uris", "post_logout_redirect_uris"]},
                       {"changed": ["name"]}]  # fmt: skip
    # The sector (hence every citizen's pairwise sub) never moves with the redirect URIs.
    moved = registry.update(portal.client_id, redirect_uris=["https://moh.gov.kh/cb"])
    assert moved.sector == portal.sector


def test_bad_updates_are_refused_and_store_nothing(
    registry: ClientRegistry, ledger: AuditLedger
) -> None:
    portal, _ = _portal(registry)
    before = len(_entries(ledger, portal.client_id))
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"redirect_uris": []}, InvalidClientMetadata),
        ({"redirect_uris": ["https://portal.moh.gov.kh/cb#x"]}, InvalidRedirectUri),
        ({"post_logout_redirect_uris": ["javascript:alert(1)"]}, InvalidRedirectUri),
        ({"name": "   "}, InvalidClientMetadata),
        ({"name": "x" * 101}, InvalidClientMetadata),
        ({"scopes": ["openid", "bad scope"]}, InvalidClientMetadata),
        ({"jwks": make_client_keys().jwks}, InvalidClientMetadata),  # not private_key_jwt
        # a good change together with a bad one: neither is stored
        ({"name": "New name", "redirect_uris": ["http://portal.moh.gov.kh/cb"]},
         InvalidRedirectUri),
    ]  # fmt: skip
    for change, error in cases:
        with pytest.raises(error):
            registry.update(portal.client_id, **change)
    assert registry.get(portal.client_id) == portal
    assert len(_entries(ledger, portal.client_id)) == before
    with pytest.raises(ClientNotFound):
        registry.update("no-such-client", name="x")
    with pytest.raises(ClientNotFound):
        registry.disable("no-such-client", actor="op-1", reason="x")
    with pytest.raises(InvalidClientMetadata, match="reason"):
        registry.disable(portal.client_id, actor="op-1", reason=" ")
    assert not registry.get(portal.client_id).disabled


# --- disabling --------------------------------------------------------------------------------


def test_disabled_client_is_cut_off_and_its_tokens_die(
    core: ProviderCore,
    clock: FixedClock,
    ledger: AuditLedger,
    session_factory: sessionmaker[Session],
) -> None:
    registry = core.clients
    portal, secret = _portal(registry)
    now = clock.now()
    tokens = core.tokens.exchange_code(
        redeemed_grant(core, portal, now, scopes=("openid", "offline_access")),
        client=portal, dpop_jkt=None, at=now,
    )  # fmt: skip
    assert tokens.refresh_token is not None
    core.tokens.verify_access_token(tokens.access_token, at=now)
    other, other_secret = _portal(registry, "Tax office")
    other_tokens = core.tokens.exchange_code(
        redeemed_grant(core, other, now), client=other, dpop_jkt=None, at=now
    )

    disabled = registry.disable(portal.client_id, actor="op-1", reason="assertion key leaked")
    assert disabled.disabled and disabled.disabled_reason == "assertion key leaked"
    # No authentication at the token, PAR, introspection or revocation endpoints.
    with pytest.raises(InvalidClient) as refused:
        _by_secret(registry, portal.client_id, secret, now)
    assert refused.value.http_status == 401 and str(refused.value) == "client authentication failed"
    # Whatever serves the client (the authorization endpoint, logout) no longer finds it;
    # operators still do.
    with pytest.raises(ClientNotFound, match="disabled"):
        registry.get(portal.client_id)
    assert registry.get(portal.client_id, include_disabled=True).disabled
    assert {c.client_id: c.disabled for c in registry.list()} == {
        portal.client_id: True, other.client_id: False
    }  # fmt: skip
    # Its tokens stop working: the access token at UserInfo and introspection, the refresh token.
    with pytest.raises(InvalidToken, match="revoked"):
        core.tokens.verify_access_token(tokens.access_token, at=now)
    assert core.tokens.introspect(tokens.access_token, client=portal, at=now) == {"active": False}
    with pytest.raises(InvalidGrant, match="revoked"):
        core.tokens.refresh(tokens.refresh_token, client=portal, dpop_jkt=None, at=now)
    with session_factory() as session:
        reasons = session.scalars(
            select(GrantRow.revoke_reason).where(GrantRow.client_id == portal.client_id)
        ).all()
    assert reasons == [CLIENT_DISABLED_REASON]
    # Another client is untouched.
    _by_secret(registry, other.client_id, other_secret, now)
    core.tokens.verify_access_token(other_tokens.access_token, at=now)
    entry = next(e for e in _entries(ledger, portal.client_id) if e.event == "idp.client.disabled")
    assert entry.actor == "op-1"
    assert entry.data == {
        "reason": "assertion key leaked", "grants_revoked": 1, "already_disabled": False
    }  # fmt: skip

    # Enabled again: it authenticates and gets new tokens; the old ones stay revoked.
    enabled = registry.enable(portal.client_id, actor="op-1")
    assert not enabled.disabled and enabled.disabled_reason is None
    assert _by_secret(registry, portal.client_id, secret, now).client_id == portal.client_id
    assert registry.get(portal.client_id) == enabled
    with pytest.raises(InvalidToken):
        core.tokens.verify_access_token(tokens.access_token, at=now)
    with pytest.raises(InvalidGrant):
        core.tokens.refresh(tokens.refresh_token, client=enabled, dpop_jkt=None, at=now)
    fresh = core.tokens.exchange_code(
        redeemed_grant(core, enabled, now), client=enabled, dpop_jkt=None, at=now
    )
    core.tokens.verify_access_token(fresh.access_token, at=now)
    kinds = [
        e.event for e in _entries(ledger, portal.client_id) if e.event.startswith("idp.client")
    ]
    assert kinds == ["idp.client.added", "idp.client.disabled", "idp.client.enabled"]


def test_disabled_private_key_jwt_client_cannot_authenticate(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    bank = _bank(registry, rp)
    registry.disable(bank.client_id, actor="op-1", reason="compromised")
    with pytest.raises(InvalidClient):
        _by_jwt(registry, rp, bank.client_id, clock.now())
    # Its keys can be replaced while it is disabled, then it is let back in with the new one.
    new = make_client_keys(kid="rp-key-2")
    registry.update(bank.client_id, jwks=new.jwks)
    with pytest.raises(InvalidClient):
        _by_jwt(registry, new, bank.client_id, clock.now())
    registry.enable(bank.client_id, actor="op-1")
    with pytest.raises(InvalidClient):
        _by_jwt(registry, rp, bank.client_id, clock.now())
    assert _by_jwt(registry, new, bank.client_id, clock.now()).client_id == bank.client_id


def test_a_worker_with_a_cached_copy_sees_the_disable_at_once(
    core: ProviderCore,
    clock: FixedClock,
    session_factory: sessionmaker[Session],
    backend: SoftKeyBackend,
    cache: InMemoryCache,
    ledger: AuditLedger,
) -> None:
    portal, secret = _portal(core.clients)
    # A second worker on the same database and shared cache, holding a copy of the client.
    worker = build_provider_core(
        session_factory, cache=cache, keys=backend, ledger=ledger, clock=clock,
        issuer=ISSUER + "/", pairwise_salt=SALT,
    )  # fmt: skip
    _by_secret(worker.clients, portal.client_id, secret, clock.now())
    core.clients.disable(portal.client_id, actor="op-1", reason="compromised")
    with pytest.raises(InvalidClient):
        _by_secret(worker.clients, portal.client_id, secret, clock.now())


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "taken", ["ABA Bank", "aba bank", "  ABA   BANK ", "ＡＢＡ Ｂａｎｋ", "ABA\u00a0Bank"]
)
def test_duplicate_names_refused_with_nothing_stored(
    registry: ClientRegistry, ledger: AuditLedger, taken: str
) -> None:
    first = _bank(registry, make_client_keys(), name="ABA Bank")
    with pytest.raises(ClientNameTaken, match=first.client_id) as refused:
        registry.add(
            name=taken, redirect_uris=["https://evil.example/cb"], auth_method="client_secret_post"
        )
    assert refused.value.http_status == 409 and refused.value.code == "client_name_taken"
    assert [c.client_id for c in registry.list()] == [first.client_id]
    # Renaming another client to it is refused too, and changes nothing.
    other, _ = _portal(registry, "Acleda Bank")
    with pytest.raises(ClientNameTaken):
        registry.update(other.client_id, name=taken, redirect_uris=["https://x.gov.kh/cb"])
    assert registry.get(other.client_id) == other
    added = [e for e in ledger.tail(200) if e.event == "idp.client.added"]
    assert len(added) == 2


def test_a_client_may_recase_its_own_name_and_free_the_old_one(registry: ClientRegistry) -> None:
    bank = _bank(registry, make_client_keys(), name="aba bank")
    assert registry.update(bank.client_id, name="ABA Bank").name == "ABA Bank"
    registry.update(bank.client_id, name="ABA Bank Plc.")
    # The old name is free again.
    _portal(registry, "ABA Bank")


def test_audit_entries_carry_no_secret_or_key(
    registry: ClientRegistry, ledger: AuditLedger
) -> None:
    portal, secret = _portal(registry)
    rotated = registry.rotate_secret(portal.client_id)
    rp, new = make_client_keys("PS256"), make_client_keys("PS256", kid="k2")
    bank = _bank(registry, rp)
    registry.update(bank.client_id, jwks=new.jwks, name="ABA Bank Plc.")
    registry.disable(bank.client_id, actor="op-1", reason="rotation drill")
    registry.enable(bank.client_id, actor="op-1")
    text = json.dumps([e.data for e in ledger.tail(200)])
    for value in (secret, rotated.client_secret):
        assert value is not None and value not in text
    for key in (rp.jwks["keys"][0], new.jwks["keys"][0]):
        assert key["n"] not in text
