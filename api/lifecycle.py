"""The life-event dispatcher: register events reach certificates, sessions, accounts and roles.

Issue 8, "Life events". The register records an event in one transaction with its effect on
the register's own rows (``registry/events.py``); this module, the only layer allowed to use
the register, the CA and the IdP together, then carries out what follows, synchronously, and
stores the outcome on the event (``processed_at``, ``outcome``). A handler failure marks the
event ``failed`` (with the error's code) and leaves it for ``natid registry events process``,
which re-runs every unprocessed or failed event; every handler is idempotent (a revoked
certificate is skipped, a flag is not set twice, a revoked grant stays revoked), so a re-run
finishes what a crash interrupted.

=====================  ==========================================================================
event                  consequences
=====================  ==========================================================================
``death``              every certificate of the person and of their positions revoked
                       (``cessationOfOperation``); sessions ended, grants (refresh and access
                       tokens) revoked, consents withdrawn (the KYC basis), account disabled,
                       operator roles removed
``name_change``        the person's and positions' good certificates flagged for re-issue
``id_card_renewal``    likewise; new certificates carry ``serialNumber=IDCKH-<new number>``
``servant_joined``     nothing beyond the register (new position, certificates on request)
``servant_moved``      government certificates of the old position revoked (``affiliationChanged``)
``servant_left``       likewise; with no active position left, the operator's roles removed
=====================  ==========================================================================

A flagged certificate is revoked (``superseded``) once a replacement of the same profile is
issued: :func:`after_issuance` does it for one subject, and :func:`install_reissue_listener`
makes every issuance do it (CLI, RA API, officer pages, bulk issuance), through the audit
ledger's listeners, which run once the issuing transaction has committed;
:func:`process_pending` does it for everybody.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from api.context import AppContext
from ca.lifecycle import CertificateLifecycle
from core.audit_format import AuditEntry
from core.errors import NatIDError
from idp.lifecycle import AccountLifecycle
from registry.events import EventFeed, EventOutcome, EventSource, EventType, RegisterEvent

__all__ = [
    "account_lifecycle",
    "after_issuance",
    "certificate_lifecycle",
    "event_feed",
    "install_reissue_listener",
    "process",
    "process_pending",
    "record_event",
]

log = logging.getLogger(__name__)

Handler = Callable[[AppContext, RegisterEvent], dict[str, Any]]


def event_feed(ctx: AppContext) -> EventFeed:
    return EventFeed(ctx.sessions, clock=ctx.clock, ledger=ctx.ledger)


def certificate_lifecycle(ctx: AppContext) -> CertificateLifecycle:
    return CertificateLifecycle(ctx.ca(), ctx.sessions, ledger=ctx.ledger)


def account_lifecycle(ctx: AppContext) -> AccountLifecycle:
    return AccountLifecycle(
        ctx.sessions, ledger=ctx.ledger, accounts=ctx.idp_accounts(), tokens=ctx.idp_core().tokens
    )


def record_event(
    ctx: AppContext, data: object, *, source: EventSource | str, actor: str | None
) -> tuple[RegisterEvent, bool]:
    """Record one event and, when it is new, process it; ``(event, created)``.

    A replay of a stored event id returns the stored event and changes nothing (a failed
    one is retried by ``natid registry events process``, not by a replay).
    """
    event, created = event_feed(ctx).record(data, source=source, actor=actor)
    if created:
        event = process(ctx, event)
    return event, created


def process(ctx: AppContext, event: RegisterEvent) -> RegisterEvent:
    """Carry out the consequences of ``event`` and store the outcome."""
    feed = event_feed(ctx)
    try:
        detail = _HANDLERS[event.type](ctx, event)
    except NatIDError as exc:
        # The error's code only: its message may name the subject's data.
        log.error(  # noqa: TRY400 - no traceback: it would carry the message
            "life event processing failed",
            extra={"event_id": event.id, "type": event.type.value, "error": exc.code},
        )
        return feed.mark_processed(
            event.id,
            outcome=EventOutcome.FAILED,
            detail={"error": exc.code},
            at=ctx.clock.now(),
        )
    log.info("life event processed", extra={"event_id": event.id, "type": event.type.value})
    return feed.mark_processed(
        event.id, outcome=EventOutcome.DONE, detail=detail, at=ctx.clock.now()
    )


def process_pending(ctx: AppContext) -> list[RegisterEvent]:
    """Process every unprocessed or failed event (oldest first), then settle re-issues."""
    done = [process(ctx, event) for event in event_feed(ctx).pending()]
    certificate_lifecycle(ctx).settle_reissues(at=ctx.clock.now())
    return done


def after_issuance(ctx: AppContext, subject_id: str) -> list[str]:
    """Revoke (``superseded``) the subject's flagged certificates a new one replaces."""
    return certificate_lifecycle(ctx).settle_reissues([subject_id], at=ctx.clock.now())


#: Audit events after which a flagged certificate of the same subject may be superseded.
_ISSUED = frozenset({"ca.certificate.issued", "ca.certificate.rekeyed"})


def install_reissue_listener(ctx: AppContext) -> None:
    """Settle re-issue flags after every committed issuance (idempotent per context)."""

    def settle(entry: AuditEntry) -> None:
        if entry.event in _ISSUED and entry.subject:
            after_issuance(ctx, entry.subject)

    ctx.ledger.add_listener("lifecycle-reissue", settle)


# --- handlers ----------------------------------------------------------------------------------


def _positions(ctx: AppContext, person_id: str) -> list[str]:
    return [servant.id for servant in ctx.register.servants_of_person(person_id)]


def _death(ctx: AppContext, event: RegisterEvent) -> dict[str, Any]:
    subjects = [event.subject_id, *_positions(ctx, event.subject_id)]
    revoked = certificate_lifecycle(ctx).revoke_after_death(subjects, event_id=event.id)
    accounts = account_lifecycle(ctx)
    closed = accounts.close_after_death(event.subject_id, at=ctx.clock.now())
    roles = accounts.remove_operator_roles(event.subject_id)
    return {"certificates_revoked": len(revoked), "roles_removed": len(roles), **closed}


def _reissue(ctx: AppContext, event: RegisterEvent) -> dict[str, Any]:
    active = [s.id for s in ctx.register.servants_of_person(event.subject_id) if s.active]
    flagged = certificate_lifecycle(ctx).flag_for_reissue(
        [event.subject_id, *active], event_id=event.id, at=ctx.clock.now()
    )
    return {"certificates_flagged": len(flagged)}


def _joined(ctx: AppContext, event: RegisterEvent) -> dict[str, Any]:
    return {"servant_id": event.payload.get("servant_id")}


def _position_ended(ctx: AppContext, event: RegisterEvent) -> dict[str, Any]:
    old = str(event.payload["from_servant_id"])
    revoked = certificate_lifecycle(ctx).revoke_position(old, event_id=event.id)
    detail: dict[str, Any] = {"certificates_revoked": len(revoked), "roles_removed": 0}
    serving = any(s.active for s in ctx.register.servants_of_person(event.subject_id))
    if event.type is EventType.SERVANT_LEFT and not serving:
        detail["roles_removed"] = len(
            account_lifecycle(ctx).remove_operator_roles(event.subject_id)
        )
    return detail


_HANDLERS: Mapping[EventType, Handler] = {
    EventType.DEATH: _death,
    EventType.NAME_CHANGE: _reissue,
    EventType.ID_CARD_RENEWAL: _reissue,
    EventType.SERVANT_JOINED: _joined,
    EventType.SERVANT_MOVED: _position_ended,
    EventType.SERVANT_LEFT: _position_ended,
}
