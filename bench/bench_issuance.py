"""Certificates per second issued from CSRs in bulk, against a raw ``cryptography`` loop.

    python bench/bench_issuance.py [--count N] [--repeat R] [--cpu-time]

Both sides certify the same N pre-generated ECDSA P-256 CSRs (made before any timing) with a
P-384 issuing CA, the shape of the development hierarchy:

* raw - a plain ``cryptography`` loop: ``CertificateBuilder`` with the subject DN, the
  CSR's public key, a random serial and the same extensions NatID's ``citizen-auth`` profile
  puts in (keyUsage, EKU, SKI, AKI, certificatePolicies, AIA, CRL DP, freshest CRL,
  qcStatements), signed with an in-memory P-384 key. No CSR parsing, no checks, no
  storage: the ceiling for "build and sign".
* NatID - ``CAService.bulk_issue`` on the embedded default: SQLite (WAL) in a temporary
  data directory, the soft key backend holding the CA keys. Per line: JSON parse, CSR parse
  and proof of possession, key policy (weak-key tests), the person and their proofing level
  from the register, subject DN from the register, signing through the key backend, the
  certificate and its key binding stored (the key checked never certified before), a
  transparency-log leaf and an audit entry (with a signing key: a checkpoint every 100
  entries). 200 lines per batch (``BULK_BATCH``): the batch's subjects are read from the
  register in one read transaction, and the batch is written in one transaction with one
  multi-row insert per table and one head lock each for the log and the ledger
  (ca/pipeline.py).

Each side runs R times on fresh CSRs and fresh certificates; the median rate is reported, and
each run's rates (the spread) after the table. Both sides of a run share the machine at the
same moment, so the ratio is steadier than either rate on a busy machine. Prints a Markdown
table with the ratio NatID / raw (the goal of issue 3: at least 1/3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from ca.profiles import get_profile
from ca.service import CAService
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.clock import SystemClock
from core.db import make_engine, make_session_factory
from hsm_adapters import KeyAlgorithm, SoftKeyBackend
from migrations import upgrade
from registry import EmbeddedRegister

BASE_URL = "http://pki.natid.gov.kh"
PROFILE = "citizen-auth"
#: Wall-clock time by default; ``--cpu-time`` switches to this process's CPU time.
_timer = time.perf_counter


def make_csrs(n: int) -> list[tuple[bytes, ec.EllipticCurvePublicKey]]:
    out = []
    for i in range(n):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench {i}")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        out.append((csr.public_bytes(serialization.Encoding.PEM), key.public_key()))
    return out


def raw_rate(csrs: list[tuple[bytes, ec.EllipticCurvePublicKey]]) -> float:
    """The raw cryptography build-and-sign loop over the CSRs' public keys."""
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KH"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Bench Citizen CA"),
        ]
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    qc = get_profile(PROFILE).qc_statements
    assert qc is not None
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def uri(url: str) -> x509.UniformResourceIdentifier:
        return x509.UniformResourceIdentifier(url)

    def point(url: str) -> x509.DistributionPoint:
        return x509.DistributionPoint([uri(url)], None, None, None)

    start = _timer()
    for i, (_pem, public_key) in enumerate(csrs):
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "KH"),
                x509.NameAttribute(NameOID.SURNAME, "សុខ"),
                x509.NameAttribute(NameOID.GIVEN_NAME, "ដារ៉ា"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IDCKH-{100000000 + i}"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Sok Dara"),
            ]
        )
        (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=5 * 365))
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
            .add_extension(aki, False)
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(x509.ObjectIdentifier("2.999.1.1"), None)]
                ),
                False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP, uri(f"{BASE_URL}/pki/ocsp/c")
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            uri(f"{BASE_URL}/pki/ca/c.crt"),
                        ),
                    ]
                ),
                False,
            )
            .add_extension(x509.CRLDistributionPoints([point(f"{BASE_URL}/c.crl")]), False)
            .add_extension(x509.FreshestCRL([point(f"{BASE_URL}/c-delta.crl")]), False)
            .add_extension(qc.extension(), False)
            .sign(ca_key, hashes.SHA384())
        )
    return len(csrs) / (_timer() - start)


def persons_csv(n: int, offset: int) -> str:
    rows = ["national_id,name_km,name_latin,birthdate"]
    rows += [f"{200000000 + offset + i},សុខ ដារ៉ា,Sok Dara,1990-04-17" for i in range(n)]
    return "\n".join(rows) + "\n"


