"""OCSP response production in-process: pre-signed (cache hit) against signing per request.

    python bench/bench_ocsp_core.py [--certs N] [--requests M]

No HTTP: this isolates ``OCSPResponder.respond`` (the HTTP benchmark of issue 3 comes with the
route). A development hierarchy is created in a temporary soft key store (the OCSP responder
key is ECDSA P-256, as ``natid init`` makes it); N serials have status ``good``. Then M
requests, one thread:

* raw - cryptography's ``OCSPResponseBuilder`` signing with a plain in-memory P-256 key: the
  floor for anything that signs per request;
* nonce - ``respond()`` with a fresh nonce per request: parse, lookup, sign with the
  soft-backend key, never cached (RFC 9654 nonce echo);
* cached - ``respond()`` without a nonce after one warm-up pass over the N serials: parse,
  CertID check, two cache reads (version token, response), no signature (RFC 5019).

Reports requests/second and p50/p99 latency per mode, as a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import ocsp as asn1_ocsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ca.hierarchy import create_hierarchy, ocsp_key_label
from ca.ocsp import OCSPResponder, status_lookup_from
from ca.revocation import RevocationStatus
from ca.urls import PkiUrls
from core.cache import InMemoryCache
from core.clock import SystemClock
from hsm_adapters import SoftKeyBackend


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float


def _measure(label: str, requests: list[bytes], fn: Callable[[bytes], bytes]) -> Row:
    latencies = []
    start = time.perf_counter()
    for body in requests:
        t0 = time.perf_counter()
        fn(body)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    return Row(label, len(requests) / total, statistics.median(latencies) * 1000, p99 * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        backend = SoftKeyBackend(Path(workdir) / "keys", "bench passphrase")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        hierarchy = create_hierarchy(backend, urls=PkiUrls("http://pki.example.org"), at=now)
        issuer = hierarchy.cas["citizen"]
        responder_cert = hierarchy.ocsp_responders["citizen"]
        serials = [int.from_bytes(os.urandom(20), "big") >> 1 for _ in range(args.certs)]
        statuses = {s: RevocationStatus.good() for s in serials}
        clock = SystemClock()
        responder = OCSPResponder(
            issuer,
            responder_cert,
            backend.load(ocsp_key_label("citizen")),
            clock=clock,
            status_of=status_lookup_from(statuses),
            cache=InMemoryCache(clock=clock, max_entries=4 * args.certs),
        )

        # Requests built from the CertID fields of the issuer, as a client would send them.
        probe = responder.respond(_request(issuer, serials[0], None))
        assert ocsp.load_der_ocsp_response(probe).certificate_status is ocsp.OCSPCertStatus.GOOD
        plain = [_request(issuer, serials[i % len(serials)], None) for i in range(args.requests)]
        nonced = [
            _request(issuer, serials[i % len(serials)], os.urandom(16))
            for i in range(args.requests)
        ]
        raw_key = ec.generate_private_key(ec.SECP256R1())
        raw_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "raw baseline")])
        raw_cert = (
            x509.CertificateBuilder()
            .subject_name(raw_name)
            .issuer_name(raw_name)
            .public_key(raw_key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(raw_key, hashes.SHA256())
        )

        def raw(_: bytes) -> bytes:
            builder = (
                ocsp.OCSPResponseBuilder()
                .add_response_by_hash(
                    b"\0" * 20,
                    b"\0" * 20,
                    serials[0],
                    hashes.SHA1(),
                    ocsp.OCSPCertStatus.GOOD,
                    now,
                    now + dt.timedelta(hours=12),
                    None,
                    None,
                )
                .responder_id(ocsp.OCSPResponderEncoding.HASH, raw_cert)
                .certificates([raw_cert])
            )
            return builder.sign(raw_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

        rows = [_measure("raw cryptography sign (baseline)", plain, raw)]
        rows.append(_measure("respond() with nonce (signs)", nonced, responder.respond))
        for body in plain[: len(serials)]:
            responder.respond(body)  # warm the cache: every serial pre-signed once
        rows.append(_measure("respond() without nonce (pre-signed)", plain, responder.respond))

    base = rows[0].rps
    print(f"{args.requests} requests over {args.certs} serials, one thread, soft key backend.\n")
    print("| mode | responses/s | p50 ms | p99 ms | / raw sign |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.label} | {row.rps:,.0f} | {row.p50_ms:.3f} | {row.p99_ms:.3f} "
            f"| {row.rps / base:.1f} |"
        )


def _request(issuer: x509.Certificate, serial: int, nonce: bytes | None) -> bytes:
    """An OCSPRequest with a SHA-1 CertID, built field by field (the serial has no certificate)."""
    cert = asn1_x509.Certificate.load(issuer.public_bytes(serialization.Encoding.DER))
    tbs: dict[str, Any] = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": "sha1"},
                    "issuer_name_hash": cert.subject.sha1,
                    "issuer_key_hash": cert.public_key.sha1,
                    "serial_number": serial,
                }
            }
        ]
    }
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
    return bytes(asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump())


if __name__ == "__main__":
    main()
