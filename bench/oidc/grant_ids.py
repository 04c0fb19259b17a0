"""What a grant id's shape costs the grants table: random ids against time-ordered ones.

    PYTHONPATH=. .venv/bin/python bench/oidc/grant_ids.py [--rows N ...] [--inserts M]

A login's code exchange inserts one row into ``idp_grants`` (idp/models.py), keyed by the
grant id. Until the thirteenth round (docs/benchmarks.md) the id was 192 random bits, so each
insert landed on a random leaf of the primary-key index; now it is :func:`idp.codes.new_grant_id`
(the time in milliseconds, then 128 random bits), so new rows go to the index's right-hand
edge. For each table size N this builds the real ``idp_grants`` table (its indexes included,
from the application's own metadata) in a fresh SQLite file with NatID's settings (WAL,
``synchronous=NORMAL``, SQLite's automatic checkpoints), fills it with N rows of the id kind
under test, then times M more inserts, one transaction each as the code exchange commits them,
and counts the read and write system calls they made (``/proc/self/io``). Each kind runs twice,
alternating, so a drift of the machine shows in the pairs. Figures: process CPU µs per insert,
read and write system calls per insert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine

from idp.codes import new_grant_id
from idp.models import ClientRow, GrantRow

_START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
_INSERT = (
    "INSERT INTO idp_grants (id, client_id, subject, sid, scopes, claims, acr, amr, auth_time,"
    " created_at, expires_at, revoked_at, revoke_reason, dpop_jkt)"
    " VALUES (?, 'bench-client', ?, ?, 'openid profile', NULL, NULL, 'pwd', ?, ?, ?, NULL, NULL,"
    " NULL)"
)


def _random_id(_at: dt.datetime) -> str:
    """The grant id as it was before the thirteenth round."""
    return secrets.token_urlsafe(24)


KINDS: dict[str, Callable[[dt.datetime], str]] = {"random": _random_id, "ordered": new_grant_id}


def _syscalls() -> tuple[int, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def _row(make_id: Callable[[dt.datetime], str], i: int) -> tuple[str, ...]:
    at = _START + dt.timedelta(milliseconds=i)
    stamp = at.isoformat()
    return (make_id(at), f"subject-{i % 64}", f"sid-{i % 64}", stamp, stamp, stamp)


def measure(kind: str, rows: int, inserts: int, directory: Path) -> tuple[float, float, float]:
    """CPU µs, read and write system calls per insert after ``rows`` rows of ``kind`` ids."""
    path = directory / f"{kind}-{rows}.db"
    engine = create_engine(f"sqlite:///{path}")
    ClientRow.__table__.create(engine)  # type: ignore[attr-defined]
    GrantRow.__table__.create(engine)  # type: ignore[attr-defined]
    engine.dispose()
    make_id = KINDS[kind]
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("BEGIN")
        connection.executemany(_INSERT, (_row(make_id, i) for i in range(rows)))
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        reads, writes = _syscalls()
        started = time.process_time()
        for i in range(rows, rows + inserts):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(_INSERT, _row(make_id, i))
            connection.execute("COMMIT")
        cpu = time.process_time() - started
        reads_after, writes_after = _syscalls()
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return cpu / inserts * 1e6, (reads_after - reads) / inserts, (writes_after - writes) / inserts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[70_000, 1_000_000])
    parser.add_argument("--inserts", type=int, default=20_000)
    args = parser.parse_args()
    print("| rows before | ids | CPU µs per insert | reads per insert | writes per insert |")
    print("|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="natid-grant-ids-") as directory:
        for rows in args.rows:
            for kind in ("random", "ordered", "random", "ordered"):
                cpu, reads, writes = measure(kind, rows, args.inserts, Path(directory))
                print(f"| {rows:,} | {kind} | {cpu:.1f} | {reads:.2f} | {writes:.2f} |")


if __name__ == "__main__":
    main()
