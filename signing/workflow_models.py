"""ORM tables of approval workflows (issue 5, "Approval workflows"); migration
``0017_signing_workflows``.

* ``signing_workflows``: one row per document routed for approval: its author (a person and the
  civil-servant position they wrote it in), the state (``in_progress``, ``rejected``,
  ``completed``), the step whose turn it is, the options (final e-seal by the author's ministry,
  certification on the first signature, PAdES level) and ``version``, the number of the newest
  document version. ``version`` is also the optimistic-concurrency counter: a signature is
  stored only by an ``UPDATE ... WHERE version = <the version it signed>``, so two approvers
  of a parallel group who sign at the same moment cannot both extend the same version (one
  of them signs again on top of the other's signature, see :mod:`signing.workflow`).
* ``signing_workflow_approvers``: one row per approver per step (a step with one row is a single
  approver, with several a parallel group). The approver's person id is copied from the register
  so the inbox is one indexed query.
* ``signing_workflow_versions``: the document, version by version. Every version after the
  first is an incremental update of the one before (pyHanko appends; earlier bytes never
  change), so a row keeps only the bytes appended to the previous version; the full document
  is their concatenation, checked against the recorded SHA-256.
* ``signing_workflow_events``: the history: created, approved, rejected, sealed, completed,
  with the acting person, the civil-servant position, the step and the comment, if any.
  The audit ledger gets the same events with ids only; comments stay here.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = [
    "ApproverRow",
    "ApproverState",
    "WorkflowEventRow",
    "WorkflowRow",
    "WorkflowState",
    "WorkflowVersionRow",
]

_ID = Uuid(as_uuid=False)


class WorkflowState(StrEnum):
    IN_PROGRESS = "in_progress"
    REJECTED = "rejected"
    COMPLETED = "completed"


class ApproverState(StrEnum):
    """``waiting`` until the approver's step comes (or for ever, after a rejection)."""

    WAITING = "waiting"
    APPROVED = "approved"
    REJECTED = "rejected"


class WorkflowRow(Base):
    __tablename__ = "signing_workflows"
    __table_args__ = (
        CheckConstraint("state IN ('in_progress', 'rejected', 'completed')", name="state"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(120))
    author_person_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("registry_persons.id"), index=True
    )
    author_servant_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_civil_servants.id"))
    #: The OAuth client that started the workflow for its author (API), else None (pages).
    client_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    #: The step (from 1) whose approvers may act now; steps + 1 once every step approved.
    current_step: Mapped[int] = mapped_column(Integer())
    steps: Mapped[int] = mapped_column(Integer())
    #: The ministry (legal entity) whose e-seal closes the workflow, if it asks for one.
    seal_entity_id: Mapped[str | None] = mapped_column(
        _ID, ForeignKey("registry_legal_entities.id")
    )
    certify: Mapped[bool] = mapped_column(Boolean())
    level: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer())
    original_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ApproverRow(Base):
    __tablename__ = "signing_workflow_approvers"
    __table_args__ = (
        CheckConstraint("state IN ('waiting', 'approved', 'rejected')", name="state"),
        Index("ix_signing_workflow_approvers_person_state", "person_id", "state"),
    )

    workflow_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("signing_workflows.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(Integer(), primary_key=True)
    member: Mapped[int] = mapped_column(Integer(), primary_key=True)
    servant_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_civil_servants.id"))
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"))
    field_name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    acted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: The document version this approver's signature created.
    version: Mapped[int | None] = mapped_column(Integer())


class WorkflowVersionRow(Base):
    __tablename__ = "signing_workflow_versions"

    workflow_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("signing_workflows.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer(), primary_key=True)
    #: ``uploaded``, ``prepared`` (signature fields added), ``approved``, ``sealed``.
    kind: Mapped[str] = mapped_column(String(16))
    #: Size and SHA-256 of the whole document at this version.
    size: Mapped[int] = mapped_column(BigInteger())
    sha256: Mapped[str] = mapped_column(String(64))
    #: The bytes this version appends to the previous one (the whole file for version 0).
    appended: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class WorkflowEventRow(Base):
    __tablename__ = "signing_workflow_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    workflow_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("signing_workflows.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: ``created``, ``approved``, ``rejected``, ``sealed``, ``completed``.
    event: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str | None] = mapped_column(_ID)
    servant_id: Mapped[str | None] = mapped_column(_ID)
    step: Mapped[int | None] = mapped_column(Integer())
    version: Mapped[int | None] = mapped_column(Integer())
    comment: Mapped[str | None] = mapped_column(Text())
