"""The OCSP responder (RFC 6960, RFC 5019 profile) without external tools.

Responses are read back with cryptography, so each test states what a relying party sees:
the status, the times, who signed, whether the nonce came back, and - with a key that counts
its signatures - whether a response was pre-signed or signed for this request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from asn1crypto import ocsp as asn1_ocsp  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ca.errors import InvalidOCSPConfiguration
from ca.hierarchy import ca_key_label
from ca.names import service_name
from ca.ocsp import OCSPResponder, http_cache_headers, parse_request, status_lookup_from
from ca.profiles import ProfileName, get_profile
from ca.revocation import RevocationReason, RevocationStatus
from ca.x509build import build_certificate, new_serial
from core.cache import CacheError, InMemoryCache
from core.clock import FixedClock
from core.errors import InfrastructureError
from hsm_adapters.base import KeyAlgorithm
from tests.ca._pki import CA, Pki, SignCounter, fresh_p256, make_pki, now_utc
from tests.ca.conftest import make_key

OCSPStatus = ocsp.OCSPResponseStatus


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@dataclass
class Rig:
    """A responder of the citizen CA with a counting key, a fixed clock and a memory cache."""

    pki: Pki
    clock: FixedClock
    statuses: dict[int, RevocationStatus]
    counter: SignCounter
    cache: InMemoryCache
    responder: OCSPResponder
    extra: dict[str, Any] = field(default_factory=dict)

    def ask(self, cert: x509.Certificate, algorithm: hashes.HashAlgorithm | None = None) -> bytes:
        return request_for(self.pki, cert, algorithm)

    def status(self, cert: x509.Certificate) -> ocsp.OCSPResponse:
        return ocsp.load_der_ocsp_response(self.responder.respond(self.ask(cert)))


def request_for(
    pki: Pki,
    cert: x509.Certificate,
    algorithm: hashes.HashAlgorithm | None = None,
    *,
    nonce: bytes | None = None,
    issuer: x509.Certificate | None = None,
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        cert, issuer or pki.ca_cert, algorithm or hashes.SHA1()
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def raw_request(
    serials: list[int], *, nonce: bytes | None = None, algorithm: str = "sha1", size: int = 20
) -> bytes:
    """An OCSPRequest built field by field (what cryptography's builder cannot make)."""
    tbs: dict[str, Any] = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": algorithm},
                    "issuer_name_hash": b"\x01" * size,
                    "issuer_key_hash": b"\x02" * size,
                    "serial_number": serial,
                }
            }
            for serial in serials
        ]
    }
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    return bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def make_rig(
    pki: Pki,
    *,
    status_of: Callable[[int], RevocationStatus] | None = None,
    **kwargs: Any,
) -> Rig:
    clock = FixedClock(now_utc())
    statuses: dict[int, RevocationStatus] = {}
    counter = SignCounter()
    cache = InMemoryCache(clock=clock)
    responder = OCSPResponder(
        pki.ca_cert,
        pki.responder_cert,
        counter.wrap(pki.responder_key),
        clock=clock,
        status_of=status_of or status_lookup_from(statuses),
        cache=cache,
        **kwargs,
    )
    return Rig(pki, clock, statuses, counter, cache, responder)


@pytest.fixture
def rig(pki: Pki) -> Rig:
    r = make_rig(pki)
    for label in ("alice", "bob"):
        r.statuses[pki.leaf(label).serial_number] = RevocationStatus.good()
    return r


def single(response: ocsp.OCSPResponse) -> ocsp.OCSPSingleResponse:
    assert response.response_status is OCSPStatus.SUCCESSFUL
    (one,) = list(response.responses)
    return one


# --- what a relying party sees ---------------------------------------------------------------


