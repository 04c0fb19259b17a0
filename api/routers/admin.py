"""The admin API (``/admin/v1``): who am I, and the audit ledger's tail for auditors.

Every route is protected by :func:`api.security.require_operator`, so each call is
authenticated by an operator token and recorded in the audit ledger (the tail an auditor
reads includes that very read). Responses are API schemas, separate from the domain values:
operator names and role codes go out, token ids and hashes never do.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from api.deps import Ctx
from api.security import AnyOperator, require_operator
from core.operators import Operator, OperatorRole

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1", tags=["admin"])

Auditor = Annotated[Operator, Depends(require_operator(OperatorRole.AUDITOR))]


class OperatorOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    roles: list[str]
    status: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    at: dt.datetime
    event: str
    actor: str | None
    subject: str | None
    data: dict[str, Any]
    prev_hash: str
    entry_hash: str


@router.get("/operators/me", summary="The operator the presented token belongs to")
def who_am_i(operator: AnyOperator) -> OperatorOut:
    return OperatorOut(
        id=operator.id,
        name=operator.name,
        roles=sorted(operator.roles),
        status=operator.status.value,
        created_at=operator.created_at,
        last_used_at=operator.last_used_at,
    )


@router.get("/audit/tail", summary="The newest audit ledger entries, oldest first (auditor)")
def audit_tail(
    ctx: Ctx,
    _auditor: Auditor,
    n: Annotated[int, Query(ge=1, le=1000, description="How many entries.")] = 20,
) -> list[AuditEntryOut]:
    return [
        AuditEntryOut(
            seq=entry.seq,
            at=entry.at,
            event=entry.event,
            actor=entry.actor,
            subject=entry.subject,
            data=entry.data,
            prev_hash=entry.prev_hash,
            entry_hash=entry.entry_hash,
        )
        for entry in ctx.ledger.tail(n)
    ]
