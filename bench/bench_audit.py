"""Audit-ledger appends per second against plain INSERTs in the same run, and verify speed.

    python bench/bench_audit.py [--entries N] [--repeat R] [--verify-entries M] [--pg-url URL]

Databases: SQLite (a temporary file, WAL, as ``natid`` runs it) and PostgreSQL, if reachable
(a temporary database that is created and dropped; default URL from ``NATID_BENCH_PG_URL``,
``NATID_TEST_DATABASE_URL`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).

For 1 and 4 writer threads, N rows each way, alternating, R times (the median is shown):

* baseline - one single-row INSERT per transaction into a table of the same shape as
  ``audit_entries`` (constant hashes, no head lock, no canonical JSON), a prebuilt statement
  through the same session factory and ``transaction()`` helper the ledger uses;
* audit - ``AuditLedger.append`` with an ECDSA P-256 ledger key and the default checkpoint
  interval (100): lock the head row, hash, insert, move the head, sign every 100th.

Then M synthetic entries are bulk-loaded and ``AuditLedger.verify`` streams the whole ledger,
reporting entries/second and, in a second pass, the peak Python heap (tracemalloc), which
stays flat as M grows because entries are fetched 1000 at a time.
Prints Markdown tables with the ratios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.engine import make_url

from core.audit import AuditLedger
from core.audit_format import GENESIS_HASH, canonical_data, compute_entry_hash
from core.clock import SystemClock
from core.db import UTCDateTime, make_engine, make_session_factory, transaction
from core.models import AuditEntryRow
from migrations import upgrade

LABEL = "natid-audit-ledger"
DATA = {"rp": "bank-001", "claims": ["birthdate", "name"], "consent": "c-8f3a2b"}

plain_metadata = MetaData()
plain_table = Table(
    "bench_plain_entries",
    plain_metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("event", String(200), nullable=False),
    Column("actor", String(200)),
    Column("subject", String(200)),
    Column("data", Text(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)


def run_threads(writers: int, total: int, one: Callable[[int], None]) -> float:
    """Run ``one(i)`` ``total`` times split over ``writers`` threads; return rows/second."""
    per = total // writers
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        barrier.wait()
        try:
            for i in range(per):
                one(offset + i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w * per,)) for w in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return per * writers / elapsed


def bench_appends(
    engine: Engine, entries: int, key: ec.EllipticCurvePrivateKey, repeat: int
) -> list[tuple[int, float, float]]:
    sessions = make_session_factory(engine)
    clock = SystemClock()
    ledger = AuditLedger(
        sessions, clock=clock, signing_key=key, key_label=LABEL, checkpoint_interval=100
    )
    data_json = canonical_data(DATA)

    plain_insert = insert(plain_table)  # prebuilt, as the ledger's own statements are

    def plain(i: int) -> None:
        with transaction(sessions) as session:
            session.connection().execute(
                plain_insert,
                {
                    "at": clock.now(),
                    "event": "kyc.attributes.released",
                    "actor": "rp:bank-001",
                    "subject": f"person:{i:08d}",
                    "data": data_json,
                    "prev_hash": GENESIS_HASH,
                    "entry_hash": GENESIS_HASH,
                },
            )

    def audited(i: int) -> None:
        ledger.append(
            "kyc.attributes.released", actor="rp:bank-001", subject=f"person:{i:08d}", data=DATA
        )

    rows = []
    for writers in (1, 4):
        # Alternate the two, then take medians: the rates drift as the tables and WAL grow.
        plain_rates, audit_rates = [], []
        for _ in range(repeat):
            plain_rates.append(run_threads(writers, entries, plain))
            audit_rates.append(run_threads(writers, entries, audited))
        rows.append((writers, statistics.median(plain_rates), statistics.median(audit_rates)))
    report = ledger.verify()
    if not report.ok:
        raise SystemExit(f"the benchmark's own ledger does not verify: {report.reason}")
    return rows


def bench_verify(
    engine: Engine, count: int, key: ec.EllipticCurvePrivateKey
) -> tuple[int, float, float]:
    """Bulk-load ``count`` chained entries after the existing ones; time a full verify."""
    sessions = make_session_factory(engine)
    ledger = AuditLedger(sessions, clock=SystemClock())
    head = ledger.head()
    seq, prev = head.seq, head.entry_hash
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    data_json = canonical_data(DATA)
    batch: list[dict[str, object]] = []
    for _ in range(count):
        seq += 1
        h = compute_entry_hash(
            seq=seq,
            at=at,
            event="idp.login.succeeded",
            actor=None,
            subject=f"person:{seq:08d}",
            data_json=data_json,
            prev_hash=prev,
        )
        batch.append(
            {
                "seq": seq,
                "at": at,
                "event": "idp.login.succeeded",
                "actor": None,
                "subject": f"person:{seq:08d}",
                "data": data_json,
                "prev_hash": prev,
                "entry_hash": h,
            }
        )
        prev = h
        if len(batch) == 5000:
            with transaction(sessions) as session:
                session.execute(insert(AuditEntryRow), batch)
            batch = []
    with transaction(sessions) as session:
        if batch:
            session.execute(insert(AuditEntryRow), batch)
        session.execute(
            text("UPDATE audit_head SET last_seq = :s, last_hash = :h WHERE id = 1"),
            {"s": seq, "h": prev},
        )
    trusted = {LABEL: key.public_key()}
    start = time.perf_counter()
    report = ledger.verify(trusted, batch_size=1000)
    elapsed = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"the benchmark's ledger does not verify: {report.reason}")
    # A second pass under tracemalloc (which slows Python down) for the peak heap.
    tracemalloc.start()
    ledger.verify(trusted, batch_size=1000)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return report.entries_checked, report.entries_checked / elapsed, peak


def sqlite_engine(tmp: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp / 'bench.db'}")


def postgres_database(base_url: str) -> tuple[str, Callable[[], None]] | None:
    admin = make_engine(base_url)
    name = f"natid_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(
            f"PostgreSQL at {make_url(base_url).render_as_string()} not reachable "
            f"({type(exc).__name__}): skipped\n"
        )
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=2000, help="rows per run of a cell")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--verify-entries", type=int, default=100_000)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("NATID_BENCH_PG_URL")
        or os.environ.get("NATID_TEST_DATABASE_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    print(
        f"{args.entries} rows x {args.repeat} run(s) per cell (median), "
        f"{args.verify_entries} entries bulk-loaded for verify; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    appends: list[tuple[str, int, float, float]] = []
    verifies: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, Callable[[], Engine], Callable[[], None]]] = [
            ("SQLite", lambda: sqlite_engine(Path(tmp)), lambda: None)
        ]
        pg = postgres_database(args.pg_url)
        if pg is not None:
            url, drop = pg
            targets.append(("PostgreSQL", lambda: make_engine(url), drop))
        for name, factory, cleanup in targets:
            engine = factory()
            try:
                upgrade(engine)
                plain_metadata.create_all(engine)
                key = ec.generate_private_key(ec.SECP256R1())
                for writers, plain_rate, audit_rate in bench_appends(
                    engine, args.entries, key, args.repeat
                ):
                    appends.append((name, writers, plain_rate, audit_rate))
                verifies.append((name, *bench_verify(engine, args.verify_entries, key)))
            finally:
                engine.dispose()
                cleanup()
    print("| database | writers | plain INSERT/s | audit append/s | audit / plain |")
    print("|---|---:|---:|---:|---:|")
    for name, writers, plain_rate, audit_rate in appends:
        print(
            f"| {name} | {writers} | {plain_rate:,.0f} | {audit_rate:,.0f} | "
            f"{audit_rate / plain_rate:.2f} |"
        )
    print()
    print("| database | entries in ledger | verify entries/s | peak Python heap |")
    print("|---|---:|---:|---:|")
    for name, count, rate, peak in verifies:
        print(f"| {name} | {count:,} | {rate:,.0f} | {peak / 2**20:.1f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
