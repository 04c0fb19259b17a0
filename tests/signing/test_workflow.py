"""Approval workflows in the domain: order of steps, parallel groups, the final e-seal,
certification, rejection, who may see what, freshness of the official's login, and two
approvers signing at the same moment (signing/workflow.py)."""

from __future__ import annotations

import datetime as dt
import io
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy.orm import Session, sessionmaker

from ca.profiles import ProfileName
from ca.service import CAService
from core.audit import AuditLedger
from core.clock import FixedClock
from registry import EmbeddedRegister
from registry.records import AssuranceLevel
from signing.service import SigningService
from signing.validate import Indication
from signing.workflow import ApprovalWorkflows
from signing.workflow_errors import (
    FreshAuthenticationRequired,
    InvalidWorkflow,
    NotACivilServant,
    NotYourTurn,
    WorkflowNotFound,
)
from signing.workflow_models import WorkflowState
from signing.workflow_records import Authentication
from tests.ca._issuance import add_entity, add_person, add_servant
from tests.signing._pdf import make_pdf


@dataclass
class Office:
    """A ministry with an e-seal, an author and four approvers with server-side gov-sign keys."""

    ministry_id: str
    author_person: str
    author_servant: str
    servants: list[str]
    persons: list[str]


@pytest.fixture
def office(register: EmbeddedRegister, ca_service: CAService, signing: SigningService) -> Office:
    ministry = add_entity(register, kind="ministry")
    signing.ensure_eseal(ministry.id, actor="test")
    author = add_person(register, name_latin="Chan Sophea")
    author_position = add_servant(register, author, ministry)
    servants, persons = [], []
    for name in ("Keo Vanna", "Lim Bopha", "Meas Rith", "Nhem Sokha"):
        person = add_person(register, name_latin=name)
        servant = add_servant(register, person, ministry)
        ca_service.issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
        servants.append(servant.id)
        persons.append(person.id)
    return Office(ministry.id, author.id, author_position.id, servants, persons)


@pytest.fixture
def workflows(
    session_factory: sessionmaker[Session],
    signing: SigningService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    clock: FixedClock,
) -> ApprovalWorkflows:
    # B-T keeps these tests quick; B-LT (the default) is what the HTTP tests exercise.
    return ApprovalWorkflows(
        session_factory, signing=signing, register=register, ledger=ledger, clock=clock,
        level="B-T",
    )  # fmt: skip


def fresh(clock: FixedClock, *, minutes: float = 1, acr: str = "substantial") -> Authentication:
    return Authentication(AssuranceLevel(acr), clock.now() - dt.timedelta(minutes=minutes))


def start(workflows: ApprovalWorkflows, office: Office, **kw: Any) -> str:
    s = office.servants
    kw.setdefault("steps", [[s[0]], [s[1]], [s[2], s[3]]])
    created = workflows.create(
        kw.pop("pdf", None) or make_pdf(text="Memo on the budget"),
        title="Budget memo 2027",
        author_person_id=office.author_person,
        filename="memo.pdf",
        **kw,
    )
    return created.id


def test_three_steps_with_parallel_group_and_seal_validate(
    workflows: ApprovalWorkflows,
    office: Office,
    signing: SigningService,
    clock: FixedClock,
    ledger: AuditLedger,
) -> None:
    original = make_pdf(text="Memo on the budget")
    wid = start(workflows, office, seal=True, certify=True, pdf=original)
    p = office.persons
    inbox = workflows.inbox(p[0])
    assert [w.id for w in inbox.waiting] == [wid]
    assert workflows.inbox(p[1]).waiting == ()  # not their turn yet
    with pytest.raises(NotYourTurn):
        workflows.approve(wid, person_id=p[2], authentication=fresh(clock))

    workflows.approve(wid, person_id=p[0], authentication=fresh(clock), comment="Agreed.")
    workflows.approve(wid, person_id=p[1], authentication=fresh(clock))
    # The parallel group: both must approve, in any order.
    mid = workflows.approve(wid, person_id=p[3], authentication=fresh(clock))
    assert mid.state is WorkflowState.IN_PROGRESS and mid.current_step == 3
    done = workflows.approve(wid, person_id=p[2], authentication=fresh(clock))
    assert done.state is WorkflowState.COMPLETED
    assert [e.event for e in done.events] == [
        "created", "approved", "approved", "approved", "approved", "sealed", "completed",
    ]  # fmt: skip
    assert done.events[1].comment == "Agreed."

    _, pdf = workflows.document(wid, person_id=office.author_person)
    report = signing.validate(pdf)
    assert report.ok, [s.as_dict() for s in report.signatures]
    names = [s.field_name for s in report.signatures]
    assert names == ["Approval-1-1", "Approval-2-1", "Approval-3-2", "Approval-3-1", "Seal"]
    assert all(s.intact and s.signature_valid for s in report.signatures)
    assert report.signatures[0].certification_level == 2
    seal_cert = signing.eseal_certificate(office.ministry_id)
    assert int(report.signatures[-1].signer_serial, 16) == int(seal_cert.serial_hex, 16)
    # Four officials' signatures and one e-seal, each audited as what it is.
    events = [e.event for e in ledger.tail(200) if e.event.startswith("signing.pdf.")]
    assert events.count("signing.pdf.signed") == 4
    assert events.count("signing.pdf.sealed") == 1
    # Every earlier version is a prefix: the author's bytes are untouched.
    assert pdf.startswith(original)
    fields = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(fields) == 5


