"""HC1 verifications per second per core, against OpenSSL's P-256 verify rate in the same run.

    python bench/bench_hcert_verify.py [--seconds S] [--rounds R] [--credentials N]

N distinct ES256 credentials (vaccination DCCs, different holders and UVCIs) are signed with a
freshly generated P-256 document signer certificate by a minimal issuer in this script (cbor2,
cryptography, zlib, Base45; issuing with NatID's health CA is a later slice). Each round then
measures, one after another on one core:

* ``openssl speed -seconds S ecdsap256`` - the "verify/s" column, the goal's baseline (per
  second of user CPU time, OpenSSL's default; NatID is measured per CPU second too);
* NatID - ``vaccine_cert.verify`` on the credentials in turn for S seconds: prefix, Base45,
  zlib, CBOR, COSE_Sign1, kid look-up, ES256 signature, purpose OIDs, iat/exp and the signer's
  validity, DCC schema 1.3.3, the revocation list (1,000 revoked credentials of the same
  signer, none of these), building the report (every result is checked to be valid, with the
  revocation check passed);
* NatID in batches - ``vaccine_cert.verify_many`` on batches of 50 of the same credentials
  (the same checks and reports, run phase by phase over the batch: see its docstring);
* raw cryptography - ``EllipticCurvePublicKey.verify`` of a 300-byte message, for scale.

The median of R rounds is shown, and the ratio NatID / OpenSSL against the goal of 0.5 (the
health-credentials issue). Then where the time goes: the decoding, schema and signature steps
timed separately (timed alone they add up to less than a ``verify()``: the report, expiry and
revocation steps are not listed, and in place each step runs slower because Python and
OpenSSL's P-256 code evict each other's cache lines - docs/benchmarks.md), and all cores at
once (one verifier process per core).
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

import cbor2
import cryptography
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from vaccine_cert import Check, DccSchema, Outcome, TrustedSigners, verify, verify_many
from vaccine_cert.base45 import b45encode
from vaccine_cert.cose import CoseAlgorithm, verify_signature
from vaccine_cert.hcert import decode_hc1
from vaccine_cert.revocation import RevocationList, RevokedCredential

AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
#: Credentials per ``verify_many`` call.
BATCH = 50


def make_signer() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench DSC")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(AT - dt.timedelta(days=30))
        .not_valid_after(AT + dt.timedelta(days=700))
        .add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate, i: int) -> str:
    dcc = {
        "ver": "1.3.0",
        "nam": {
            "fn": f"Sok {i}",
            "fnt": "SOK<" + "".join(chr(65 + int(d)) for d in str(i)),
            "gn": "Dara",
            "gnt": "DARA",
        },
        "dob": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
        "v": [
            {
                "tg": "840539006",
                "vp": "1119349007",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": 1 + i % 3,
                "sd": 3,
                "dt": "2026-10-01",
                "co": "KH",
                "is": "Ministry of Health, Cambodia",
                "ci": f"URN:UVCI:01:KH:BENCH{i:08d}#{i % 10}",
            }
        ],
    }
    iat = int((AT - dt.timedelta(days=1)).timestamp())
    payload = cbor2.dumps({1: "KH", 6: iat, 4: iat + 365 * 86400, -260: {1: dcc}})
    kid = hashes.Hash(hashes.SHA256())
    kid.update(cert.public_bytes(serialization.Encoding.DER))
    protected = cbor2.dumps({1: -7, 4: kid.finalize()[:8]})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    cose = cbor2.dumps(
        cbor2.CBORTag(18, [protected, {}, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")])
    )
    return "HC1:" + b45encode(zlib.compress(cose, 9))


def rate(step: Callable[[int], Any], seconds: float) -> float:
    """Calls per CPU second of ``step(i)`` with i = 0, 1, 2, ..., over ``seconds`` of CPU time.

    CPU time of this process, not wall time: ``openssl speed`` divides by its user CPU time
    too, so both sides are measured the same way and other load on the machine does not
    count against either.
    """
    step(0)
    n = 0
    began = time.process_time()
    deadline = began + seconds
    while True:
        for _ in range(50):
            step(n)
            n += 1
        if time.process_time() >= deadline:
            break
    return n / (time.process_time() - began)


def openssl_verify_rate(seconds: float) -> float | None:
    """OpenSSL's ECDSA P-256 verifications per second (``openssl speed``), or None."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    done = subprocess.run(
        [openssl, "speed", "-seconds", str(int(seconds)), "ecdsap256"],
        capture_output=True,
        text=True,
        check=False,
    )
    # "256 bits ecdsa (nistp256)   0.0000s   0.0001s  50939.3  16691.3": sign/s, verify/s last.
    match = re.search(
        r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", done.stdout
    )
    return float(match.group(2)) if match else None


def openssl_version() -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        return "not installed"
    return subprocess.run(
        [openssl, "version"], capture_output=True, text=True, check=False
    ).stdout.strip()


