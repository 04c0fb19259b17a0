"""Bulk issuance from JSON Lines: good lines issued, bad lines reported by number and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from ca.bulk import BulkFailure, BulkIssued, BulkOutcome, parse_bulk_line
from ca.errors import CAStorageUnavailable, InvalidBulkRequest
from ca.hierarchy import Hierarchy
from ca.service import CAService
from ca.store import CertificateStore
from ca.transparency import TransparencyLog
from core.audit import AuditLedger
from core.clock import FixedClock
from core.errors import NatIDError
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    add_entity,
    add_person,
    add_servant,
    build_service,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    register,
    row_counts,
    session_hierarchy,
    transparency,
)

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]


LEDGER_KEY = ec.generate_private_key(ec.SECP256R1())


def line(**fields: object) -> str:
    return json.dumps(fields)


def test_mixed_file_issues_the_good_lines_and_reports_the_bad_ones(
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
) -> None:
    alice, bob, carol = add_person(register), add_person(register), add_person(register)
    unproven = add_person(register, level=None)
    company = add_entity(register)
    shared_key = ec_key()
    lines = [
        line(profile="citizen-auth", subject=alice.id, csr=make_csr(ec_key()).decode()),  # 1
        "",  # 2: blank lines are skipped
        line(profile="eseal", subject=company.id, server_key=True),  # 3
        "{not json",  # 4
        line(profile="citizen-auth", subject=unproven.id, csr=make_csr(ec_key()).decode()),  # 5
        line(profile="no-such-profile", subject=bob.id, server_key=True),  # 6
        line(profile="citizen-auth", subject=bob.id, csr=make_csr(shared_key).decode()),  # 7
        line(profile="citizen-auth", subject=carol.id, csr=make_csr(shared_key).decode()),  # 8
        line(profile="citizen-auth", subject=carol.id, csr="garbage"),  # 9
        line(profile="citizen-auth", subject=carol.id),  # 10
        "   ",  # 11
    ]
    seen: list[BulkOutcome] = []
    report = ca_service.bulk_issue(lines, actor=ACTOR, progress=seen.append)

    assert [i.line for i in report.issued] == [1, 3, 7]
    assert {f.line: f.code for f in report.failed} == {
        4: "invalid_bulk_request",
        5: "subject_not_eligible",
        6: "unknown_profile",
        8: "key_already_certified",
        9: "invalid_certificate_request",
        10: "invalid_bulk_request",
    }
    assert not report.ok
    assert [o.line for o in seen] == [1, 3, 4, 5, 6, 7, 8, 9, 10]
    for issued in report.issued:
        stored = ca_service.get(issued.serial_hex)
        assert stored.subject_id == issued.subject_id
    assert ca_service.list(subject_id=carol.id) == ()
    events = [e.event for e in ledger.tail(20)]
    assert events.count("ca.certificate.issued") == 3


def test_small_batches_give_the_same_outcome(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    """A duplicate key across two batches is caught as well as within one."""
    key = ec_key()
    first, second = add_person(register), add_person(register)
    lines = [
        line(profile="citizen-auth", subject=first.id, csr=make_csr(key).decode()),
        line(profile="citizen-auth", subject=second.id, csr=make_csr(key).decode()),
    ]
    report = ca_service.bulk_issue(lines, actor=ACTOR, batch_size=1)
    assert [i.line for i in report.issued] == [1]
    assert [(f.line, f.code) for f in report.failed] == [(2, "key_already_certified")]


def test_failed_batch_commit_reports_every_line_and_keeps_no_key(
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If the batch's transaction cannot commit, nothing of it is stored and keys made for
    it are destroyed; the report says so line by line."""
    companies = [add_entity(register) for _ in range(3)]
    lines = [line(profile="eseal", subject=c.id, server_key=True) for c in companies]
    before_keys = {i.label for i in hierarchy_keys.list()}
    before_rows = row_counts(session_factory)
    real_write = CertificateStore.write

    @contextmanager
    def failing_write(self: CertificateStore) -> Iterator[Session]:
        with real_write(self) as session:
            yield session
            raise CAStorageUnavailable("the CA's database failed at commit")

    monkeypatch.setattr(CertificateStore, "write", failing_write)
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    monkeypatch.undo()

    assert report.issued == ()
    assert [(f.line, f.code) for f in report.failed] == [
        (1, "ca_storage_unavailable"),
        (2, "ca_storage_unavailable"),
        (3, "ca_storage_unavailable"),
    ]  # fmt: skip
    assert row_counts(session_factory) == before_rows
    assert {i.label for i in hierarchy_keys.list()} == before_keys


