"""Storage of approval workflows: loading one with its steps and history, the
compare-and-set that stores a change only onto the version it was made from, and documents kept
as the bytes each version appends (:mod:`signing.workflow_models`; decisions in
:mod:`signing.workflow`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from signing.errors import SigningUnavailable
from signing.workflow_errors import WorkflowNotFound
from signing.workflow_models import (
    ApproverRow,
    ApproverState,
    WorkflowEventRow,
    WorkflowRow,
    WorkflowState,
    WorkflowVersionRow,
)
from signing.workflow_records import Approver, Workflow, workflow_of

__all__ = [
    "add_event",
    "add_version",
    "canonical_id",
    "compare_and_set",
    "document_at",
    "load_workflow",
    "set_approver",
    "sha256_hex",
    "shown",
]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_workflow(session: Session, workflow_id: str) -> Workflow:
    key = canonical_id(workflow_id)
    row = session.get(WorkflowRow, key) if key is not None else None
    if row is None:
        raise WorkflowNotFound(f"no workflow {shown(workflow_id)} for this person")
    approvers = session.scalars(select(ApproverRow).where(ApproverRow.workflow_id == key))
    events = session.scalars(select(WorkflowEventRow).where(WorkflowEventRow.workflow_id == key))
    current = session.get(WorkflowVersionRow, (key, row.version))
    assert current is not None
    return workflow_of(row, list(approvers), list(events), sha256=current.sha256, size=current.size)


def compare_and_set(
    session: Session,
    found: Workflow,
    *,
    version: int,
    at: dt.datetime,
    state: WorkflowState,
    finished: bool,
    next_step: int | None = None,
) -> bool:
    values: dict[str, Any] = {"version": version, "updated_at": at, "state": state.value}
    if finished:
        values["finished_at"] = at
    if next_step is not None:
        values["current_step"] = next_step
    result = session.execute(
        update(WorkflowRow)
        .where(
            WorkflowRow.id == found.id,
            WorkflowRow.version == found.version,
            WorkflowRow.state == WorkflowState.IN_PROGRESS.value,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def set_approver(
    session: Session,
    workflow_id: str,
    step: int,
    member: int,
    state: ApproverState,
    *,
    at: dt.datetime,
    version: int | None,
) -> None:
    session.execute(
        update(ApproverRow)
        .where(
            ApproverRow.workflow_id == workflow_id,
            ApproverRow.step == step,
            ApproverRow.member == member,
        )
        .values(state=state.value, acted_at=at, version=version)
    )


def add_event(
    session: Session,
    workflow_id: str,
    event: str,
    at: dt.datetime,
    slot: Approver,
    *,
    version: int | None,
    comment: str | None,
) -> None:
    session.add(
        WorkflowEventRow(
            workflow_id=workflow_id,
            at=at,
            event=event,
            person_id=slot.person_id,
            servant_id=slot.servant_id,
            step=slot.step,
            version=version,
            comment=comment,
        )
    )


def add_version(
    session: Session,
    workflow_id: str,
    version: int,
    *,
    kind: str,
    previous: bytes,
    data: bytes,
    at: dt.datetime,
) -> None:
    session.add(
        WorkflowVersionRow(
            workflow_id=workflow_id,
            version=version,
            kind=kind,
            size=len(data),
            sha256=sha256_hex(data),
            appended=data[len(previous) :],
            created_at=at,
        )
    )


def document_at(session: Session, workflow_id: str, version: int) -> bytes:
    """The whole document at ``version``: the appended parts joined, hash checked."""
    rows = list(
        session.scalars(
            select(WorkflowVersionRow)
            .where(
                WorkflowVersionRow.workflow_id == workflow_id,
                WorkflowVersionRow.version <= version,
            )
            .order_by(WorkflowVersionRow.version)
        )
    )
    data = b"".join(r.appended for r in rows)
    if not rows or rows[-1].version != version or sha256_hex(data) != rows[-1].sha256:
        raise SigningUnavailable(f"version {version} of workflow {workflow_id} is damaged")
    return data


def canonical_id(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def shown(value: object) -> str:
    """An identifier fit for a message: printable ASCII, at most 40 characters."""
    text = str(value)[:40]
    return "".join(c if 0x21 <= ord(c) <= 0x7E else "?" for c in text)
