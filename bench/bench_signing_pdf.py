"""PDF signatures per second, NatID's PAdES path against pyHanko's plain ``signers.sign_pdf``;
and the time to sign a 50 MB PDF against reading and hashing it.

    python bench/bench_signing_pdf.py [--count N] [--repeat R] [--big-mb 50] [--skip-big]

Issue 5, "Benchmarks": both sides sign the same one-page PDF (fpdf2) with the same ECDSA P-256
key and e-seal certificate from a development hierarchy held in a soft key backend (temporary
directory):

* pyHanko - ``signers.sign_pdf`` with a ``SimpleSigner`` (the key as PKCS#8, which pyHanko
  re-parses for every signature) and ``PdfSignatureMetadata(subfilter=PADES)``; pyHanko sizes
  the signature container by signing once more with a dummy signature. B-T uses the same
  in-process TSA as NatID (``signing.pades.InProcessTimeStamper``), so the time-stamp costs
  the same on both sides.
* NatID - ``signing.pades.sign_pdf_bytes`` with ``BackendSigner`` (the key object from the
  key backend) at B-B and B-T: the container size comes from the key and level (no dummy
  signature), the signing time from the clock.

Each side runs R times; the median rate is reported with the ratio NatID / pyHanko. The big
file test makes a PDF of ``--big-mb`` MB (one page plus an incompressible embedded stream),
then times reading + SHA-256 of the file against ``sign_pdf_bytes`` (B-B) of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fpdf import FPDF
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca.hierarchy import ca_key_label, create_hierarchy
from ca.names import LegalPersonSubject, legal_person_name
from ca.profiles import get_profile
from ca.tsa import TimeStampAuthority
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.clock import SystemClock
from hsm_adapters import KeyAlgorithm, SoftKeyBackend
from signing.pades import (
    BackendSigner,
    InProcessTimeStamper,
    PadesLevel,
    SignatureSpec,
    asn1_certificate,
    sign_pdf_bytes,
)

BASE_URL = "http://pki.natid.gov.kh"


def one_page_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Licence 42 - benchmark document")
    return bytes(pdf.output())


def big_pdf(megabytes: int) -> bytes:
    """A one-page PDF carrying ``megabytes`` MB of incompressible data in an attachment."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=14)
    pdf.cell(text="Big document")
    pdf.embed_file(bytes=os.urandom(megabytes * 1024 * 1024), basename="data.bin", compress=False)
    return bytes(pdf.output())


class Setup:
    """A hierarchy, an e-seal certificate and key, and the TSA, in a soft key backend."""

    def __init__(self, directory: Path) -> None:
        self.keys = SoftKeyBackend(directory, "bench passphrase", scrypt_n=2**14)
        self.clock = SystemClock()
        urls = PkiUrls(BASE_URL)
        now = self.clock.now()
        hierarchy = create_hierarchy(self.keys, urls=urls, at=now)
        # The same key on both sides: pyHanko's SimpleSigner needs the private key as PKCS#8,
        # which a key backend never hands out, so the compared key is an in-memory one;
        # the soft backend's own key is timed as an extra NatID row.
        key = ec.generate_private_key(ec.SECP256R1())
        backend_key = self.keys.generate("bench-eseal", KeyAlgorithm.EC_P256)
        profile = get_profile("eseal")
        not_before, not_after = profile.validity_window(at=now)
        subject = legal_person_name(
            LegalPersonSubject(name_en="Bench Co.", name_km="ក្រុមហ៊ុន", register_no="00000001")
        )
        self.cert = build_certificate(
            profile,
            subject=subject,
            public_key=key.public_key(),
            issuer_cert=hierarchy.cas["entity"],
            issuer_key=self.keys.load(ca_key_label("entity")),
            serial=new_serial(),
            not_before=not_before,
            not_after=not_after,
            urls=urls,
            ca_name="entity",
        )
        self.key = key
        self.chain = hierarchy.chain("entity")
        self.tsa = TimeStampAuthority(
            self.keys.load(hierarchy.tsa_key_label),
            hierarchy.tsa,
            hierarchy.chain("government"),
            policy_oid="2.999.1.6",
            clock=self.clock,
        )
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.simple = signers.SimpleSigner(
            signing_cert=asn1_certificate(self.cert),
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_certificate(c) for c in self.chain]
            ),
        )
        self.backend_signer = BackendSigner(key, self.cert, self.chain)
        backend_cert = build_certificate(
            profile,
            subject=subject,
            public_key=backend_key.public_key(),
            issuer_cert=hierarchy.cas["entity"],
            issuer_key=self.keys.load(ca_key_label("entity")),
            serial=new_serial(),
            not_before=not_before,
            not_after=not_after,
            urls=urls,
            ca_name="entity",
        )
        self.soft_signer = BackendSigner(backend_key, backend_cert, self.chain)


