"""Signature activation data (signing/sad.py): single use under concurrency, expiry, and the
bindings that keep a SAD to exactly what the signer approved."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading

import pytest

from core.cache import InMemoryCache
from core.clock import FixedClock
from core.errors import InvalidInput
from signing.sad import InvalidSAD, SADStore

SHA256 = "2.16.840.1.101.3.4.2.1"
A = hashlib.sha256(b"a").digest()
B = hashlib.sha256(b"b").digest()


def _store(clock: FixedClock) -> SADStore:
    return SADStore(InMemoryCache(clock=clock))


def _issue(store: SADStore, clock: FixedClock, **kw: object) -> str:
    args: dict[str, object] = {
        "credential_id": "0A1B", "subject": "person-1", "client_id": "app",
        "hash_algorithm": SHA256, "hashes": [A, B], "num_signatures": 2, "at": clock.now(),
    }  # fmt: skip
    args.update(kw)
    token, _ = store.issue(**args)  # type: ignore[arg-type]
    return token


def _redeem(store: SADStore, token: str, clock: FixedClock, **kw: object) -> object:
    args: dict[str, object] = {
        "credential_id": "0A1B", "subject": "person-1", "hash_algorithm": SHA256,
        "hashes": [A], "at": clock.now(),
    }  # fmt: skip
    args.update(kw)
    return store.redeem(token, **args)  # type: ignore[arg-type]


def test_concurrent_redemptions_sign_once(clock: FixedClock) -> None:
    store = _store(clock)
    token = _issue(store, clock)
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            _redeem(store, token, clock)
            wins.append(1)
        except InvalidSAD:
            pass

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins == [1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"credential_id": "FFFF"}, "another credential"),
        ({"subject": "person-2"}, "another credential or signer"),
        ({"hash_algorithm": "2.16.840.1.101.3.4.2.2"}, "another hash algorithm"),
        ({"hashes": [hashlib.sha256(b"c").digest()]}, "not authorised"),
        ({"hashes": [A, B, A]}, "at most 2"),
    ],
)
def test_sad_binding_mismatch_is_refused_and_spends_it(
    clock: FixedClock, change: dict[str, object], message: str
) -> None:
    store = _store(clock)
    token = _issue(store, clock)
    with pytest.raises(InvalidSAD, match=message):
        _redeem(store, token, clock, **change)
    with pytest.raises(InvalidSAD, match="already used"):
        _redeem(store, token, clock)


def test_sad_lives_five_minutes(clock: FixedClock) -> None:
    store = _store(clock)
    fresh, old = _issue(store, clock), _issue(store, clock)
    clock.advance(dt.timedelta(minutes=4, seconds=59))
    _redeem(store, fresh, clock)
    clock.advance(dt.timedelta(seconds=2))
    with pytest.raises(InvalidSAD):
        _redeem(store, old, clock)


def test_v1_sad_without_hash_algorithm_still_binds_the_hash_values(clock: FixedClock) -> None:
    store = _store(clock)
    token = _issue(store, clock, hash_algorithm=None, hashes=[A], num_signatures=1)
    with pytest.raises(InvalidSAD, match="not authorised"):
        _redeem(store, token, clock, hashes=[B])


def test_sad_needs_hashes_and_a_short_lifetime(clock: FixedClock) -> None:
    store = _store(clock)
    with pytest.raises(InvalidSAD):
        _issue(store, clock, hashes=[])
    with pytest.raises(InvalidSAD):
        _issue(store, clock, hashes=[A, B], num_signatures=1)
    with pytest.raises(InvalidInput, match="at most"):
        SADStore(InMemoryCache(clock=clock), lifetime=dt.timedelta(hours=1))
    with pytest.raises(InvalidSAD, match="malformed"):
        _redeem(store, "x" * 500, clock)