def test_rejection_returns_to_author_with_comment(
    workflows: ApprovalWorkflows, office: Office, clock: FixedClock, ledger: AuditLedger
) -> None:
    wid = start(workflows, office)
    p = office.persons
    workflows.approve(wid, person_id=p[0], authentication=fresh(clock))
    with pytest.raises(InvalidWorkflow):
        workflows.reject(wid, person_id=p[1], comment="  ")
    rejected = workflows.reject(wid, person_id=p[1], comment="Figures in table 2 are wrong.")
    assert rejected.state is WorkflowState.REJECTED
    author_view = workflows.get(wid, person_id=office.author_person)
    assert author_view.rejection is not None
    assert author_view.rejection.comment == "Figures in table 2 are wrong."
    started = workflows.inbox(office.author_person).started
    assert [(w.id, w.state) for w in started] == [(wid, WorkflowState.REJECTED)]
    # Nobody can act on it any more.
    with pytest.raises(NotYourTurn):
        workflows.approve(wid, person_id=p[2], authentication=fresh(clock))
    assert workflows.inbox(p[2]).waiting == ()
    # The ledger has ids and step numbers, never the comment.
    entries = [e for e in ledger.tail(50) if e.event.startswith("signing.workflow.")]
    assert [e.event for e in entries] == [
        "signing.workflow.created", "signing.workflow.approved", "signing.workflow.rejected",
    ]  # fmt: skip
    assert all("table 2" not in str(e.data) for e in entries)


def test_outsider_sees_nothing(
    workflows: ApprovalWorkflows, office: Office, register: EmbeddedRegister, clock: FixedClock
) -> None:
    wid = start(workflows, office)
    outsider = add_person(register).id
    with pytest.raises(WorkflowNotFound):
        workflows.get(wid, person_id=outsider)
    with pytest.raises(WorkflowNotFound):
        workflows.document(wid, person_id=outsider)
    with pytest.raises(WorkflowNotFound):
        workflows.approve(wid, person_id=outsider, authentication=fresh(clock))
    with pytest.raises(WorkflowNotFound):
        workflows.get("not-a-uuid", person_id=outsider)


@pytest.mark.parametrize(("minutes", "acr"), [(6, "substantial"), (1, "low")])
def test_stale_or_weak_login_cannot_sign(
    workflows: ApprovalWorkflows, office: Office, clock: FixedClock, minutes: int, acr: str
) -> None:
    wid = start(workflows, office)
    with pytest.raises(FreshAuthenticationRequired):
        workflows.approve(
            wid, person_id=office.persons[0], authentication=fresh(clock, minutes=minutes, acr=acr)
        )
    assert workflows.get(wid, person_id=office.author_person).version == 1


def test_creation_refuses_what_would_stall(
    workflows: ApprovalWorkflows, office: Office, register: EmbeddedRegister
) -> None:
    no_cert = add_servant(register, add_person(register), register.get_entity(office.ministry_id))
    with pytest.raises(InvalidWorkflow, match="no valid gov-sign certificate"):
        start(workflows, office, steps=[[no_cert.id]])
    other_ministry = add_entity(register, kind="ministry")
    author = add_person(register)
    add_servant(register, author, other_ministry)
    with pytest.raises(InvalidWorkflow, match="no e-seal certificate"):
        workflows.create(make_pdf(), title="x", author_person_id=author.id,
                         steps=[[office.servants[0]]], seal=True)  # fmt: skip
    with pytest.raises(NotACivilServant):
        workflows.create(make_pdf(), title="x", author_person_id=add_person(register).id,
                         steps=[[office.servants[0]]])  # fmt: skip
    with pytest.raises(InvalidWorkflow, match="named twice"):
        start(workflows, office, steps=[[office.servants[0]], [office.servants[0]]])


def test_parallel_approvers_at_the_same_moment_keep_both_signatures(
    workflows: ApprovalWorkflows,
    office: Office,
    clock: FixedClock,
    signing: SigningService,
    session_factory: sessionmaker[Session],
) -> None:
    """Both members of a group read the same version and sign it; the one whose update loses
    the compare-and-set signs again on top of the other's signature (PostgreSQL's concurrent
    writers and SQLite's single writer alike)."""
    s = office.servants
    wid = start(workflows, office, steps=[[s[0], s[1]]])
    barrier = threading.Barrier(2, timeout=30)
    real_sign = signing.sign_pdf
    first_round = {"n": 0}
    lock = threading.Lock()

    def sign_together(pdf: bytes, **kw: Any) -> bytes:
        signed = real_sign(pdf, **kw)
        with lock:
            first_round["n"] += 1
            wait = first_round["n"] <= 2
        if wait:  # both have signed the same version before either stores it
            barrier.wait()
        return signed

    signing.sign_pdf = sign_together  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def approve(person: str) -> None:
        try:
            workflows.approve(wid, person_id=person, authentication=fresh(clock))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(p,)) for p in office.persons[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    signing.sign_pdf = real_sign  # type: ignore[method-assign]
    assert errors == []
    assert first_round["n"] == 3  # the loser signed once more
    done, pdf = workflows.document(wid, person_id=office.author_person)
    assert done.state is WorkflowState.COMPLETED
    assert done.version == 3
    report = signing.validate(pdf)
    assert report.ok
    assert sorted(r.field_name for r in report.signatures) == ["Approval-1-1", "Approval-1-2"]
    assert all(r.indication is Indication.TOTAL_PASSED for r in report.signatures)


def test_a_servant_who_left_no_longer_sees_the_approval_waiting(
    workflows: ApprovalWorkflows, office: Office, register: EmbeddedRegister
) -> None:
    wid = start(workflows, office)
    first = office.persons[0]
    assert [w.id for w in workflows.inbox(first).waiting] == [wid]

    register.record_event(
        {"type": "servant_left", "subject": first, "servant_id": office.servants[0],
         "date": "2026-10-31"}
    )  # fmt: skip

    assert workflows.inbox(first).waiting == ()
