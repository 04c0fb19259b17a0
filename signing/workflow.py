"""Approval workflows: a document goes through an ordered list of civil servants (or parallel
groups), each approving with a PAdES signature or rejecting with a comment, and can end with the
ministry's e-seal (issue 5, "Approval workflows (the electronic approval system)").

:class:`ApprovalWorkflows` is the use-case class the pages and the REST API call. Decisions:

1. **The document.** The author's PDF (at most :data:`MAX_WORKFLOW_PDF_BYTES`) is version 0;
   version 1 adds, in one incremental update, an empty signature field for every approver
   (``Approval-<step>-<member>``) and for the seal (``Seal``), so a certification signature
   (DocMDP level 2, ISO 32000-2 §12.8.2.2) on the first approval covers a document whose later
   signatures only fill fields that already exist. Each approval is an incremental update of the
   current version (earlier signatures stay valid); versions are stored as the bytes they append
   (:mod:`signing.workflow_models`), each checked against its SHA-256 when read.
2. **Signatures** are made by :class:`~signing.service.SigningService` with the approver's
   ``gov-sign`` certificate and server-side key, at PAdES B-LT by default (time-stamp from
   NatID's TSA, OCSP responses and CRLs in the DSS; ETSI EN 319 142-1 §6.4). Every approver
   must have such a certificate when the workflow starts, and the author's ministry an e-seal
   when a seal is asked for, so a workflow cannot stall half-way for want of one.
3. **Signing is an act of the official**: :meth:`ApprovalWorkflows.approve` needs an
   authentication at level ``substantial`` or higher made at most :data:`FRESHNESS` ago
   (:class:`~signing.workflow_errors.FreshAuthenticationRequired` otherwise; the pages send the
   official to log in again).
4. **Concurrency.** Two approvers of a parallel group may sign at the same moment. Signing takes
   a while (time-stamp, revocation data) and must not hold a database transaction (the ledger
   and the OCSP responders write their own), so it runs on a snapshot, and the result is stored
   by a compare-and-set on ``signing_workflows.version``: ``UPDATE ... WHERE version = <the
   version signed> AND state = 'in_progress'``. The loser of a race signs again on top of the
   winner's version (at most :data:`MAX_ATTEMPTS` times); its first signature is never stored
   (SigningService still audits it as ``signing.pdf.signed``, by its hash). This holds on
   PostgreSQL's READ COMMITTED and on SQLite's single writer alike.
5. **Rejection** by any approver of the current step ends the workflow (state ``rejected``);
   the document returns to its author with the comment, shown in the author's inbox.
6. **Privacy.** Only participants (author and approvers) see a workflow; for anyone else it
   does not exist (:class:`~signing.workflow_errors.WorkflowNotFound`). Audit entries
   (``signing.workflow.created|approved|rejected|sealed|completed``) carry ids, step numbers,
   versions and hashes; comments stay in the workflow's history only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditEvent, AuditLedger
from core.clock import Clock
from core.db import transaction
from core.errors import NatIDError
from registry.errors import SubjectNotFound
from registry.ports import PopulationRegister
from registry.records import CivilServant
from signing.errors import InvalidPdf, NoSigningCertificate, SigningUnavailable
from signing.pades import PadesLevel, add_signature_fields, open_pdf
from signing.service import SigningService
from signing.workflow_errors import (
    InvalidWorkflow,
    NotACivilServant,
    NotYourTurn,
    WorkflowBusy,
    WorkflowNotFound,
)
from signing.workflow_models import (
    ApproverRow,
    ApproverState,
    WorkflowEventRow,
    WorkflowRow,
    WorkflowState,
)
from signing.workflow_records import (
    Approver,
    Authentication,
    Inbox,
    Workflow,
    check_fresh,
    checked_comment,
    checked_filename,
    checked_steps,
    checked_title,
    summary_of,
)
from signing.workflow_store import (
    add_event,
    add_version,
    compare_and_set,
    document_at,
    load_workflow,
    set_approver,
    sha256_hex,
    shown,
)

__all__ = ["MAX_ATTEMPTS", "MAX_WORKFLOW_PDF_BYTES", "SEAL_FIELD", "ApprovalWorkflows"]

#: Largest document a workflow takes (every version is kept).
MAX_WORKFLOW_PDF_BYTES = 32 * 1024 * 1024
#: How often an approval is signed again after losing a race (decision 4).
MAX_ATTEMPTS = 5
SEAL_FIELD = "Seal"
_INBOX_LIMIT = 100


class ApprovalWorkflows:
    """Starts, shows, approves and rejects approval workflows (module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        signing: SigningService,
        register: PopulationRegister,
        ledger: AuditLedger,
        clock: Clock,
        level: str | PadesLevel = PadesLevel.B_LT,
        max_pdf_bytes: int = MAX_WORKFLOW_PDF_BYTES,
    ) -> None:
        self._sessions = sessions
        self._signing = signing
        self._register = register
        self._ledger = ledger
        self._clock = clock
        self._level = PadesLevel.parse(level)
        self._max_bytes = max_pdf_bytes

    # --- starting --------------------------------------------------------------------------

    def create(
        self,
        pdf: bytes,
        *,
        title: str,
        author_person_id: str,
        steps: Sequence[Sequence[str] | str],
        seal: bool = False,
        certify: bool = False,
        filename: str | None = None,
        author_servant_id: str | None = None,
        client_id: str | None = None,
    ) -> Workflow:
        """Start a workflow for ``pdf``; ``steps`` name civil servants, a step with several
        is a parallel group. Raises :class:`InvalidWorkflow`, :class:`NotACivilServant`,
        :class:`~signing.errors.InvalidPdf`."""
        title = checked_title(title)
        plan = checked_steps(list(steps))
        if not isinstance(pdf, bytes) or len(pdf) > self._max_bytes:
            size = len(pdf) if isinstance(pdf, bytes) else 0
            raise InvalidPdf(f"{size} bytes; a workflow takes PDFs of at most {self._max_bytes}")
        author = self._author_position(author_person_id, author_servant_id)
        approvers = [
            (step, member, servant_id, self._approver_person(servant_id))
            for step, group in enumerate(plan, 1)
            for member, servant_id in enumerate(group, 1)
        ]
        for step in range(1, len(plan) + 1):
            people = [p for s, _m, _sid, p in approvers if s == step]
            if len(set(people)) != len(people):
                raise InvalidWorkflow(f"step {step}: one person holds two of its positions")
        seal_entity = author.ministry_id if seal else None
        if seal_entity is not None:
            try:
                self._signing.eseal_certificate(seal_entity)
            except NoSigningCertificate as exc:
                raise InvalidWorkflow(
                    f"the ministry {seal_entity} has no e-seal certificate with a server-side "
                    "key; ask its operator to issue one, or start the workflow without a seal"
                ) from exc
        if certify and _has_signatures(pdf):
            raise InvalidWorkflow(
                "the document is signed already; a certification signature must be its first"
            )
        names = [f"Approval-{s}-{m}" for s, m, _sid, _p in approvers]
        prepared = add_signature_fields(pdf, [*names, *([SEAL_FIELD] if seal else [])])
        if not prepared.startswith(pdf):  # pragma: no cover - pyHanko always appends
            raise SigningUnavailable("adding the signature fields rewrote the document")
        now = self._clock.now()
        workflow_id = str(uuid.uuid4())
        with transaction(self._sessions) as session:
            session.add(
                WorkflowRow(
                    id=workflow_id,
                    title=title,
                    filename=checked_filename(filename),
                    author_person_id=author.person_id,
                    author_servant_id=author.id,
                    client_id=client_id,
                    state=WorkflowState.IN_PROGRESS.value,
                    current_step=1,
                    steps=len(plan),
                    seal_entity_id=seal_entity,
                    certify=certify,
                    level=self._level.value,
                    version=1,
                    original_sha256=sha256_hex(pdf),
                    created_at=now,
                    updated_at=now,
                    finished_at=None,
                )
            )
            session.flush()
            for (step, member, servant_id, person_id), name in zip(approvers, names, strict=True):
                session.add(
                    ApproverRow(
                        workflow_id=workflow_id,
                        step=step,
                        member=member,
                        servant_id=servant_id,
                        person_id=person_id,
                        field_name=name,
                        state=ApproverState.WAITING.value,
                    )
                )
            add_version(session, workflow_id, 0, kind="uploaded", previous=b"", data=pdf, at=now)
            add_version(
                session, workflow_id, 1, kind="prepared", previous=pdf, data=prepared, at=now
            )
            session.add(
                WorkflowEventRow(
                    workflow_id=workflow_id,
                    at=now,
                    event="created",
                    person_id=author.person_id,
                    servant_id=author.id,
                    version=1,
                )
            )
            session.flush()
            self._ledger.append(
                "signing.workflow.created",
                actor=author.person_id,
                subject=workflow_id,
                data={
                    "servant_id": author.id,
                    "client_id": client_id,
                    "steps": len(plan),
                    "approvers": len(approvers),
                    "seal": seal,
                    "certify": certify,
                    "sha256": sha256_hex(pdf),
                },
                session=session,
            )
        return self.get(workflow_id, person_id=author.person_id)

    def _author_position(self, person_id: str, servant_id: str | None) -> CivilServant:
        try:
            positions = [s for s in self._register.servants_of_person(person_id) if s.active]
        except (SubjectNotFound, NatIDError) as exc:
            raise NotACivilServant("the author is not a person of the register") from exc
        if servant_id is not None:
            positions = [s for s in positions if s.id == servant_id.strip().lower()]
        if not positions:
            raise NotACivilServant(
                "only a civil servant with an active position starts an approval workflow"
            )
        return positions[0]

    def _approver_person(self, servant_id: str) -> str:
        try:
            servant = self._register.get_servant(servant_id)
        except NatIDError as exc:
            raise InvalidWorkflow(f"no civil servant with id {servant_id}") from exc
        if not servant.active:
            raise InvalidWorkflow(f"civil servant {servant_id} is no longer in post")
        try:
            self._signing.signing_certificate(servant_id)
        except NoSigningCertificate as exc:
            raise InvalidWorkflow(
                f"civil servant {servant_id} has no valid gov-sign certificate with a "
                "server-side key"
            ) from exc
        return servant.person_id

    # --- reading ---------------------------------------------------------------------------

    def get(self, workflow_id: str, *, person_id: str) -> Workflow:
        """The workflow, if ``person_id`` takes part in it (else :class:`WorkflowNotFound`)."""
        with self._read() as session:
            found = load_workflow(session, workflow_id)
        if not found.is_participant(person_id):
            raise WorkflowNotFound(f"no workflow {shown(workflow_id)} for this person")
        return found

    def document(self, workflow_id: str, *, person_id: str) -> tuple[Workflow, bytes]:
        """The workflow and its current PDF, for a participant."""
        with self._read() as session:
            found = load_workflow(session, workflow_id)
            if not found.is_participant(person_id):
                raise WorkflowNotFound(f"no workflow {shown(workflow_id)} for this person")
            return found, document_at(session, found.id, found.version)

    def inbox(self, person_id: str) -> Inbox:
        """What waits for the person's approval now, and what they started (newest first).

        Only steps of the person's ACTIVE positions wait in the inbox: a civil servant who left
        or moved (a register life event) no longer sees the old position's approvals.
        """
        active = [s.id for s in self._register.servants_of_person(person_id) if s.active]
        turn = (
            select(WorkflowRow)
            .join(ApproverRow, ApproverRow.workflow_id == WorkflowRow.id)
            .where(
                ApproverRow.person_id == person_id,
                ApproverRow.servant_id.in_(active),
                ApproverRow.state == ApproverState.WAITING.value,
                ApproverRow.step == WorkflowRow.current_step,
                WorkflowRow.state == WorkflowState.IN_PROGRESS.value,
            )
            .order_by(WorkflowRow.updated_at.desc())
            .limit(_INBOX_LIMIT)
        )
        started = (
            select(WorkflowRow)
            .where(WorkflowRow.author_person_id == person_id)
            .order_by(WorkflowRow.updated_at.desc())
            .limit(_INBOX_LIMIT)
        )
        with self._read() as session:
            waiting = tuple(dict.fromkeys(summary_of(r) for r in session.scalars(turn)))
            mine = tuple(summary_of(r) for r in session.scalars(started))
        return Inbox(waiting=waiting, started=mine)

    # --- acting ----------------------------------------------------------------------------

    def approve(
        self,
        workflow_id: str,
        *,
        person_id: str,
        authentication: Authentication,
        comment: str | None = None,
    ) -> Workflow:
        """Sign the current version as the caller's approval (decisions 2-4)."""
        now = self._clock.now()
        check_fresh(authentication, at=now)
        comment = checked_comment(comment, required=False)
        for _attempt in range(MAX_ATTEMPTS):
            with self._read() as session:
                found = load_workflow(session, workflow_id)
                slot = self._slot(found, person_id)
                current = document_at(session, found.id, found.version)
            group = found.steps[slot.step - 1]
            step_done = all(
                a.state is ApproverState.APPROVED for a in group if a.member != slot.member
            )
            last = step_done and slot.step == len(found.steps)
            first_signature = not any(
                a.state is ApproverState.APPROVED for step in found.steps for a in step
            )
            signed = self._signing.sign_pdf(
                current,
                signer=slot.servant_id,
                actor=person_id,
                level=found.level,
                field_name=slot.field_name,
                reason=f"Approval, step {slot.step} of {len(found.steps)}",
                certify=found.certify and first_signature,
            )
            versions = [("approved", signed)]
            if last and found.seal_entity_id is not None:
                # Into the field made for it at creation, audited as signing.pdf.sealed.
                sealed = self._signing.seal(
                    found.seal_entity_id,
                    signed,
                    actor=person_id,
                    level=found.level,
                    field_name=SEAL_FIELD,
                    reason="E-seal of the ministry",
                )
                versions.append(("sealed", sealed))
            stored = self._store_approval(
                found, slot, current, versions, comment=comment, last=last, at=now
            )
            if stored:
                return self.get(workflow_id, person_id=person_id)
        raise WorkflowBusy("the document kept changing while it was being signed; try again")

    def reject(self, workflow_id: str, *, person_id: str, comment: str) -> Workflow:
        """End the workflow as rejected; it returns to its author with ``comment``."""
        text = checked_comment(comment, required=True)
        for _attempt in range(MAX_ATTEMPTS):
            now = self._clock.now()
            with self._read() as session:
                found = load_workflow(session, workflow_id)
                slot = self._slot(found, person_id)
            with transaction(self._sessions) as session:
                if not compare_and_set(session, found, version=found.version, at=now,
                                        state=WorkflowState.REJECTED, finished=True):  # fmt: skip
                    continue
                set_approver(session, found.id, slot.step, slot.member,
                              ApproverState.REJECTED, at=now, version=None)  # fmt: skip
                add_event(session, found.id, "rejected", now, slot, version=None, comment=text)
                self._ledger.append(
                    "signing.workflow.rejected",
                    actor=person_id,
                    subject=found.id,
                    data={"servant_id": slot.servant_id, "step": slot.step},
                    session=session,
                )
            return self.get(workflow_id, person_id=person_id)
        raise WorkflowBusy("the workflow kept changing; try again")

    # --- internals -------------------------------------------------------------------------

    def _slot(self, found: Workflow, person_id: str) -> Approver:
        if not found.is_participant(person_id):
            raise WorkflowNotFound(f"no workflow {shown(found.id)} for this person")
        slot = found.waiting_for(person_id)
        if slot is None:
            raise NotYourTurn(
                f"workflow {found.id} is {found.state.value}, at step {found.current_step}; "
                "this person has nothing to approve in it now"
            )
        return slot

    def _store_approval(
        self,
        found: Workflow,
        slot: Approver,
        current: bytes,
        versions: list[tuple[str, bytes]],
        *,
        comment: str | None,
        last: bool,
        at: dt.datetime,
    ) -> bool:
        """Store the signed versions if nobody changed the workflow meanwhile (decision 4)."""
        group = found.steps[slot.step - 1]
        step_done = all(a.state is ApproverState.APPROVED for a in group if a.member != slot.member)
        new_version = found.version + len(versions)
        state = WorkflowState.COMPLETED if last else WorkflowState.IN_PROGRESS
        with transaction(self._sessions) as session:
            if not compare_and_set(
                session,
                found,
                version=new_version,
                at=at,
                state=state,
                finished=last,
                next_step=found.current_step + 1 if step_done else found.current_step,
            ):
                return False
            previous = current
            approved_version = found.version + 1
            for offset, (kind, data) in enumerate(versions, 1):
                if not data.startswith(previous):
                    raise SigningUnavailable("the signature did not extend the document")
                add_version(
                    session,
                    found.id,
                    found.version + offset,
                    kind=kind,
                    previous=previous,
                    data=data,
                    at=at,
                )
                previous = data
            set_approver(session, found.id, slot.step, slot.member,
                          ApproverState.APPROVED, at=at, version=approved_version)  # fmt: skip
            add_event(session, found.id, "approved", at, slot, version=approved_version,
                   comment=comment)  # fmt: skip
            events: list[tuple[str, dict[str, Any]]] = [
                (
                    "signing.workflow.approved",
                    {
                        "servant_id": slot.servant_id,
                        "step": slot.step,
                        "version": approved_version,
                        "sha256": sha256_hex(versions[0][1]),
                    },
                )
            ]
            if len(versions) > 1:
                session.add(WorkflowEventRow(workflow_id=found.id, at=at, event="sealed",
                                             version=new_version))  # fmt: skip
                events.append(
                    (
                        "signing.workflow.sealed",
                        {"entity_id": found.seal_entity_id, "version": new_version,
                         "sha256": sha256_hex(versions[-1][1])},
                    )
                )  # fmt: skip
            if last:
                session.add(WorkflowEventRow(workflow_id=found.id, at=at, event="completed",
                                             version=new_version))  # fmt: skip
                events.append(("signing.workflow.completed", {"version": new_version}))
            session.flush()
            self._ledger.append_many(
                [AuditEvent(name, slot.person_id, found.id, data) for name, data in events],
                session=session,
            )
        return True

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only session (deferred on SQLite: it never waits for the write lock)."""
        with self._sessions() as session:
            session.connection(execution_options={"sqlite_deferred": True})
            yield session


def _has_signatures(pdf: bytes) -> bool:
    from pyhanko.sign import fields

    reader = open_pdf(pdf).prev
    return any(True for _ in fields.enumerate_sig_fields(reader, filled_status=True))