def test_good_certificate_is_good_and_signed_by_the_delegated_responder(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    response = rig.status(alice)
    one = single(response)
    assert one.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert one.serial_number == alice.serial_number
    # The delegated responder certificate travels with the response (RFC 6960 §4.2.2.2) ...
    assert response.certificates == [rig.pki.responder_cert]
    # ... the responderID is its key hash, and its key signed the response with SHA-256.
    responder_ski = rig.pki.responder_cert.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value.digest
    assert response.responder_key_hash == responder_ski
    assert response.responder_name is None
    assert isinstance(response.signature_hash_algorithm, hashes.SHA256)
    public_key = rig.pki.responder_cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


def test_times_bracket_now_and_stay_within_the_validity(rig: Rig) -> None:
    now = rig.clock.now()
    one = single(rig.status(rig.pki.leaf("alice")))
    assert one.this_update_utc == now - dt.timedelta(minutes=5)
    assert one.next_update_utc == one.this_update_utc + dt.timedelta(hours=12)


def test_revoked_certificate_shows_time_and_reason(rig: Rig) -> None:
    bob = rig.pki.leaf("bob")
    revoked_at = rig.clock.now() - dt.timedelta(hours=2)
    rig.statuses[bob.serial_number] = RevocationStatus.revoked(
        revoked_at, RevocationReason.KEY_COMPROMISE
    )
    one = single(rig.status(bob))
    assert one.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert one.revocation_time_utc == revoked_at
    assert one.revocation_reason is x509.ReasonFlags.key_compromise


def test_unspecified_reason_is_left_out(rig: Rig) -> None:
    bob = rig.pki.leaf("bob")
    rig.statuses[bob.serial_number] = RevocationStatus.revoked(
        rig.clock.now(), RevocationReason.UNSPECIFIED
    )
    one = single(rig.status(bob))
    assert one.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert one.revocation_reason is None
    # thisUpdate is never before the revocation it reports.
    assert one.this_update_utc == rig.clock.now()


def test_certificate_on_hold_is_revoked_with_certificate_hold_and_good_after_release(
    rig: Rig,
) -> None:
    bob = rig.pki.leaf("bob")
    rig.statuses[bob.serial_number] = RevocationStatus.revoked(
        rig.clock.now(), RevocationReason.CERTIFICATE_HOLD
    )
    rig.responder.on_status_change(bob.serial_number)
    assert single(rig.status(bob)).revocation_reason is x509.ReasonFlags.certificate_hold
    rig.statuses[bob.serial_number] = RevocationStatus.good()
    rig.responder.on_status_change(bob.serial_number)
    assert single(rig.status(bob)).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_serial_never_issued_is_unknown(rig: Rig, pki: Pki) -> None:
    stranger = pki.leaf("never-stored")  # a real certificate of this CA, but not in storage
    assert single(rig.status(stranger)).certificate_status is ocsp.OCSPCertStatus.UNKNOWN


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA384(), hashes.SHA512()])
def test_certid_hash_of_the_request_is_answered_in_kind(
    rig: Rig, algorithm: hashes.HashAlgorithm
) -> None:
    alice = rig.pki.leaf("alice")
    der = rig.responder.respond(rig.ask(alice, algorithm))
    one = single(ocsp.load_der_ocsp_response(der))
    assert one.hash_algorithm.name == algorithm.name
    assert one.certificate_status is ocsp.OCSPCertStatus.GOOD


def new_responder_certificate(pki: Pki, key: Any) -> x509.Certificate:
    """Another ocsp-responder certificate of the citizen CA (a renewal or a re-key)."""
    profile = get_profile(ProfileName.OCSP_RESPONDER)
    not_before, not_after = profile.validity_window(at=pki.created_at)
    return build_certificate(
        profile,
        subject=service_name("Renewed OCSP Responder", organisation="NatID Development"),
        public_key=key.public_key(),
        issuer_cert=pki.ca_cert,
        issuer_key=pki.ca_key,
        serial=new_serial(),
        not_before=not_before,
        not_after=not_after,
        urls=pki.urls,
        ca_name=CA,
    )


