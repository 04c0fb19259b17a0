"""Property tests for the ledger's encoder and verifier (pure functions, no database).

The canonical encoding must be unambiguous (different entries, different hashes; RFC 8785
test vectors hold), and the verifier must never crash, whatever garbage it is handed, and must
catch any single change, deletion or swap in an otherwise valid chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.audit_format import (
    ENTRY_DOMAIN,
    GENESIS_HASH,
    MAX_SAFE_INTEGER,
    AuditEntry,
    Checkpoint,
    CheckpointAlgorithm,
    InvalidAuditEntry,
    LedgerHead,
    canonical_data,
    canonical_json,
    checkpoint_message,
    compute_entry_hash,
    format_time,
    parse_canonical_data,
    sign_checkpoint,
)
from core.audit_verify import LedgerReport, verify_chain

KEY = ec.generate_private_key(ec.SECP256R1())
TRUSTED = {"ledger": KEY.public_key()}
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)
ids = st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1)
events = st.from_regex(r"[a-z][a-z0-9_]{0,5}(\.[a-z][a-z0-9_]{0,5}){1,3}", fullmatch=True)
aware_times = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)


def build_chain(n: int, *, checkpoint_every: int = 0) -> tuple[list[AuditEntry], list[Checkpoint]]:
    """A valid ledger of ``n`` entries, made with the same functions the service uses."""
    entries: list[AuditEntry] = []
    checkpoints: list[Checkpoint] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        at = T0 + dt.timedelta(seconds=seq)
        data = canonical_data({"i": seq, "who": f"person:{seq}"})
        h = compute_entry_hash(
            seq=seq,
            at=at,
            event="test.chain.entry",
            actor="officer:1",
            subject=f"person:{seq}",
            data_json=data,
            prev_hash=prev,
        )
        entries.append(
            AuditEntry(seq, at, "test.chain.entry", "officer:1", f"person:{seq}", data, prev, h)
        )
        if checkpoint_every and seq % checkpoint_every == 0:
            alg = CheckpointAlgorithm.ECDSA_SHA256
            msg = checkpoint_message(
                seq=seq, entry_hash=h, at=at, key_label="ledger", algorithm=alg
            )
            checkpoints.append(
                Checkpoint(seq, h, at, "ledger", alg, sign_checkpoint(KEY, msg), b"")
            )
        prev = h
    return entries, checkpoints


# --- the encoding ---------------------------------------------------------------------------


def test_rfc8785_key_order_and_string_escapes() -> None:
    # RFC 8785 §3.2.3: properties sorted by UTF-16 code units (the emoji's high surrogate
    # D83D sorts before U+FB33, unlike code point order).
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    text = canonical_json(dict.fromkeys(keys, 0))
    order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert text == "{" + ",".join(f'"{k}":0' for k in order).replace("\r", "\\r") + "}"
    # RFC 8785 §3.2.2.2: only ", \ and controls are escaped; the rest is literal UTF-8.
    assert canonical_json(["\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"]) == (
        '["€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"]'
    )
    assert canonical_json({"b": [True, None, -5], "a": {}}) == '{"a":{},"b":[true,null,-5]}'


def test_entry_hash_matches_the_documented_test_vector() -> None:
    # The vector in core/audit_format.py's docstring, checked there with printf | sha256sum.
    data_json = canonical_data({"office": "phnom-penh-1", "loa": "high"})
    assert data_json == '{"loa":"high","office":"phnom-penh-1"}'
    assert (
        compute_entry_hash(
            seq=1,
            at=T0,
            event="registry.person.added",
            actor="officer:7f3a",
            subject="person:91b2",
            data_json=data_json,
            prev_hash=GENESIS_HASH,
        )
        == "0c28dbc0b81552cf421e0a9a2d2f0950592cdda78b96043e33f7b3a7e77bf1a7"
    )


@given(st.integers(1, 10**12), aware_times, events, ids, ids, json_objects)
def test_entry_hash_is_sha256_of_the_canonical_json_object(
    seq: int, at: dt.datetime, event: str, actor: str | None, subject: str | None, data: Any
) -> None:
    # The service splices the already-canonical data text into the entry object for speed;
    # this is the module docstring's definition taken literally, as an auditor would code it.
    spec = canonical_json(
        {
            "seq": seq,
            "at": format_time(at),
            "event": event,
            "actor": actor,
            "subject": subject,
            "data": data,
            "prev_hash": GENESIS_HASH,
        }
    )
    expected = hashlib.sha256(ENTRY_DOMAIN + spec.encode("utf-8")).hexdigest()
    assert expected == compute_entry_hash(
        seq=seq,
        at=at,
        event=event,
        actor=actor,
        subject=subject,
        data_json=canonical_data(data),
        prev_hash=GENESIS_HASH,
    )


def test_time_format_is_rfc3339_utc_with_microseconds() -> None:
    ict = dt.timezone(dt.timedelta(hours=7))
    assert format_time(dt.datetime(2026, 11, 1, 16, 0, 0, 5, tzinfo=ict)) == (
        "2026-11-01T09:00:00.000005Z"
    )
    assert format_time(dt.datetime(999, 1, 2, tzinfo=dt.UTC)) == "0999-01-02T00:00:00.000000Z"


@given(json_objects)
def test_canonical_data_round_trips(data: dict[str, Any]) -> None:
    text = canonical_data(data)
    assert parse_canonical_data(text) == data
    assert canonical_data(parse_canonical_data(text)) == text


@given(
    st.tuples(
        st.integers(1, 10**9),
        aware_times,
        events,
        ids,
        ids,
        json_objects,
        st.sampled_from([GENESIS_HASH, "a" * 64]),
    ),
    st.tuples(
        st.integers(1, 10**9),
        aware_times,
        events,
        ids,
        ids,
        json_objects,
        st.sampled_from([GENESIS_HASH, "a" * 64]),
    ),
)
def test_different_entries_hash_differently(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    def encoded(t: tuple[Any, ...]) -> tuple[Any, ...]:
        # Compare by encoded form: 1 == True in Python, but they are different JSON.
        return (t[0], format_time(t[1]), t[2], t[3], t[4], canonical_data(t[5]), t[6])

    def entry_hash(t: tuple[Any, ...]) -> str:
        seq, at, event, actor, subject, data, prev = t
        return compute_entry_hash(
            seq=seq,
            at=at,
            event=event,
            actor=actor,
            subject=subject,
            data_json=canonical_data(data),
            prev_hash=prev,
        )

    assume(encoded(a) != encoded(b))
    assert entry_hash(a) != entry_hash(b)


def test_actor_null_and_string_null_hash_differently() -> None:
    common: dict[str, Any] = {
        "seq": 1,
        "at": T0,
        "event": "a.b",
        "subject": None,
        "data_json": "{}",
        "prev_hash": GENESIS_HASH,
    }
    assert compute_entry_hash(actor=None, **common) != compute_entry_hash(actor="null", **common)


@given(st.text(max_size=40))
def test_stored_data_that_is_not_canonical_is_refused(text: str) -> None:
    try:
        value = parse_canonical_data(text)
    except InvalidAuditEntry:
        return
    assert canonical_json(value) == text


# --- the verifier ---------------------------------------------------------------------------

garbage_entries = st.builds(
    AuditEntry,
    seq=st.integers(-3, 12) | st.integers(),
    at=st.datetimes(timezones=st.none() | st.timezones() | st.just(dt.UTC)),
    event=st.text(max_size=10),
    actor=st.none() | st.text(max_size=5),
    subject=st.none() | st.text(max_size=5),
    data_json=st.text(max_size=20) | st.just("{}") | st.sampled_from(['{"a":1}', "[]", "1e999"]),
    prev_hash=st.text(max_size=3) | st.just(GENESIS_HASH),
    entry_hash=st.text(max_size=3) | st.just(GENESIS_HASH),
)
garbage_checkpoints = st.builds(
    Checkpoint,
    seq=st.integers(-3, 12),
    entry_hash=st.text(max_size=3),
    at=st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    key_label=st.sampled_from(["ledger", "other", ""]),
    algorithm=st.sampled_from([*CheckpointAlgorithm, "none", ""]),
    signature=st.binary(max_size=80),
    public_key=st.binary(max_size=4),
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(garbage_entries, max_size=6),
    st.lists(garbage_checkpoints, max_size=3),
    st.none() | st.builds(LedgerHead, st.integers(-2, 10), st.text(max_size=3)),
    st.none() | st.builds(LedgerHead, st.integers(0, 10), st.text(max_size=3)),
    st.none() | st.integers(-2, 14),
)
def test_verify_never_crashes_on_garbage(
    entries: list[AuditEntry],
    checkpoints: list[Checkpoint],
    head: LedgerHead | None,
    expect: LedgerHead | None,
    head_checkpoint: int | None,
) -> None:
    report = verify_chain(
        entries,
        checkpoints,
        TRUSTED,
        head=head,
        head_checkpoint=head_checkpoint,
        expect_head=expect,
    )
    assert isinstance(report, LedgerReport)
    if entries and not report.ok:
        assert report.reason
        assert report.first_bad_seq is not None


@given(st.data())
def test_any_single_field_change_is_detected(data: st.DataObject) -> None:
    entries, checkpoints = build_chain(6, checkpoint_every=3)
    head = LedgerHead(6, entries[-1].entry_hash)
    index = data.draw(st.integers(0, 5))
    field = data.draw(
        st.sampled_from(
            ["seq", "at", "event", "actor", "subject", "data_json", "prev_hash", "entry_hash"]
        )
    )
    new_value = data.draw(
        {
            "seq": st.integers(-5, 50),
            "at": aware_times,
            "event": events,
            "actor": ids,
            "subject": ids,
            "data_json": json_objects.map(canonical_data) | st.text(max_size=10),
            "prev_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
            "entry_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
        }[field]
    )
    original = getattr(entries[index], field)
    if field == "at":
        assume(format_time(new_value) != format_time(original))
    else:
        assume(new_value != original)
    entries[index] = dataclasses.replace(entries[index], **{field: new_value})
    report = verify_chain(entries, checkpoints, TRUSTED, head=head)
    assert not report.ok
    assert report.first_bad_seq is not None
    assert report.first_bad_seq <= max(index + 1, 1)


@given(st.integers(0, 7))
def test_deleting_any_entry_is_detected(index: int) -> None:
    entries, checkpoints = build_chain(8, checkpoint_every=4)
    head = LedgerHead(8, entries[-1].entry_hash)
    del entries[index]
    report = verify_chain(entries, checkpoints, TRUSTED, head=head)
    assert (report.ok, report.first_bad_seq) == (False, index + 1)


@given(st.integers(0, 7), st.integers(0, 7))
def test_swapping_any_two_entries_is_detected(i: int, j: int) -> None:
    assume(i != j)
    entries, checkpoints = build_chain(8, checkpoint_every=4)
    entries[i], entries[j] = entries[j], entries[i]
    report = verify_chain(entries, checkpoints, TRUSTED)
    assert (report.ok, report.first_bad_seq) == (False, min(i, j) + 1)


def test_valid_chain_streams_through_a_generator() -> None:
    entries, checkpoints = build_chain(50, checkpoint_every=10)
    report = verify_chain((e for e in entries), checkpoints, TRUSTED)
    assert report.ok
    assert (report.entries_checked, report.checkpoints_checked) == (50, 5)


@given(st.integers(1, 8), st.sampled_from(["newest", "all"]))
def test_deleting_checkpoints_the_head_row_records_is_detected(
    rewritten: int, deleted: str
) -> None:
    # Delete checkpoints and rewrite the chain from entry `rewritten` on, as an attacker who
    # recomputes every hash would; the head row still records the checkpoint at 8.
    entries, checkpoints = build_chain(8, checkpoint_every=4)
    kept = checkpoints[:1] if deleted == "newest" else []
    prev = entries[rewritten - 2].entry_hash if rewritten > 1 else GENESIS_HASH
    for i in range(rewritten - 1, 8):
        e = entries[i]
        subject = "person:forged" if i == rewritten - 1 else e.subject
        h = compute_entry_hash(
            seq=e.seq,
            at=e.at,
            event=e.event,
            actor=e.actor,
            subject=subject,
            data_json=e.data_json,
            prev_hash=prev,
        )
        entries[i] = dataclasses.replace(e, subject=subject, prev_hash=prev, entry_hash=h)
        prev = h
    head = LedgerHead(8, prev)
    report = verify_chain(entries, kept, TRUSTED, head=head, head_checkpoint=8)
    if rewritten <= 4 and kept:
        # The checkpoint at 4 is still there and no longer matches.
        assert (report.ok, report.first_bad_seq) == (False, 4)
    else:
        assert (report.ok, report.first_bad_seq) == (False, 8)
        assert report.reason is not None
        assert report.reason.startswith("checkpoint at entry 8: missing")
    # With the head row's record rewritten too, no checkpoint at all still fails.
    if not kept:
        report = verify_chain(entries, [], TRUSTED, head=head, head_checkpoint=0)
        assert (report.ok, report.first_bad_seq) == (False, 8)
        assert "no signed checkpoint covers it" in (report.reason or "")


def test_no_checkpoint_fails_only_with_a_trusted_key() -> None:
    entries, _ = build_chain(5)
    head = LedgerHead(5, entries[-1].entry_hash)
    with_key = verify_chain(entries, [], TRUSTED, head=head, head_checkpoint=0)
    assert (with_key.ok, with_key.first_bad_seq) == (False, 5)
    without_key = verify_chain(entries, [], {}, head=head, head_checkpoint=0)
    assert without_key.ok
    assert without_key.warnings[0].startswith("no signed checkpoints: only the hash chain")
    # A trusted head exported earlier vouches for the entries up to it instead.
    anchored = verify_chain(entries, [], TRUSTED, head=head, head_checkpoint=0, expect_head=head)
    assert anchored.ok
    assert verify_chain([], [], TRUSTED, head=LedgerHead(0, GENESIS_HASH), head_checkpoint=0).ok


@pytest.mark.parametrize("text", ["1:" + "a" * 64, "0:" + "0" * 64])
def test_trusted_head_parses(text: str) -> None:
    assert str(LedgerHead.parse(text)) == text


@pytest.mark.parametrize("text", ["", "12", "x:" + "a" * 64, "-1:" + "a" * 64, "1:" + "A" * 64])
def test_malformed_trusted_head_rejected(text: str) -> None:
    with pytest.raises(InvalidAuditEntry):
        LedgerHead.parse(text)