class Setup:
    def __init__(self, count: int) -> None:
        self.key, self.cert = make_signer()
        self.trusted = TrustedSigners.from_certificates([self.cert])
        self.schema = DccSchema.bundled()
        self.payloads = [issue(self.key, self.cert, i) for i in range(count)]
        self.batches = [self.payloads[j : j + BATCH] for j in range(0, count, BATCH)]
        kid = self.trusted.with_kid(decode_hc1(self.payloads[0]).cose.header(4))[0].kid
        self.revocation = RevocationList.from_revoked(
            RevokedCredential(
                kid=kid,
                country="KH",
                uvci=f"URN:UVCI:01:KH:REVOKED{i:08d}#{i % 10}",
                signature_hash=bytes(16) + i.to_bytes(16, "big"),
                expires_at=AT + dt.timedelta(days=365),
            )
            for i in range(1000)
        )
        for payload in self.payloads:
            report = self.verify(payload)
            if not report.valid or report.outcome(Check.REVOCATION) is not Outcome.PASS:
                raise SystemExit(f"bench credential did not verify: {report.reasons}")

    def verify(self, payload: str) -> Any:
        return verify(
            payload, trusted=self.trusted, at=AT, schema=self.schema, revocation=self.revocation
        )

    def verify_step(self, i: int) -> None:
        payloads = self.payloads
        verify(
            payloads[i % len(payloads)],
            trusted=self.trusted,
            at=AT,
            schema=self.schema,
            revocation=self.revocation,
        )

    def batch_step(self, i: int) -> None:
        batches = self.batches
        verify_many(
            batches[i % len(batches)],
            trusted=self.trusted,
            at=AT,
            schema=self.schema,
            revocation=self.revocation,
        )


def _worker(args: tuple[int, float]) -> float:
    count, seconds = args
    setup = Setup(count)
    return rate(setup.verify_step, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--credentials", type=int, default=200, help="distinct credentials")
    args = parser.parse_args()

    setup = Setup(args.credentials)
    message = b"x" * 300
    raw_key = ec.generate_private_key(ec.SECP256R1())
    raw_public = raw_key.public_key()
    raw_signature = raw_key.sign(message, ec.ECDSA(hashes.SHA256()))
    ecdsa = ec.ECDSA(hashes.SHA256())

    openssl_rates: list[float] = []
    natid_rates: list[float] = []
    batch_rates: list[float] = []
    raw_rates: list[float] = []
    for round_no in range(args.rounds):
        measured = openssl_verify_rate(args.seconds)
        if measured is not None:
            openssl_rates.append(measured)
        natid_rates.append(rate(setup.verify_step, args.seconds))
        batch_rates.append(rate(setup.batch_step, args.seconds) * BATCH)
        raw_rates.append(
            rate(lambda _i: raw_public.verify(raw_signature, message, ecdsa), args.seconds)
        )
        print(
            f"  round {round_no + 1}: openssl {measured or 0:,.0f}/s"
            f"  natid {natid_rates[-1]:,.0f}/s  batches {batch_rates[-1]:,.0f}/s"
            f"  raw {raw_rates[-1]:,.0f}/s",
            file=sys.stderr,
        )

    decoded = [decode_hc1(p) for p in setup.payloads]
    signer_key = setup.trusted.with_kid(decoded[0].cose.header(4))[0].public_key
    steps = {
        "decode (prefix, Base45, zlib, CBOR, COSE, CWT, DCC as JSON)": lambda i: decode_hc1(
            setup.payloads[i % len(setup.payloads)]
        ),
        "DCC schema 1.3.3 (fast path)": lambda i: setup.schema.errors(
            decoded[i % len(decoded)].dcc
        ),
        "ES256 signature (raw cryptography)": lambda _i: raw_public.verify(
            raw_signature, message, ecdsa
        ),
        # What verify() runs for the signature: r || s to DER, the Sig_structure, the verify.
        "COSE ES256 signature (`verify_signature`: DER, Sig_structure, verify)": lambda i: (
            verify_signature(decoded[i % len(decoded)].cose, CoseAlgorithm.ES256, signer_key)
        ),
    }
    step_us = {name: 1e6 / rate(step, min(args.seconds, 2.0)) for name, step in steps.items()}

    cores = os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        per_process = pool.map(_worker, [(args.credentials, args.seconds)] * cores)

    natid = statistics.median(natid_rates)
    batched = statistics.median(batch_rates)
    raw = statistics.median(raw_rates)
    print(
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{openssl_version()}, {cores} CPUs, {platform.machine()}; {args.credentials} distinct "
        f"ES256 credentials (~{statistics.mean(len(p) for p in setup.payloads):.0f} characters), "
        f"{args.seconds:g} s per measurement, median of {args.rounds} rounds.\n"
    )
    print("| per core | verifications/s | µs each | NatID / this |")
    print("|---|---:|---:|---:|")
    print(f"| NatID `verify()` of an HC1 payload | {natid:,.0f} | {1e6 / natid:.0f} | |")
    print(f"| NatID `verify_many()`, batches of {BATCH} | {batched:,.0f} | {1e6 / batched:.0f} | |")
    if openssl_rates:
        openssl = statistics.median(openssl_rates)
        print(
            f"| `openssl speed ecdsap256` verify | {openssl:,.0f} | {1e6 / openssl:.0f} "
            f"| {natid / openssl:.2f} (batches {batched / openssl:.2f}) |"
        )
    else:
        openssl = None
        print("| `openssl speed ecdsap256` verify | (openssl not installed) | | |")
    print(
        f"| raw cryptography P-256 verify | {raw:,.0f} | {1e6 / raw:.0f} "
        f"| {natid / raw:.2f} (batches {batched / raw:.2f}) |"
    )
    if openssl is not None:
        for what, value in (("verify()", natid), ("verify_many()", batched)):
            verdict = "met" if value / openssl >= 0.5 else "NOT met"
            print(
                f"\nGoal (NatID at least half of OpenSSL's P-256 verify rate), {what}: "
                f"{verdict} ({value / openssl:.2f})."
            )
    print("\n| step, timed alone | µs |")
    print("|---|---:|")
    for name, micros in step_us.items():
        print(f"| {name} | {micros:.1f} |")
    print(
        f"\nAll {cores} cores, one verifier process each: {sum(per_process):,.0f} verifications/s "
        f"in total ({sum(per_process) / cores:,.0f} per core)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
