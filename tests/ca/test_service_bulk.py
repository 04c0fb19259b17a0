"""Bulk issuance from JSON Lines: good lines issued, bad lines reported by number and reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from ca.bulk import BulkFailure, BulkIssued, BulkOutcome, parse_bulk_line
from ca.errors import CAStorageUnavailable, InvalidBulkRequest
from ca.service import CAService
from ca.store import CertificateStore
from core.audit import AuditLedger
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    add_entity,
    add_person,
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
    """Lines already written in the batch, and lines not reached, are all reported failed."""
    from sqlalchemy.exc import OperationalError

    companies = [add_entity(register) for _ in range(3)]
    lines = [line(profile="eseal", subject=c.id, server_key=True) for c in companies]
    lines.insert(1, "not json")
    before_keys = {i.label for i in hierarchy_keys.list()}
    before_rows = row_counts(session_factory)
    real_nested = Session.begin_nested
    calls = 0

    def flaky_nested(self: Session) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("SAVEPOINT", {}, RuntimeError("connection lost"))
        return real_nested(self)

    monkeypatch.setattr(Session, "begin_nested", flaky_nested)
    report = ca_service.bulk_issue(lines, actor=ACTOR)
    monkeypatch.undo()

    assert report.issued == ()
    assert [(f.line, f.code) for f in report.failed] == [
        (1, "ca_storage_unavailable"),
        (2, "invalid_bulk_request"),
        (3, "ca_storage_unavailable"),
        (4, "ca_storage_unavailable"),
    ]
    assert row_counts(session_factory) == before_rows
    assert {i.label for i in hierarchy_keys.list()} == before_keys