def pyhanko_sign(setup: Setup, pdf: bytes, level: PadesLevel) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1", md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES
    )
    timestamper = InProcessTimeStamper(setup.tsa.respond) if level.needs_timestamp else None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), meta, setup.simple, timestamper=timestamper
    )
    return out.getvalue()  # type: ignore[no-any-return]


def natid_sign(setup: Setup, pdf: bytes, level: PadesLevel) -> bytes:
    timestamper = InProcessTimeStamper(setup.tsa.respond) if level.needs_timestamp else None
    return sign_pdf_bytes(
        pdf,
        setup.backend_signer,
        SignatureSpec(level=level, field_name="Signature1"),
        at=setup.clock.now(),
        timestamper=timestamper,
    )


def natid_soft_sign(setup: Setup, pdf: bytes, level: PadesLevel) -> bytes:
    timestamper = InProcessTimeStamper(setup.tsa.respond) if level.needs_timestamp else None
    return sign_pdf_bytes(
        pdf,
        setup.soft_signer,
        SignatureSpec(level=level, field_name="Signature1"),
        at=setup.clock.now(),
        timestamper=timestamper,
    )


def rate(fn: object, setup: Setup, pdf: bytes, level: PadesLevel, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn(setup, pdf, level)  # type: ignore[operator]
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(Path(tmp))
        pdf = one_page_pdf()
        print(f"# PDF signing, {platform.python_implementation()} {platform.python_version()}, "
              f"{platform.machine()}, {os.cpu_count()} CPUs, {dt.date.today()}")  # fmt: skip
        print(f"one-page PDF: {len(pdf)} bytes; {args.count} signatures x {args.repeat} runs\n")
        print(
            "| level | pyHanko sign_pdf (sig/s) | NatID, same key (sig/s) | NatID / pyHanko "
            "| NatID, soft-backend key (sig/s) |"
        )
        print("|---|---:|---:|---:|---:|")
        for level in (PadesLevel.B_B, PadesLevel.B_T):
            natid_sign(setup, pdf, level), pyhanko_sign(setup, pdf, level)  # warm-up
            theirs, ours, soft = [], [], []
            for _ in range(args.repeat):
                theirs.append(rate(pyhanko_sign, setup, pdf, level, args.count))
                ours.append(rate(natid_sign, setup, pdf, level, args.count))
                soft.append(rate(natid_soft_sign, setup, pdf, level, args.count))
            t, o = statistics.median(theirs), statistics.median(ours)
            print(f"| {level} | {t:.1f} | {o:.1f} | {o / t:.2f}x | {statistics.median(soft):.1f} |")
            print(f"<!-- {level} runs: pyHanko {[round(x, 1) for x in theirs]}, "
                  f"NatID {[round(x, 1) for x in ours]} -->")  # fmt: skip

        if not args.skip_big:
            data = big_pdf(args.big_mb)
            path = Path(tmp) / "big.pdf"
            path.write_bytes(data)
            del data
            started = time.perf_counter()
            hashlib.sha256(path.read_bytes()).hexdigest()
            baseline = time.perf_counter() - started
            started = time.perf_counter()
            signed = natid_sign(setup, path.read_bytes(), PadesLevel.B_B)
            signing = time.perf_counter() - started
            size = path.stat().st_size / 1e6
            print(f"\n| {size:.0f} MB PDF | read + SHA-256 | NatID sign (read, sign, output) "
                  "| ratio |")  # fmt: skip
            print("|---|---:|---:|---:|")
            print(f"| B-B | {baseline:.3f} s | {signing:.3f} s | {signing / baseline:.2f}x |")
            assert len(signed) > path.stat().st_size
        setup.keys.close()


if __name__ == "__main__":
    main()
