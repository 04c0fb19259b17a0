"""Health-credential gaps: revocation by hash, foreign signers republished, trust lists from a
URL, phase-wise batch verification, and property tests of the issuing encoders and list parsers.

Service tests run on SQLite and PostgreSQL (the ``world`` fixture's database).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.ca._issuance import (
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
)
from tests.vaccine_cert._health import VACCINATION, World, independent_decode, world
from tests.vaccine_cert.conftest import make_dsc, sign_hc1, vaccination_dcc
from vaccine_cert.errors import (
    AlreadyRevoked,
    InvalidDccRecord,
    InvalidRevocationHash,
    TrustListRejected,
    TrustListUnavailable,
)
from vaccine_cert.fetch import fetch_list
from vaccine_cert.hcert import decode_hc1
from vaccine_cert.issue import CredentialKind, HolderData, build_dcc
from vaccine_cert.issue import sign_hc1 as natid_sign_hc1
from vaccine_cert.report import Check, Outcome
from vaccine_cert.revocation import RevocationList, signature_hash
from vaccine_cert.trust import TrustedSigners
from vaccine_cert.trustlist import export_trustlist, parse_trustlist
from vaccine_cert.verify import verify, verify_many

__all__ = [
    "ca_service", "hierarchy_keys", "ledger", "register", "session_hierarchy", "transparency",
    "world",
]  # fmt: skip


# --- revocation by hash ---------------------------------------------------------------------------


def test_revoked_only_by_signature_hash_fails_the_revocation_check(world: World) -> None:
    revoked = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    kept = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    digest = signature_hash(decode_hc1(revoked.payload).cose.signature)
    listed = world.health.revoke_hash("SIGNATURE", digest.hex(), kid=None, actor="officer")
    assert listed.kid.hex() == decode_hc1(revoked.payload).cose.header(4).hex()
    assert listed.expires_at == revoked.expires_at

    report = world.health.verify(revoked.payload)
    assert report.outcome(Check.REVOCATION) is Outcome.FAIL
    assert "SIGNATURE" in report.reasons[-1]
    assert world.health.verify(kept.payload).valid
    # The published, signed list carries it, and an offline verifier honours it.
    document = world.health.revocation_list()
    offline = RevocationList.from_document(
        json.dumps(document), anchor=world.health.trustlist_anchor()
    )
    trusted = world.health.trusted_signers()
    assert not verify(revoked.payload, trusted=trusted, at=_now(world), revocation=offline).valid
    assert verify(kept.payload, trusted=trusted, at=_now(world), revocation=offline).valid
    with pytest.raises(AlreadyRevoked):
        world.health.revoke_hash("SIGNATURE", digest.hex(), kid=None, actor="o")


def test_revoke_by_uci_hash_in_base64_with_the_kid(world: World) -> None:
    import base64
    import hashlib

    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    uci = base64.b64encode(hashlib.sha256(issued.uvci.encode()).digest()[:16]).decode()
    world.health.revoke_hash("UCI", uci, kid=issued.kid, actor="o")
    assert world.health.verify(issued.payload).outcome(Check.REVOCATION) is Outcome.FAIL


def test_revoke_by_hash_refuses_what_it_cannot_place(world: World) -> None:
    world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o")
    with pytest.raises(InvalidRevocationHash, match="give the signer's kid"):
        world.health.revoke_hash("SIGNATURE", "00" * 16, kid=None, actor="o")
    with pytest.raises(InvalidRevocationHash, match="no trusted signer"):
        world.health.revoke_hash("COUNTRYCODEUCI", "00" * 16, kid="AAAAAAAAAAA=", actor="o")
    with pytest.raises(InvalidRevocationHash, match="16 bytes"):
        world.health.revoke_hash("UCI", "not-a-hash", kid=None, actor="o")
    with pytest.raises(InvalidRevocationHash, match="hash type"):
        world.health.revoke_hash("UVCI", "00" * 16, kid=None, actor="o")
    assert world.health.revocation_list()["batches"] == []


# --- foreign signers republished for verifiers ----------------------------------------------------


def test_trustlist_scope_all_republishes_foreign_entries_as_published(world: World) -> None:
    de_anchor = ec.generate_private_key(ec.SECP256R1())
    de_key = ec.generate_private_key(ec.SECP256R1())
    de_dsc = make_dsc(de_key, common_name="DE test DSC")
    de_list = export_trustlist([de_dsc], country="DE", key=de_anchor)
    world.health.import_trustlist(json.dumps(de_list), anchor=de_anchor.public_key(), actor="o")

    own = world.health.trustlist()
    everything = world.health.trustlist(include_foreign=True)
    assert all(e["country"] == "KH" for e in own)
    assert len(everything) == len(own) + 1
    assert everything[-1] == de_list[0]  # same kid, thumbprint, timestamp and signature
    # Whoever holds DE's anchor can check the republished entry; a verifier loading the list
    # trusts the DE signer.
    parse_trustlist(json.dumps([everything[-1]]), anchor=de_anchor.public_key())
    signers = [item.signer for item in parse_trustlist(json.dumps(everything), anchor=None)]
    credential = sign_hc1(vaccination_dcc(), key=de_key, cert=de_dsc)
    assert verify(credential, trusted=TrustedSigners(signers), at=_now(world)).valid


# --- trust list from a URL ------------------------------------------------------------------------


@pytest.fixture
def serve() -> Iterator[dict[str, bytes]]:
    """A local HTTP server answering GET /<name> with the bytes put in the returned dict."""
    documents: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    documents["_base"] = f"http://127.0.0.1:{server.server_address[1]}/".encode()
    try:
        yield documents
    finally:
        server.shutdown()
        server.server_close()


def test_trust_list_fetched_from_a_url_is_checked_against_the_anchor(
    world: World, serve: dict[str, bytes]
) -> None:
    base = serve["_base"].decode()
    anchor = ec.generate_private_key(ec.SECP256R1())
    forger = ec.generate_private_key(ec.SECP256R1())
    dsc = make_dsc(ec.generate_private_key(ec.SECP256R1()), common_name="DE DSC")
    serve["good.json"] = json.dumps(export_trustlist([dsc], country="DE", key=anchor)).encode()
    serve["forged.json"] = json.dumps(export_trustlist([dsc], country="DE", key=forger)).encode()

    forged = fetch_list(base + "forged.json", max_bytes=1 << 20)
    with pytest.raises(TrustListRejected):
        world.health.import_trustlist(forged, anchor=anchor.public_key(), actor="o")
    assert world.health.trustlist(include_foreign=True) == world.health.trustlist()

    good = fetch_list(base + "good.json", max_bytes=1 << 20)
    assert world.health.import_trustlist(good, anchor=anchor.public_key(), actor="o") == (1, 1)

    with pytest.raises(TrustListUnavailable, match="larger than 10 bytes"):
        fetch_list(base + "good.json", max_bytes=10)
    with pytest.raises(TrustListUnavailable, match="HTTP 404"):
        fetch_list(base + "missing.json", max_bytes=1 << 20)
    with pytest.raises(TrustListUnavailable, match="https"):
        fetch_list("http://trust.example/list.json", max_bytes=1 << 20)


# --- batch verification ---------------------------------------------------------------------------


def test_verify_many_gives_the_reports_verify_gives(world: World) -> None:
    good = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="o").payload
    payloads = [good, good[:-6], "HC1:NOT BASE45", "not a credential", good]
    trusted = world.health.trusted_signers()
    at = _now(world)
    one_by_one = [verify(p, trusted=trusted, at=at) for p in payloads]
    batched = verify_many(payloads, trusted=trusted, at=at)
    assert [r.as_dict(include_dcc=True) for r in batched] == [
        r.as_dict(include_dcc=True) for r in one_by_one
    ]
    assert [r.valid for r in batched] == [True, False, False, False, True]


# --- property tests -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_trust_list_parser_refuses_random_bytes_cleanly(data: bytes) -> None:
    with contextlib.suppress(TrustListRejected):
        parse_trustlist(data, anchor=None)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_revocation_list_parser_refuses_random_bytes_cleanly(data: bytes) -> None:
    with contextlib.suppress(TrustListRejected):
        RevocationList.from_document(data, anchor=None)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from(["kid", "hashType", "entries", "x"]), _json_values))
)
def test_revocation_list_parser_refuses_random_batches_cleanly(batches: list[object]) -> None:
    with contextlib.suppress(TrustListRejected):
        RevocationList.from_document({"batches": batches}, anchor=None)


_KEY = ec.generate_private_key(ec.SECP256R1())
_DSC = make_dsc(_KEY, common_name="property DSC")
_AT = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
_names = st.text(
    alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x24F),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    family=_names,
    given_name=_names,
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 10, 1)),
    dose=st.integers(min_value=1, max_value=9),
    series=st.integers(min_value=1, max_value=9),
    day=st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2026, 10, 31)),
)
def test_issued_credentials_round_trip_through_an_independent_decoder(
    family: str, given_name: str, birth: dt.date, dose: int, series: int, day: dt.date
) -> None:
    from vaccine_cert.trust import kid_of

    record = {**VACCINATION, "dn": dose, "sd": series, "dt": day.isoformat()}
    try:
        dcc = build_dcc(
            CredentialKind.VACCINATION, record, holder=HolderData(family, given_name, birth),
            country="KH", issuer="Ministry of Health, Cambodia",
            uvci="URN:UVCI:01:KH:PROPERTY0001#X", at=_AT,
        )  # fmt: skip
    except InvalidDccRecord:
        assume(False)
        return
    signed = natid_sign_hc1(
        dcc, key=_KEY, kid=kid_of(_DSC), issuer_country="KH", issued_at=_AT,
        expires_at=_AT + dt.timedelta(days=30),
    )  # fmt: skip
    claims = independent_decode(signed.payload, _DSC)
    assert claims[-260][1] == dcc
    assert claims[1] == "KH"
    assert claims[4] - claims[6] == 30 * 86400
    assert verify(signed.payload, trusted=[_DSC], at=_AT).valid


def _now(world: World) -> dt.datetime:
    return world.health._clock.now()
