"""``POST /registry/v1/events``: an external register pushes a life event (issue 8).

The body is one event as ``natid registry event --json`` reads it (``registry/events.py``,
:class:`~registry.events.EventIn`), for example
``{"id": "crvs-2026-000123", "type": "death", "subject": "<person id>", "date": "2026-11-01"}``.
The event is applied to the register, stored and processed (``api/lifecycle.py``) before the
answer, which reports the processing outcome:

* ``201 Created`` with ``Location`` for a new event;
* ``200 OK`` with the stored event when its ``id`` was pushed before (idempotent: nothing is
  applied twice, so a producer may safely retry after a timeout);
* ``400`` problem+json for an invalid event (nothing stored), ``404`` for an unknown subject,
  ``409`` for an ``id`` already used by a different event.

The caller needs an operator token with the ``ca-operator`` role: an event may revoke every
certificate of a person and close their account, which is a CA operator's authority; a
registration officer cannot declare a death. ``GET /registry/v1/events/{id}`` reads an event
back (``ca-operator``, ``auditor``). Responses carry ids, codes and counts, never names or ID
numbers.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from starlette.concurrency import run_in_threadpool

from api.deps import Ctx
from api.errors import ProblemHTTPException
from api.lifecycle import event_feed, record_event
from api.security import require_operator
from core.operators import Operator, OperatorRole
from registry.events import EventSource, RegisterEvent

__all__ = ["MAX_EVENT_BYTES", "event_out", "router"]

router = APIRouter(prefix="/registry/v1", tags=["registry"])

MAX_EVENT_BYTES = 16 * 1024
Pusher = Annotated[Operator, Depends(require_operator(OperatorRole.CA_OPERATOR))]
Reader = Annotated[
    Operator, Depends(require_operator(OperatorRole.CA_OPERATOR, OperatorRole.AUDITOR))
]


def event_out(event: RegisterEvent) -> dict[str, Any]:
    """The event as the API and the CLI show it (its stored payload holds no ID number)."""
    return {
        "id": event.id,
        "type": event.type.value,
        "subject": event.subject_id,
        "date": event.effective_date.isoformat(),
        "source": event.source.value,
        "payload": dict(event.payload),
        "received_at": event.received_at.isoformat(),
        "processed_at": event.processed_at.isoformat() if event.processed_at else None,
        "outcome": event.outcome.value if event.outcome else None,
        "outcome_detail": dict(event.outcome_detail) if event.outcome_detail else None,
    }


async def _json_object(request: Request) -> object:
    body = await request.body()
    if len(body) > MAX_EVENT_BYTES:
        raise ProblemHTTPException(
            413, code="request_too_large", detail=f"an event is at most {MAX_EVENT_BYTES} bytes"
        )
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = getattr(exc, "msg", "not UTF-8")
        raise ProblemHTTPException(
            400, code="invalid_json", detail=f"the body is not JSON ({detail})"
        ) from None
    if not isinstance(value, dict):
        raise ProblemHTTPException(400, code="invalid_json", detail="expected one JSON object")
    return value


@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    summary="Push a life event (death, name change, card renewal, servant join/move/leave)",
)
async def push_event(
    request: Request, response: Response, ctx: Ctx, operator: Pusher
) -> dict[str, Any]:
    data = await _json_object(request)
    # The register, the CA and the IdP are synchronous: off the event loop.
    event, created = await run_in_threadpool(
        record_event, ctx, data, source=EventSource.PUSH, actor=operator.id
    )
    response.headers["Location"] = f"/registry/v1/events/{event.id}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return event_out(event)


@router.get("/events/{event_id}", summary="Read a life event and its processing outcome")
def get_event(
    ctx: Ctx, _operator: Reader, event_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    return event_out(event_feed(ctx).get(event_id))
