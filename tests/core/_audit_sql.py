"""What an attacker with write access to the database does to the audit ledger, in plain SQL.

Shared by the tamper tests (tests/core/test_audit_tamper.py) and the CLI tests
(tests/core/test_audit_cli.py); it goes through SQLAlchemy's ``text()`` only, never the
ledger's API, so it runs the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, text

from core.audit_format import GENESIS_HASH, compute_entry_hash


def rewrite_chain_from(engine: Engine, start: int) -> None:
    """What a careful attacker does after editing entry ``start``: recompute every hash.

    Entries from ``start`` on get new ``prev_hash`` and ``entry_hash`` values, and the head
    row's ``last_hash`` follows, so the chain is consistent again. Checkpoints and the head
    row's ``checkpoint_seq`` are left as they are.
    """
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, at, event, actor, subject, data, entry_hash FROM audit_entries "
                "ORDER BY seq"
            )
        ).all()
        prev = GENESIS_HASH
        for seq, stored_at, event, actor, subject, data, entry_hash in rows:
            if seq < start:
                prev = entry_hash
                continue
            # SQLite hands a text() query the raw stored text, without a zone.
            at = dt.datetime.fromisoformat(stored_at) if isinstance(stored_at, str) else stored_at
            if at.tzinfo is None:
                at = at.replace(tzinfo=dt.UTC)
            new_hash = compute_entry_hash(
                seq=seq,
                at=at,
                event=event,
                actor=actor,
                subject=subject,
                data_json=data,
                prev_hash=prev,
            )
            conn.execute(
                text("UPDATE audit_entries SET prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"p": prev, "h": new_hash, "s": seq},
            )
            prev = new_hash
        conn.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})
