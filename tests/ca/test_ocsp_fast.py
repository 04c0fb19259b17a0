"""The OCSP responder's per-process layers (ca/ocsp.py decision 9) and prepared HTTP answers.

What must hold, as a relying party sees it: the layers make answers cheaper, never older or
wrong - a status change in storage is answered on the next request even while this process
keeps a pre-signed copy of the old status; a copy expires like the shared cache's; the HTTP
headers of a prepared answer are those of the parsed response.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.x509 import ocsp

from ca.ocsp import OCSPResponder, PreparedResponse, http_cache_headers, status_lookup_from
from ca.ocsp_http import BoundedMap
from ca.revocation import RevocationReason, RevocationStatus
from core.cache import InMemoryCache
from core.clock import FixedClock
from tests.ca._pki import Pki, SignCounter, make_pki, now_utc
from tests.ca.test_ocsp import Rig, make_rig, request_for, single


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture
def rig(pki: Pki) -> Rig:
    r = make_rig(pki)
    for label in ("alice", "bob"):
        r.statuses[pki.leaf(label).serial_number] = RevocationStatus.good()
    return r


def status_of(answer: PreparedResponse | None) -> ocsp.OCSPCertStatus:
    assert answer is not None
    return single(ocsp.load_der_ocsp_response(answer.der)).certificate_status


def test_cached_answer_needs_a_presigned_response_first(rig: Rig) -> None:
    request = rig.ask(rig.pki.leaf("alice"))
    assert rig.responder.answer_cached(request, get=False) is None  # a miss: it would sign
    assert rig.counter.calls == 0
    signed = rig.responder.answer(request)
    hit = rig.responder.answer_cached(request, get=False)
    assert hit is not None
    assert hit.der == signed.der
    assert rig.counter.calls == 1


def test_revocation_in_storage_beats_the_local_copy_on_the_next_request(rig: Rig) -> None:
    # Another process revokes: this responder is never told, its local copy says good.
    alice = rig.pki.leaf("alice")
    request = rig.ask(alice)
    rig.responder.answer(request)
    assert status_of(rig.responder.answer_cached(request, get=False)) is ocsp.OCSPCertStatus.GOOD
    rig.statuses[alice.serial_number] = RevocationStatus.revoked(
        rig.clock.now(), RevocationReason.KEY_COMPROMISE
    )
    assert rig.responder.answer_cached(request, get=False) is None  # another key: no copy
    assert status_of(rig.responder.answer(request)) is ocsp.OCSPCertStatus.REVOKED
    assert status_of(rig.responder.answer_cached(request, get=False)) is (
        ocsp.OCSPCertStatus.REVOKED
    )


def test_nonce_is_never_answered_from_a_copy(rig: Rig) -> None:
    alice = rig.pki.leaf("alice")
    rig.responder.answer(rig.ask(alice))
    with_nonce = request_for(rig.pki, alice, nonce=os.urandom(16))
    assert rig.responder.answer_cached(with_nonce, get=False) is None
    # The same bytes twice are still signed twice: a nonce request is never remembered.
    rig.responder.answer(with_nonce)
    rig.responder.answer(with_nonce)
    assert rig.counter.calls == 3


def test_local_copy_expires_like_the_shared_one(rig: Rig) -> None:
    request = rig.ask(rig.pki.leaf("alice"))
    first = rig.responder.answer(request)
    rig.clock.advance(dt.timedelta(hours=6, minutes=1))  # past refresh_after (half of 12 h)
    assert rig.responder.answer_cached(request, get=False) is None
    renewed = rig.responder.answer(request)
    assert renewed.der != first.der
    assert rig.counter.calls == 2


def test_copy_taken_from_the_shared_cache_keeps_enough_validity(pki: Pki) -> None:
    # Worker B finds worker A's response in the shared cache 5 h after A signed it: B may keep
    # it only while at least validity - refresh_after (6 h) of it remains, i.e. 1 h more.
    clock = FixedClock(now_utc())
    statuses = {pki.leaf("alice").serial_number: RevocationStatus.good()}
    shared = InMemoryCache(clock=clock)
    counter = SignCounter()

    def worker() -> OCSPResponder:
        return OCSPResponder(
            pki.ca_cert,
            pki.responder_cert,
            counter.wrap(pki.responder_key),
            clock=clock,
            status_of=status_lookup_from(statuses),
            cache=shared,
            this_update_skew=dt.timedelta(0),
        )

    a, b = worker(), worker()
    request = request_for(pki, pki.leaf("alice"))
    signed = a.answer(request)
    clock.advance(dt.timedelta(hours=5))
    assert b.answer(request).der == signed.der  # from the shared cache, not signed again
    assert b.answer_cached(request, get=False) is not None
    clock.advance(dt.timedelta(minutes=59))
    assert b.answer_cached(request, get=False) is not None
    clock.advance(dt.timedelta(minutes=2))
    assert b.answer_cached(request, get=False) is None
    assert counter.calls == 1


def test_get_path_and_post_body_give_the_same_answer(rig: Rig) -> None:
    import base64
    from urllib.parse import quote

    request = rig.ask(rig.pki.leaf("bob"))
    by_post = rig.responder.answer(request)
    path = quote(base64.b64encode(request).decode(), safe="")
    assert rig.responder.answer_get(path).der == by_post.der
    hit = rig.responder.answer_cached(path, get=True)
    assert hit is not None
    assert hit.der == by_post.der


@pytest.mark.parametrize("body", [b"", b"garbage", b"\x30\x03\x02\x01"])
def test_garbage_gets_malformed_on_the_fast_path_too(rig: Rig, body: bytes) -> None:
    answer = rig.responder.answer_cached(body, get=False)
    assert answer is not None
    response = ocsp.load_der_ocsp_response(answer.der)
    assert response.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert answer.headers(at=rig.clock.now(), max_age=dt.timedelta(seconds=60)) == {
        "Content-Type": "application/ocsp-response",
        "Cache-Control": "no-store",
    }


def test_request_of_another_issuer_is_unauthorized_on_the_fast_path(rig: Rig) -> None:
    gov = rig.pki.hierarchy.cas["government"]
    request = request_for(rig.pki, rig.pki.leaf("alice"), issuer=gov)
    answer = rig.responder.answer_cached(request, get=False)
    assert answer is not None
    assert ocsp.load_der_ocsp_response(answer.der).response_status is (
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    )


def test_a_failing_lookup_leaves_the_answer_to_the_full_path(pki: Pki) -> None:
    from core.errors import InfrastructureError

    def down(serial: int) -> RevocationStatus:
        raise InfrastructureError("database down")

    rig = make_rig(pki, status_of=down)
    request = rig.ask(pki.leaf("alice"))
    assert rig.responder.answer_cached(request, get=False) is None
    response = ocsp.load_der_ocsp_response(rig.responder.answer(request).der)
    assert response.response_status is ocsp.OCSPResponseStatus.TRY_LATER


def test_prepared_headers_equal_those_of_the_parsed_response(rig: Rig) -> None:
    request = rig.ask(rig.pki.leaf("alice"))
    prepared = rig.responder.answer(request)
    for later in (dt.timedelta(0), dt.timedelta(hours=11, minutes=59, seconds=30)):
        at = rig.clock.now() + later
        assert prepared.headers(at=at, max_age=dt.timedelta(seconds=60)) == http_cache_headers(
            prepared.der, at=at, max_age=dt.timedelta(seconds=60)
        )
        assert PreparedResponse.parse(prepared.der) == prepared
    expired = rig.clock.now() + dt.timedelta(days=1)
    assert prepared.headers(at=expired, max_age=dt.timedelta(seconds=60))["Cache-Control"] == (
        "no-store"
    )


def test_layers_are_bounded(pki: Pki) -> None:
    rig = make_rig(pki, local_entries=2)
    leaves = [pki.leaf(label) for label in ("alice", "bob", "carol")]
    for leaf in leaves:
        rig.statuses[leaf.serial_number] = RevocationStatus.good()
        rig.responder.answer(rig.ask(leaf))
    # The oldest copy went; the shared cache still has it, so nothing is signed again.
    assert rig.responder.answer_cached(rig.ask(leaves[0]), get=False) is None
    assert rig.responder.answer_cached(rig.ask(leaves[2]), get=False) is not None
    rig.responder.answer(rig.ask(leaves[0]))
    assert rig.counter.calls == 3


def test_bounded_map_drops_the_oldest_first() -> None:
    bounded: BoundedMap[str, int] = BoundedMap(2)
    bounded.put("a", 1)
    bounded.put("b", 2)
    bounded.put("a", 3)  # replacing does not evict
    assert (bounded.get("a"), bounded.get("b"), len(bounded)) == (3, 2, 2)
    bounded.put("c", 4)
    assert (bounded.get("a"), bounded.get("c"), len(bounded)) == (None, 4, 2)
    with pytest.raises(ValueError, match="negative"):
        BoundedMap(-1)
    disabled: BoundedMap[str, int] = BoundedMap(0)
    disabled.put("a", 1)
    assert disabled.get("a") is None


def test_negative_local_entries_is_refused(pki: Pki) -> None:
    from ca.errors import InvalidOCSPConfiguration

    with pytest.raises(InvalidOCSPConfiguration, match="local_entries"):
        make_rig(pki, local_entries=-1)


def test_cache_none_never_answers_from_a_copy(pki: Pki) -> None:
    clock = FixedClock(now_utc())
    alice = pki.leaf("alice")
    responder = OCSPResponder(
        pki.ca_cert,
        pki.responder_cert,
        pki.responder_key,
        clock=clock,
        status_of=status_lookup_from({alice.serial_number: RevocationStatus.good()}),
        cache=None,
    )
    request = request_for(pki, alice)
    responder.answer(request)
    assert responder.answer_cached(request, get=False) is None