def test_p384_responder_signs_with_sha384(pki: Pki) -> None:
    key = make_key(KeyAlgorithm.EC_P384)
    cert = new_responder_certificate(pki, key)
    clock = FixedClock(now_utc())
    responder = OCSPResponder(
        pki.ca_cert, cert, key, clock=clock, status_of=lambda _: RevocationStatus.good(), cache=None
    )
    response = ocsp.load_der_ocsp_response(responder.respond(request_for(pki, pki.leaf("alice"))))
    assert isinstance(response.signature_hash_algorithm, hashes.SHA384)
    assert response.certificates == [cert]


# --- nonce and the pre-signed cache ----------------------------------------------------------


def test_nonce_is_echoed_and_signed_fresh_every_time(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    for n, nonce in enumerate([b"\x01" * 16, b"\x02" * 32], start=1):
        der = rig.responder.respond(request_for(rig.pki, alice, nonce=nonce))
        response = ocsp.load_der_ocsp_response(der)
        assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        assert rig.counter.calls == n  # never from the cache


def test_without_nonce_the_second_request_is_served_presigned(rig: Rig) -> None:
    request = rig.ask(rig.pki.leaf("alice"))
    first = rig.responder.respond(request)
    assert rig.counter.calls == 1
    assert rig.responder.respond(request) == first
    assert rig.counter.calls == 1


def test_revocation_is_visible_on_the_very_next_request(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    assert single(rig.status(alice)).certificate_status is ocsp.OCSPCertStatus.GOOD
    rig.statuses[alice.serial_number] = RevocationStatus.revoked(
        rig.clock.now(), RevocationReason.KEY_COMPROMISE
    )
    rig.responder.on_status_change(alice.serial_number)
    signed = rig.counter.calls
    assert signed == 1 + 2  # pre-signed at once for SHA-1 and SHA-256 CertIDs
    assert single(rig.status(alice)).certificate_status is ocsp.OCSPCertStatus.REVOKED
    sha256 = ocsp.load_der_ocsp_response(rig.responder.respond(rig.ask(alice, hashes.SHA256())))
    assert single(sha256).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert rig.counter.calls == signed  # both served from the pre-signed cache


def test_invalidate_makes_the_next_request_sign_the_new_status(rig: Rig) -> None:
    bob = rig.pki.leaf("bob")
    rig.status(bob)
    rig.statuses[bob.serial_number] = RevocationStatus.revoked(
        rig.clock.now(), RevocationReason.SUPERSEDED
    )
    rig.responder.invalidate(bob.serial_number)
    assert rig.counter.calls == 1
    assert single(rig.status(bob)).certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert rig.counter.calls == 2


def test_lookup_racing_a_revocation_cannot_pin_a_stale_good(pki: Pki) -> None:
    # Worker A reads "good" just before the revocation commits; the revoking worker then calls
    # on_status_change; only afterwards does A store its response. The next request must not
    # get A's stale "good" from the cache.
    alice = pki.leaf("alice")
    db = {alice.serial_number: RevocationStatus.good()}
    revoked = RevocationStatus.revoked(now_utc(), RevocationReason.KEY_COMPROMISE)
    race = {"armed": True}
    holder: dict[str, OCSPResponder] = {}

    def lookup(serial: int) -> RevocationStatus:
        seen = db[serial]
        if race["armed"]:
            race["armed"] = False
            db[serial] = revoked  # the revocation commits ...
            holder["r"].on_status_change(serial)  # ... and is announced, mid-lookup
        return seen

    rig = make_rig(pki, status_of=lookup)
    holder["r"] = rig.responder
    stale = single(ocsp.load_der_ocsp_response(rig.responder.respond(rig.ask(alice))))
    assert stale.certificate_status is ocsp.OCSPCertStatus.GOOD  # A's answer, once
    assert single(rig.status(alice)).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_presigned_response_is_renewed_after_half_its_validity(rig: Rig) -> None:
    request = rig.ask(rig.pki.leaf("alice"))
    first = single(ocsp.load_der_ocsp_response(rig.responder.respond(request)))
    rig.clock.advance(dt.timedelta(hours=5, minutes=59))
    rig.responder.respond(request)
    assert rig.counter.calls == 1
    rig.clock.advance(dt.timedelta(minutes=2))
    renewed = single(ocsp.load_der_ocsp_response(rig.responder.respond(request)))
    assert rig.counter.calls == 2
    assert renewed.this_update_utc > first.this_update_utc


def test_responses_of_two_issuers_never_share_cache_entries(rig: Rig, pki: Pki) -> None:
    gov = pki.hierarchy.cas["government"]
    responder = OCSPResponder(
        gov,
        pki.hierarchy.ocsp_responders["government"],
        pki.backend.load("ocsp-government"),
        clock=rig.clock,
        status_of=lambda _: RevocationStatus.revoked(rig.clock.now(), RevocationReason.SUPERSEDED),
        cache=rig.cache,  # the same cache as the citizen responder
    )
    alice = pki.leaf("alice")
    rig.status(alice)
    servant = pki.leaf("servant", ca_name="government")
    der = responder.respond(request_for(pki, servant, issuer=gov))
    assert (
        single(ocsp.load_der_ocsp_response(der)).certificate_status is ocsp.OCSPCertStatus.REVOKED
    )
    assert single(rig.status(alice)).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_renewed_responder_never_serves_responses_of_the_old_certificate(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    rig.status(alice)  # pre-signed by the first responder certificate
    key = fresh_p256()
    renewed = OCSPResponder(
        rig.pki.ca_cert,
        new_responder_certificate(rig.pki, key),
        key,
        clock=rig.clock,
        status_of=lambda _: RevocationStatus.good(),
        cache=rig.cache,  # the same shared cache
    )
    response = ocsp.load_der_ocsp_response(renewed.respond(rig.ask(alice)))
    assert response.certificates == [renewed.responder_certificate]


# --- refusals in the protocol's own form -------------------------------------------------------


def test_request_for_another_issuer_is_unauthorized_and_costs_no_signature(
    rig: Rig, pki: Pki
) -> None:
    gov = pki.hierarchy.cas["government"]
    servant = pki.leaf("servant", ca_name="government")
    der = rig.responder.respond(request_for(pki, servant, issuer=gov))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.UNAUTHORIZED
    assert rig.counter.calls == 0


def test_certid_with_unknown_hash_algorithm_is_unauthorized(rig: Rig) -> None:
    der = rig.responder.respond(raw_request([5], algorithm="md5", size=16))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.UNAUTHORIZED


def test_several_certificates_in_one_request_is_malformed(rig: Rig) -> None:
    # RFC 5019 §2.1.1: one Request per OCSPRequest.
    der = rig.responder.respond(raw_request([5, 6]))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("length", [0, 129, 1000])
def test_nonce_of_forbidden_length_is_malformed(rig: Rig, length: int) -> None:
    # RFC 9654 §2.1: a nonce of 0 or more than 128 octets MUST get malformedRequest.
    der = rig.responder.respond(raw_request([5], nonce=b"n" * length))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("length", [1, 128])
def test_nonce_of_allowed_length_is_echoed(rig: Rig, length: int) -> None:
    nonce = bytes(range(length))
    der = rig.responder.respond(request_for(rig.pki, rig.pki.leaf("alice"), nonce=nonce))
    response = ocsp.load_der_ocsp_response(der)
    assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce


@pytest.mark.parametrize(
    "body",
    [b"", b"\x30", b"\x30\x03\x02\x01\x05", b"GET / HTTP/1.1\r\n", b"\x30\x80" + b"\x00" * 4],
)
def test_garbage_gets_malformed_request_not_an_exception(rig: Rig, body: bytes) -> None:
    der = rig.responder.respond(body)
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST


def test_truncated_and_trailing_requests_are_malformed(rig: Rig) -> None:
    good = rig.ask(rig.pki.leaf("alice"))
    for body in (good[:-1], good[: len(good) // 2], good + b"\x00"):
        der = rig.responder.respond(body)
        assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST
    assert rig.counter.calls == 0


def test_oversized_request_is_refused_unparsed(rig: Rig) -> None:
    der = rig.responder.respond(b"\x30\x82\x20\x01" + b"\x00" * 8193)
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST


def test_non_bytes_body_is_malformed(rig: Rig) -> None:
    der = rig.responder.respond("MEIwQDA+MDwwOjAJBgUrDgMCGgUA")  # type: ignore[arg-type]
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.MALFORMED_REQUEST


def test_status_store_down_answers_try_later(pki: Pki) -> None:
    def down(_: int) -> RevocationStatus:
        raise InfrastructureError("database unreachable")

    rig = make_rig(pki, status_of=down)
    der = rig.responder.respond(rig.ask(pki.leaf("alice")))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.TRY_LATER


def test_bug_in_the_lookup_answers_internal_error(pki: Pki) -> None:
    def broken(_: int) -> RevocationStatus:
        raise KeyError("oops")

    rig = make_rig(pki, status_of=broken)
    der = rig.responder.respond(rig.ask(pki.leaf("alice")))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.INTERNAL_ERROR
    rig = make_rig(pki, status_of=lambda _: "good")  # type: ignore[arg-type,return-value]
    der = rig.responder.respond(rig.ask(pki.leaf("alice")))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.INTERNAL_ERROR


def test_expired_responder_certificate_signs_nothing(rig: Rig) -> None:
    rig.clock.set(rig.pki.responder_cert.not_valid_after_utc + dt.timedelta(seconds=1))
    der = rig.responder.respond(rig.ask(rig.pki.leaf("alice")))
    assert ocsp.load_der_ocsp_response(der).response_status is OCSPStatus.INTERNAL_ERROR
    assert rig.counter.calls == 0


def test_response_never_outlives_the_responder_certificate(rig: Rig) -> None:
    end = rig.pki.responder_cert.not_valid_after_utc
    rig.clock.set(end - dt.timedelta(hours=1))
    one = single(rig.status(rig.pki.leaf("alice")))
    assert one.next_update_utc == end


class FailingCache(InMemoryCache):
    def get(self, key: str) -> bytes | None:
        raise CacheError("redis down")

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        raise CacheError("redis down")


def test_cache_outage_still_answers_by_signing(pki: Pki) -> None:
    responder = OCSPResponder(
        pki.ca_cert,
        pki.responder_cert,
        pki.responder_key,
        clock=FixedClock(now_utc()),
        status_of=lambda _: RevocationStatus.good(),
        cache=FailingCache(),
    )
    der = responder.respond(request_for(pki, pki.leaf("alice")))
    assert single(ocsp.load_der_ocsp_response(der)).certificate_status is ocsp.OCSPCertStatus.GOOD
    # An invalidation that cannot reach the cache must not pass silently.
    with pytest.raises(CacheError):
        responder.on_status_change(pki.leaf("alice").serial_number)


# --- configuration ---------------------------------------------------------------------------


def _responder(pki: Pki, issuer: x509.Certificate, cert: x509.Certificate, key: Any) -> None:
    OCSPResponder(
        issuer,
        cert,
        key,
        clock=FixedClock(now_utc()),
        status_of=lambda _: RevocationStatus.good(),
        cache=None,
    )


def test_responder_of_another_ca_is_refused(pki: Pki) -> None:
    with pytest.raises(InvalidOCSPConfiguration, match="not issued by"):
        _responder(
            pki,
            pki.ca_cert,
            pki.hierarchy.ocsp_responders["government"],
            pki.backend.load("ocsp-government"),
        )


def test_certificate_without_ocsp_signing_cannot_sign_responses(pki: Pki) -> None:
    alice = pki.leaf("alice")
    key = fresh_p256()
    # An ordinary certificate of the same CA (a citizen's) must not vouch for statuses.
    with pytest.raises(InvalidOCSPConfiguration):
        _responder(pki, pki.ca_cert, alice, key)  # key mismatch first
    cert = build_certificate(
        get_profile(ProfileName.CITIZEN_AUTH),
        subject=alice.subject,
        public_key=key.public_key(),
        issuer_cert=pki.ca_cert,
        issuer_key=pki.backend.load(ca_key_label(CA)),
        serial=new_serial(),
        not_before=alice.not_valid_before_utc,
        not_after=alice.not_valid_after_utc,
        urls=pki.urls,
        ca_name=CA,
    )
    with pytest.raises(InvalidOCSPConfiguration, match="OCSPSigning"):
        _responder(pki, pki.ca_cert, cert, key)


def test_responder_key_must_match_its_certificate(pki: Pki) -> None:
    with pytest.raises(InvalidOCSPConfiguration, match="does not match"):
        _responder(pki, pki.ca_cert, pki.responder_cert, fresh_p256())


def test_ca_may_sign_its_own_responses_without_a_delegated_certificate(pki: Pki) -> None:
    responder = OCSPResponder(
        pki.ca_cert,
        pki.ca_cert,
        pki.ca_key,
        clock=FixedClock(now_utc()),
        status_of=lambda _: RevocationStatus.good(),
        cache=None,
    )
    response = ocsp.load_der_ocsp_response(responder.respond(request_for(pki, pki.leaf("alice"))))
    assert response.certificates == []
    assert isinstance(response.signature_hash_algorithm, hashes.SHA384)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"validity": dt.timedelta(0)},
        {"this_update_skew": dt.timedelta(hours=13)},
        {"this_update_skew": dt.timedelta(seconds=-1)},
        {"refresh_after": dt.timedelta(hours=13)},
        {"refresh_after": dt.timedelta(0)},
        {"http_max_age": dt.timedelta(seconds=-1)},
    ],
)
def test_nonsensical_timing_is_refused(pki: Pki, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOCSPConfiguration):
        make_rig(pki, **kwargs)


# --- HTTP caching hints (RFC 5019 §6.2) --------------------------------------------------------


def test_http_headers_let_caches_keep_a_response_briefly(rig: Rig) -> None:
    der = rig.responder.respond(rig.ask(rig.pki.leaf("alice")))
    one = single(ocsp.load_der_ocsp_response(der))
    headers = rig.responder.http_headers(der)
    assert headers["Content-Type"] == "application/ocsp-response"
    assert headers["Cache-Control"] == "max-age=60, public, no-transform, must-revalidate"
    assert parsedate_to_datetime(headers["Last-Modified"]) == one.this_update_utc
    assert parsedate_to_datetime(headers["Expires"]) == one.next_update_utc
    assert headers["ETag"] == f'"{hashlib.sha256(der).hexdigest()}"'


def test_http_max_age_never_passes_next_update(rig: Rig) -> None:
    der = rig.responder.respond(rig.ask(rig.pki.leaf("alice")))
    next_update = single(ocsp.load_der_ocsp_response(der)).next_update_utc
    assert next_update is not None
    headers = http_cache_headers(
        der, at=next_update - dt.timedelta(seconds=10), max_age=dt.timedelta(hours=1)
    )
    assert headers["Cache-Control"].startswith("max-age=10,")
    expired = http_cache_headers(der, at=next_update, max_age=dt.timedelta(hours=1))
    assert expired["Cache-Control"] == "no-store"


def test_nonce_and_error_responses_are_not_cacheable(rig: Rig) -> None:
    nonce = rig.responder.respond(request_for(rig.pki, rig.pki.leaf("alice"), nonce=b"x" * 16))
    malformed = rig.responder.respond(b"junk")
    for der in (nonce, malformed, b"not even DER"):
        headers = rig.responder.http_headers(der)
        assert headers["Cache-Control"] == "no-store"
        assert "ETag" not in headers


def test_parsed_request_exposes_the_certid(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    query = parse_request(request_for(rig.pki, alice, hashes.SHA256(), nonce=b"k" * 20))
    assert (query.serial, query.hash_algorithm, query.nonce) == (
        alice.serial_number,
        "sha256",
        b"k" * 20,
    )