def test_progress_outcomes_say_what_happened(ca_service: CAService) -> None:
    seen: list[BulkOutcome] = []
    ca_service.bulk_issue(["[]"], actor=ACTOR, progress=seen.append)
    [outcome] = seen
    assert isinstance(outcome, BulkFailure)
    assert str(outcome) == "line 1: each line must be one JSON object [invalid_bulk_request]"
    assert not isinstance(outcome, BulkIssued)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"profile": "eseal", "subject": "x", "csr": "a", "server_key": true}', "either"),
        ('{"profile": "eseal", "subject": "x", "csr": "a", "algorithm": "ec-p256"}', "goes with"),
        ('{"profile": "eseal", "subject": "x", "server_key": true, "012345678": 1}', "a field"),
        ('{"profile": "eseal", "subject": 5, "server_key": true}', "subject"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_lines_are_explained_without_their_content(text: str | bytes, problem: str) -> None:
    with pytest.raises(InvalidBulkRequest) as raised:
        parse_bulk_line(text)
    assert problem in str(raised.value)
    assert "012345678" not in str(raised.value)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_any_line_is_parsed_or_refused_cleanly(data: bytes | str) -> None:
    try:
        parsed = parse_bulk_line(data)
    except InvalidBulkRequest as exc:
        assert "\n" not in str(exc)
    else:
        assert parsed is None or parsed.profile


def test_interrupted_bulk_run_destroys_keys_of_unstored_lines(
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ca.service

    company = add_entity(register)
    real_parse = ca.service.parse_bulk_line
    seen = 0

    def interrupted(text: str | bytes) -> object:
        nonlocal seen
        seen += 1
        if seen == 2:
            raise KeyboardInterrupt
        return real_parse(text)

    monkeypatch.setattr(ca.service, "parse_bulk_line", interrupted)
    before_keys = {i.label for i in hierarchy_keys.list()}
    before_rows = row_counts(session_factory)
    with pytest.raises(KeyboardInterrupt):
        ca_service.bulk_issue(
            [line(profile="eseal", subject=company.id, server_key=True)] * 2, actor=ACTOR
        )
    assert {i.label for i in hierarchy_keys.list()} == before_keys
    assert row_counts(session_factory) == before_rows


def test_database_failing_mid_batch_fails_the_whole_batch(
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lines already written in the batch, and lines not reached, are all reported failed.

    The connection is lost after the batch's certificate rows were inserted, while their key
    bindings are written: the certificates must not stay behind without bindings, log
    entries or audit entries."""
    from sqlalchemy.exc import OperationalError

    companies = [add_entity(register) for _ in range(3)]
    lines = [line(profile="eseal", subject=c.id, server_key=True) for c in companies]
    lines.insert(1, "not json")
    before_keys = {i.label for i in hierarchy_keys.list()}
    before_rows = row_counts(session_factory)
    real_add = CertificateStore.add_certificates
    written: list[int] = []

    def add_then_lose_connection(self: CertificateStore, session: Session, new: list[Any]) -> None:
        real_add(self, session, new)
        written.append(len(new))
        raise OperationalError("INSERT", {}, RuntimeError("connection lost"))

    monkeypatch.setattr(CertificateStore, "add_certificates", add_then_lose_connection)
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    monkeypatch.undo()

    assert report.issued == ()
    assert [(f.line, f.code) for f in report.failed] == [
        (1, "ca_storage_unavailable"),
        (2, "invalid_bulk_request"),
        (3, "ca_storage_unavailable"),
        (4, "ca_storage_unavailable"),
    ]
    assert written == [3]  # the rows were written, then rolled back
    assert row_counts(session_factory) == before_rows
    assert {i.label for i in hierarchy_keys.list()} == before_keys


# --- the batched path gives what one issuance per line gives --------------------------------


def _single(ca_service: CAService, fields: dict[str, Any]) -> tuple[str, str] | None:
    """The refusal (code, message) a single issuance gives for a bulk line, or None."""
    try:
        if fields.get("server_key"):
            ca_service.issue_with_server_key(
                fields["profile"],
                fields["subject"],
                actor=ACTOR,
                dns_names=fields.get("dns_names", ()),
            )
        else:
            ca_service.issue_from_csr(
                fields["profile"],
                fields["subject"],
                fields["csr"],
                actor=ACTOR,
                dns_names=fields.get("dns_names"),
            )
    except NatIDError as exc:
        return exc.code, exc.message
    return None


def test_every_line_gets_the_answer_a_single_issuance_gets(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    """The register is read once per batch, yet each subject - person, civil servant, legal
    entity, ministry; proven or not, deceased, dissolved, unknown, malformed - is judged as a
    single request for it is judged, with the same message."""
    alive, unproven = add_person(register), add_person(register, level=None)
    low, dead = add_person(register, level="low"), add_person(register, status="deceased")
    ministry, dissolved = (
        add_entity(register, kind="ministry"),
        add_entity(register, status="dissolved"),
    )
    company = add_entity(register)
    servant = add_servant(register, add_person(register), ministry)
    retired = add_servant(register, add_person(register), ministry, active=False)
    requests: list[dict[str, Any]] = [
        {"profile": "citizen-auth", "subject": alive.id},
        {"profile": "citizen-sign", "subject": unproven.id},
        {"profile": "citizen-sign", "subject": low.id},
        {"profile": "citizen-auth", "subject": dead.id},
        {"profile": "citizen-auth", "subject": "7f0c2a3e-5b7d-4c1e-9a2b-3c4d5e6f7a8b"},
        {"profile": "citizen-auth", "subject": "012345678"},
        {"profile": "citizen-auth", "subject": company.id},
        {"profile": "gov-auth", "subject": servant.id},
        {"profile": "gov-sign", "subject": retired.id},
        {"profile": "gov-auth", "subject": alive.id},
        {"profile": "eseal", "subject": company.id, "server_key": True},
        {"profile": "eseal", "subject": dissolved.id, "server_key": True},
        {"profile": "eseal", "subject": alive.id, "server_key": True},
        {"profile": "tls-server", "subject": ministry.id, "dns_names": ["moh.gov.kh"]},
        {"profile": "tls-server", "subject": company.id, "dns_names": ["rice.com.kh"]},
    ]
    singles, lines = [], []
    for fields in requests:
        if not fields.get("server_key"):
            fields["csr"] = make_csr(ec_key()).decode()
        singles.append(_single(ca_service, fields))
        if not fields.get("server_key"):
            fields["csr"] = make_csr(ec_key()).decode()  # a new key: the first one is certified
        lines.append(line(**fields))

    report = ca_service.bulk_issue(lines, actor=ACTOR, batch_size=8)

    bulk: dict[int, tuple[str, str] | None] = {i.line: None for i in report.issued}
    bulk.update({f.line: (f.code, f.reason) for f in report.failed})
    assert [bulk[n] for n in range(1, len(lines) + 1)] == singles
    assert [s is None for s in singles].count(True) == 4  # the four good subjects
    assert all("012345678" not in f.reason for f in report.failed)


def test_bulk_records_what_single_issuance_records(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    session_hierarchy: Hierarchy,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> None:
    """One audit entry per certificate (same event, actor, subject and data as a single
    issuance), log leaves in line order, and ledger checkpoints every N entries as always."""
    ledger = AuditLedger(
        session_factory,
        clock=clock,
        signing_key=LEDGER_KEY,
        key_label="natid-audit-ledger",
        checkpoint_interval=4,
    )
    register = EmbeddedRegister(session_factory, clock=clock, ledger=ledger)
    service = build_service(session_factory, hierarchy_keys, register, ledger, transparency, clock)
    service.adopt_hierarchy(session_hierarchy, actor="test-init")
    people = [add_person(register) for _ in range(11)]
    single = service.issue_from_csr("citizen-auth", people[0].id, make_csr(ec_key()), actor=ACTOR)
    [single_entry] = ledger.tail(1)
    log_size = transparency.tree_size()

    lines = [
        line(profile="citizen-auth", subject=p.id, csr=make_csr(ec_key()).decode()) for p in people
    ]
    report = service.bulk_issue(lines, actor=ACTOR, batch_size=4)

    assert [i.line for i in report.issued] == list(range(1, 12))
    entries = ledger.tail(11)
    certs = [service.get(i.serial_hex) for i in report.issued]
    for entry, cert, person in zip(entries, certs, people, strict=True):
        assert (entry.event, entry.actor, entry.subject) == (
            single_entry.event,
            single_entry.actor,
            person.id,
        )
        expected = dict(single_entry.data, serial=cert.serial_hex)
        assert entry.data == expected
    logged = [transparency.entry_for_certificate(c.certificate) for c in certs]
    assert [e.leaf_index for e in logged if e] == list(range(log_size, log_size + 11))
    assert [e.subject_id for e in logged if e] == [p.id for p in people]
    transparency.verify_against([single.certificate, *(c.certificate for c in certs)])
    head = ledger.head()
    assert [c.seq for c in ledger.checkpoints()] == list(range(4, head.seq + 1, 4))
    assert ledger.verify().ok


def test_key_certified_before_the_run_is_refused_as_a_single_issuance_refuses_it(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    alice, bob = add_person(register), add_person(register)
    key = ec_key()
    first = ca_service.issue_from_csr("citizen-auth", alice.id, make_csr(key), actor=ACTOR)
    expected = [
        _single(ca_service, {"profile": "citizen-auth", "subject": who.id, "csr": make_csr(key)})
        for who in (alice, bob)
    ]
    lines = [
        line(profile="citizen-auth", subject=alice.id, csr=make_csr(key).decode()),
        line(profile="citizen-auth", subject=bob.id, csr=make_csr(key).decode()),
        line(profile="citizen-auth", subject=bob.id, csr=make_csr(ec_key()).decode()),
    ]
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    assert [(f.code, f.reason) for f in report.failed] == expected
    assert first.serial_hex in report.failed[0].reason
    assert [i.line for i in report.issued] == [3]
    assert [c.serial_hex for c in ca_service.list(subject_id=alice.id)] == [first.serial_hex]


def test_key_bound_by_a_concurrent_request_fails_only_its_line(
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another request binds a line's key between the batch's look-up and its insert (here:
    the look-up is made to miss it). The database's key constraint catches it, and the batch
    is written line by line so that only that line fails."""
    people = [add_person(register) for _ in range(4)]
    stolen = ec_key()
    ca_service.issue_from_csr("citizen-auth", people[3].id, make_csr(stolen), actor=ACTOR)
    before = row_counts(session_factory)
    audit_before = ledger.head().seq
    real_lookup = CertificateStore.bound_keys
    monkeypatch.setattr(
        CertificateStore,
        "bound_keys",
        lambda self, s, spkis: {},  # the race: not seen yet
    )
    keys = [ec_key(), ec_key(), stolen]
    lines = [
        line(profile="citizen-auth", subject=p.id, csr=make_csr(k).decode())
        for p, k in zip(people, keys, strict=False)
    ]
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    monkeypatch.setattr(CertificateStore, "bound_keys", real_lookup)

    assert [i.line for i in report.issued] == [1, 2]
    assert [(f.line, f.code) for f in report.failed] == [(3, "key_already_certified")]
    assert row_counts(session_factory) == (before[0] + 2, before[1] + 2)
    assert ledger.head().seq == audit_before + 2
    certs = [ca_service.get(i.serial_hex).certificate for i in report.issued]
    transparency.verify_against(certs)
    assert ca_service.list(subject_id=people[2].id) == ()
