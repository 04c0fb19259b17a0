"""``natid ca log ...`` on a real data directory, SQLite and PostgreSQL.

The commands are the sub-app ``api.cli.ca_log.app``, invoked directly until the lead mounts
it as ``natid ca log``; the data directory is initialised as ``natid init`` would, from the
session's key store (``tests/api/_ra.py``). Tampering is done the way an attacker with
database access would: by changing, adding or deleting rows behind NatID's back; ``verify``
must then exit 1 with one line naming what broke.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Executable, delete, insert, select, update
from typer.testing import CliRunner

from api.cli.ca_log import app as log_app
from api.context import build_context
from ca.hierarchy import Hierarchy
from ca.merkle import SignedTreeHead, TreeHeadAlgorithm, verify_tree_head
from ca.models import CACertificateRow, CAKeyBindingRow, CTLogEntryRow
from ca.revocation import RevocationReason
from ca.store import serial_hex
from core.db import make_engine
from core.settings import load_settings
from tests._env import without_natid_settings
from tests.api._ra import golden_keys, installed_context
from tests.ca._issuance import add_person, ec_key, make_csr

__all__ = ["golden_keys"]  # fixtures used by this module

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _no_natid_env() -> Iterator[None]:
    with without_natid_settings():
        yield


@dataclass(frozen=True)
class Installation:
    path: Path
    db_url: str
    person_id: str
    serials: tuple[str, ...]
    other_serial: str

    def run(self, *args: str) -> tuple[int, str, str]:
        env = {"NATID_DATABASE_URL": self.db_url}
        result = runner.invoke(log_app, [*args, "--data-dir", str(self.path)], env=env)
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def installation(tmp_path: Path, db_url: str, golden_keys: tuple[Path, Hierarchy]) -> Installation:
    """An initialised data directory with three certificates for one person (revoked, then
    one more) and one for another."""
    path = tmp_path / "var"
    ctx = installed_context(path, db_url, golden_keys)
    try:
        person = add_person(ctx.register)
        serials = [
            ctx.ca()
            .issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor="officer-1")
            .serial_hex
            for _ in range(3)
        ]
        ctx.ca().revoke_subject(person.id, reason=RevocationReason.SUPERSEDED, actor="officer-1")
        ctx.ca().issue_from_csr("citizen-sign", person.id, make_csr(ec_key()), actor="officer-1")
        other = add_person(ctx.register)
        other_serial = (
            ctx.ca()
            .issue_from_csr("citizen-auth", other.id, make_csr(ec_key()), actor="officer-1")
            .serial_hex
        )
        serials.append(ctx.ca().list(subject_id=person.id, status="good")[0].serial_hex)
    finally:
        ctx.close()
    return Installation(path, db_url, person.id, tuple(serials), other_serial)


def test_verify_passes_on_an_intact_log(installation: Installation) -> None:
    code, out, err = installation.run("verify")
    assert code == 0, err
    assert out.startswith("transparency log OK: ")
    # The hierarchy (10 certificates) and the five issued ones.
    assert "15 entries, 15 stored certificates all logged" in out
    assert "newest signed tree head: none yet" in out

    code, out, err = installation.run("sth")
    assert code == 0, err
    code, out, err = installation.run("verify", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert report["tree_size"] == report["certificates_checked"] == 15
    assert report["tree_heads_checked"] == 1
    assert report["newest_tree_head"]["tree_size"] == 15
    assert report["newest_tree_head"]["root_hash"] == report["root_hash"]


def test_sth_verifies_with_the_log_key(installation: Installation) -> None:
    code, out, err = installation.run("sth", "--json")
    assert code == 0, err
    head = json.loads(out)
    # The same head on a second call: one signature per tree size.
    assert json.loads(installation.run("sth", "--json")[1]) == head
    ctx = build_context(load_settings(data_dir=installation.path, database_url=installation.db_url))
    try:
        pem = ctx.keys.public_key("natid-transparency-log").public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    finally:
        ctx.close()
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    verify_tree_head(
        SignedTreeHead(
            tree_size=head["tree_size"],
            timestamp=dt.datetime.fromisoformat(head["timestamp"]),
            root_hash=base64.b64decode(head["root_hash"]),
            key_label="natid-transparency-log",
            algorithm=TreeHeadAlgorithm(head["algorithm"]),
            signature=base64.b64decode(head["signature"]),
        ),
        key,
    )
    code, out, _ = installation.run("sth")
    assert code == 0
    assert f"tree_size:         {head['tree_size']}" in out


def test_subject_lists_every_certificate_ever_issued(installation: Installation) -> None:
    code, out, err = installation.run("subject", installation.person_id, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["serial"] for r in rows] == list(installation.serials)
    assert [r["status"] for r in rows] == ["revoked", "revoked", "revoked", "good"]
    assert [r["profile"] for r in rows] == ["citizen-auth"] * 3 + ["citizen-sign"]
    assert {r["issuer"] for r in rows} == {"citizen"}
    cert = x509.load_pem_x509_certificate(rows[0]["certificate"].encode())
    assert serial_hex(cert.serial_number) == rows[0]["serial"]

    code, out, err = installation.run("subject", installation.person_id)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["INDEX", "SERIAL", "PROFILE", "ISSUER", "LOGGED", "AT", "STATUS"]
    assert len(lines) == 5
    assert "IDCKH-" not in out  # the table never shows the national ID number

    code, out, _ = installation.run("subject", "nobody")
    assert code == 0
    assert "no certificate was ever logged for subject nobody" in out
    code, _out, err = installation.run("subject", "not an id")
    assert code == 1
    assert err.count("\n") == 1


def _tampered(installation: Installation, *statements: Executable) -> tuple[int, str, str]:
    engine = make_engine(installation.db_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()
    return installation.run("verify")


def test_verify_names_a_changed_leaf(installation: Installation) -> None:
    code, _, err = _tampered(
        installation,
        update(CTLogEntryRow).where(CTLogEntryRow.leaf_index == 12).values(leaf_hash=bytes(32)),
    )
    assert code == 1
    assert err == (
        "error: the transparency log does not verify: entry 12 does not match its stored "
        "certificate\n"
    )


def test_verify_names_a_certificate_that_was_never_logged(installation: Installation) -> None:
    # A certificate slipped into the table without a log entry (a quiet mis-issuance): a copy
    # of a real row with another serial and certificate.
    key = ec_key()
    engine = make_engine(installation.db_url)
    try:
        with engine.begin() as conn:
            table = CACertificateRow.__table__
            row = conn.execute(
                select(table).where(table.c.serial_hex == installation.serials[-1])
            ).one()
            values = dict(row._mapping)
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([]))
                .issuer_name(x509.Name([]))
                .public_key(key.public_key())
                .serial_number(0x05EC12E7)
                .not_valid_before(values["not_before"])
                .not_valid_after(values["not_after"])
                .sign(key, hashes.SHA256())
            )
            values.update(
                serial_hex="05EC12E7", certificate=cert.public_bytes(serialization.Encoding.DER)
            )
            conn.execute(insert(table).values(values))
    finally:
        engine.dispose()
    code, _, err = installation.run("verify")
    assert code == 1
    assert err == (
        "error: the transparency log does not verify: 1 certificate(s) are not in the "
        "transparency log: 05EC12E7\n"
    )


def test_verify_names_a_deleted_certificate_row(installation: Installation) -> None:
    code, _, err = _tampered(
        installation,
        # The key binding refers to the row, so whoever hides it deletes that too.
        delete(CAKeyBindingRow).where(CAKeyBindingRow.first_serial == installation.other_serial),
        delete(CACertificateRow).where(CACertificateRow.serial_hex == installation.other_serial),
    )
    assert code == 1
    assert err == (
        f"error: the transparency log does not verify: entry 14 (certificate "
        f"{installation.other_serial}) is logged but missing from the certificate table\n"
    )
    code, out, _ = installation.run("verify", "--json")
    assert code == 1
    assert json.loads(out)["ok"] is False
