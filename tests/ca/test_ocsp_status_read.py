"""The status read behind every OCSP answer (core/held_read.py with ca/status_read.py's
failure), on SQLite and PostgreSQL.

It bypasses the ORM for speed, so these tests pin what must not change: a revocation committed
by another process (its own engine) is read on the very next call; every status reads exactly
as through SQLAlchemy (aware UTC times, reasons, on hold); broken or disposed connections are
replaced; a failing database is ``CAStorageUnavailable`` without SQL in the message, with the
CA's message and log line; and on PostgreSQL no connection is left idle in a transaction.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from api.context import AppContext, build_context
from ca.errors import CAStorageUnavailable
from ca.revocation import CertStatus, RevocationReason, RevocationStatus
from ca.revoke import _STATUS_OF
from ca.status_read import ca_storage_unavailable, status_reader_for
from ca.store import IssuedCertificate
from core.clock import FixedClock
from core.db import make_engine
from core.held_read import HeldReader
from core.settings import load_settings
from tests.ca._issuance import add_person

pytestmark = pytest.mark.slow  # a CA hierarchy per test (~3 s)


@pytest.fixture
def ctx(tmp_path: Path, db_url: str, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(
        load_settings(data_dir=tmp_path / "var", database_url=db_url), clock=clock
    )
    context.ca().ensure_hierarchy(actor="test")
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def cert(ctx: AppContext) -> IssuedCertificate:
    return ctx.ca().issue_with_server_key("citizen-auth", add_person(ctx.register).id, actor="t")


def other_process(ctx: AppContext, clock: FixedClock) -> AppContext:
    other = build_context(ctx.settings, clock=clock, migrate=False)
    assert other.engine is not ctx.engine
    return other


def test_revocation_by_another_process_is_read_on_the_next_call(
    ctx: AppContext, cert: IssuedCertificate, clock: FixedClock
) -> None:
    serial = cert.certificate.serial_number
    assert ctx.ca().status_of("citizen", serial) == RevocationStatus.good()
    other = other_process(ctx, clock)
    try:
        other.ca().revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="op")
    finally:
        other.close()
    status = ctx.ca().status_of("citizen", serial)
    assert status.status is CertStatus.REVOKED
    assert status.reason is RevocationReason.KEY_COMPROMISE
    assert status.revoked_at == clock.now()
    assert status.revoked_at is not None and status.revoked_at.tzinfo is not None


def test_hold_release_and_other_issuer_read_as_stored(
    ctx: AppContext, cert: IssuedCertificate, clock: FixedClock
) -> None:
    serial = cert.certificate.serial_number
    ca = ctx.ca()
    assert ca.status_of("government", serial) == RevocationStatus.unknown()
    assert ca.status_of("citizen", serial + 1) == RevocationStatus.unknown()
    clock.advance(dt.timedelta(minutes=3, microseconds=123456))
    ca.hold(cert.serial_hex, actor="op")
    held = ca.status_of("citizen", serial)
    assert held == RevocationStatus.revoked(clock.now(), RevocationReason.CERTIFICATE_HOLD)
    assert held.revoked_at == ca.get(cert.serial_hex).revoked_at  # as SQLAlchemy reads it
    ca.resume(cert.serial_hex, actor="op")
    assert ca.status_of("citizen", serial) == RevocationStatus.good()


def test_dispose_closes_idle_connections_and_reading_goes_on(
    ctx: AppContext, cert: IssuedCertificate
) -> None:
    serial = cert.certificate.serial_number
    ctx.ca().status_of("citizen", serial)
    reader = status_reader_for(ctx.engine, _STATUS_OF)
    assert reader is not None
    assert reader.idle_connections() == 1
    ctx.engine.dispose()
    assert reader.idle_connections() == 0
    assert ctx.ca().status_of("citizen", serial) == RevocationStatus.good()


def test_a_broken_connection_is_replaced_without_an_error(
    ctx: AppContext, cert: IssuedCertificate
) -> None:
    serial = cert.certificate.serial_number
    ctx.ca().status_of("citizen", serial)
    reader = status_reader_for(ctx.engine, _STATUS_OF)
    assert reader is not None
    reader._held._idle[0].close()  # the server went away under the held connection
    assert ctx.ca().status_of("citizen", serial) == RevocationStatus.good()


@pytest.mark.parametrize("where", ["empty.db", "missing/dir.db"])  # no tables; unreachable
def test_failing_database_is_storage_unavailable_without_sql(
    tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / where}")
    try:
        reader = status_reader_for(engine, _STATUS_OF)
        assert reader is not None
        with (
            caplog.at_level(logging.ERROR, logger="ca.status_read"),
            pytest.raises(CAStorageUnavailable) as caught,
        ):
            reader.fetch("00" * 20)
        message = str(caught.value)
        assert "SELECT" not in message and "ca_certificates" not in message
        # The CA's message and log line, as before the reader moved to core.
        assert message == "the CA's database failed (OperationalError) on a status read"
        assert [(r.name, r.getMessage(), getattr(r, "error", None)) for r in caplog.records] == [
            ("ca.status_read", "CA database error on a status read", "OperationalError")
        ]
    finally:
        engine.dispose()


def test_a_gone_engine_is_the_cas_closed_engine_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    reader = HeldReader(engine, _STATUS_OF, on_failure=ca_storage_unavailable, label="CA")
    engine.dispose()
    del engine  # the reader holds it weakly
    gc.collect()
    with caplog.at_level(logging.ERROR), pytest.raises(CAStorageUnavailable) as caught:
        reader.fetch("00" * 20)
    assert str(caught.value) == "the CA's database engine is closed"
    assert caplog.records == []


def test_reads_leave_no_transaction_open(ctx: AppContext, cert: IssuedCertificate) -> None:
    for _ in range(7):  # past psycopg's prepare threshold (5)
        ctx.ca().status_of("citizen", cert.certificate.serial_number)
    reader = status_reader_for(ctx.engine, _STATUS_OF)
    assert reader is not None
    if ctx.engine.dialect.name == "sqlite":
        # An open read transaction would pin an old WAL snapshot and hide later commits.
        assert reader._held._idle[0].in_transaction is False
        return
    with ctx.engine.connect() as conn:
        states = conn.execute(
            text(
                "SELECT state FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        assert "idle in transaction" not in list(states)