def natid_rate(
    service: CAService, register: EmbeddedRegister, csrs: list[tuple[bytes, object]], run: int
) -> float:
    """Register N proven persons (untimed), then time bulk issuance of one CSR each."""
    n = len(csrs)
    report = register.import_csv(persons_csv(n, run * n), actor="bench")
    assert report.loaded == n, report.rejected[:3]
    persons = register.list_persons(limit=None)
    fresh = [p for p in persons if int(p.national_id) >= 200000000 + run * n][:n]
    for person in fresh:
        register.record_proofing(
            person.id,
            method="in_person",
            level="high",
            evidence="national_id_card",
            office="Phnom Penh",
            actor="bench",
        )
    lines = [
        f'{{"profile":"{PROFILE}","subject":"{p.id}","csr":{_json_str(pem)}}}'
        for p, (pem, _key) in zip(fresh, csrs, strict=True)
    ]
    start = _timer()
    result = service.bulk_issue(lines, actor="bench")
    elapsed = _timer() - start
    assert not result.failed, result.failed[:3]
    return n / elapsed


def _json_str(pem: bytes) -> str:
    return '"' + pem.decode("ascii").replace("\n", "\\n") + '"'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="certificates per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (median shown)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time both sides by this process's CPU time instead of the wall clock: steadier "
        "on a machine shared with other work (both sides are CPU-bound; SQLite runs in process)",
    )
    args = parser.parse_args()
    global _timer  # noqa: PLW0603 - a benchmark script's one switch
    if args.cpu_time:
        _timer = time.process_time

    raw: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory(prefix="natid-bench-") as tmp:
        workdir = Path(tmp)
        engine = make_engine(f"sqlite:///{workdir / 'natid.db'}")
        upgrade(engine)
        sessions = make_session_factory(engine)
        clock = SystemClock()
        keys = SoftKeyBackend(workdir / "keys", "bench passphrase")
        ledger_key = keys.generate("natid-audit-ledger", KeyAlgorithm.EC_P256)
        log_key = keys.generate("natid-transparency-log", KeyAlgorithm.EC_P256)
        assert isinstance(log_key, ec.EllipticCurvePrivateKey)
        ledger = AuditLedger(
            sessions, clock=clock, signing_key=ledger_key, key_label="natid-audit-ledger"
        )
        register = EmbeddedRegister(sessions, clock=clock, ledger=ledger)
        service = CAService(
            sessions,
            keys=keys,
            register=register,
            ledger=ledger,
            log=TransparencyLog(
                sessions, clock=clock, signing_key=log_key, key_label="natid-transparency-log"
            ),
            clock=clock,
            urls=PkiUrls(BASE_URL),
        )
        service.ensure_hierarchy(actor="bench")
        for run in range(args.repeat):
            csrs = make_csrs(args.count)
            raw.append(raw_rate(csrs))
            ours.append(natid_rate(service, register, csrs, run))  # type: ignore[arg-type]
            print(
                f"  run {run + 1}: raw {raw[-1]:,.0f}/s  NatID {ours[-1]:,.0f}/s", file=sys.stderr
            )
        keys.close()
        engine.dispose()

    raw_median, ours_median = statistics.median(raw), statistics.median(ours)
    print(
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; {args.count} CSRs (ECDSA P-256) per run, "
        f"issuing CA P-384, median of {args.repeat} runs, profile {PROFILE}, "
        f"{'CPU' if args.cpu_time else 'wall-clock'} time.\n"
    )
    print("| pipeline | certificates/s | ratio to raw |")
    print("|---|---:|---:|")
    print(f"| raw cryptography build-and-sign | {raw_median:,.0f} | 1.00 |")
    print(
        "| NatID bulk issuance (SQLite, soft keys, register, checks, log, audit) "
        f"| {ours_median:,.0f} | {ours_median / raw_median:.2f} |"
    )
    runs = ", ".join(f"{o / r:.2f}" for r, o in zip(raw, ours, strict=True))
    print(
        f"\nRuns: raw {min(raw):,.0f}-{max(raw):,.0f}/s, "
        f"NatID {min(ours):,.0f}-{max(ours):,.0f}/s; ratio per run {runs}."
    )
    goal = "met" if ours_median * 3 >= raw_median else "NOT met"
    print(f"\nGoal (at least 1/3 of the raw rate): {goal}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
