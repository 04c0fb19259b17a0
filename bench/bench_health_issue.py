"""Health-credential issuance per second, QR PNG included, against a raw encoder in the same run.

    python bench/bench_health_issue.py [--count N] [--repeat R]

A data directory is initialised in a temporary folder as ``natid init`` does (SQLite, soft key
backend, demo register, CA hierarchy), then the Ministry of Health's document signer is made.
Each round, one thread:

* NatID - ``HealthService.issue`` (register look-up of the holder, DCC 1.3.x schema and value
  sets, UVCI, CWT, COSE_Sign1 ES256 with the soft-backend key, zlib, Base45, storage of the
  issued record, audit entry) followed by ``qr_png`` (segno, alphanumeric, error correction Q);
* raw - the same DCC built as a dict, CBOR-encoded (cbor2), signed COSE_Sign1 ES256 with an
  in-memory P-256 key (cryptography), zlib, Base45 written here, and the same segno PNG; no
  checks, no storage, no audit.

Prints credentials per second for both and the ratio (the median of R rounds), as Markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import cbor2
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

VACCINATION = {
    "tg": "840539006",
    "vp": "1119349007",
    "mp": "EU/1/20/1528",
    "ma": "ORG-100030215",
    "dn": 2,
    "sd": 2,
    "dt": "2026-10-01",
}
_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def _b45(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out += [_B45[c], _B45[d], _B45[e]]
    if len(data) % 2:
        n = data[-1]
        out += [_B45[n % 45], _B45[n // 45]]
    return "".join(out)


def _raw_issue(key: ec.EllipticCurvePrivateKey, kid: bytes, n: int, *, png: bool = True) -> bytes:
    now = int(time.time())
    dcc = {
        "ver": "1.3.0",
        "nam": {"fn": "Sok", "fnt": "SOK", "gn": "Dara", "gnt": "DARA"},
        "dob": "1990-04-17",
        "v": [
            {**VACCINATION, "co": "KH", "is": "Ministry of Health", "ci": f"URN:UVCI:01:KH:R{n}"}
        ],
    }
    claims = cbor2.dumps({1: "KH", 6: now, 4: now + 365 * 86400, -260: {1: dcc}})
    protected = cbor2.dumps({1: -7, 4: kid})
    to_sign = cbor2.dumps(["Signature1", protected, b"", claims])
    r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    cose = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, claims, signature]))
    payload = "HC1:" + _b45(zlib.compress(cose, 9))
    if not png:
        return payload.encode()
    out = io.BytesIO()
    segno.make_qr(payload, mode="alphanumeric", error="Q", boost_error=False).save(
        out, kind="png", scale=4, border=4
    )
    return out.getvalue()


def _rate(fn: Any, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from api.cli.main import _initialise
    from api.context import build_context
    from core.settings import load_settings
    from vaccine_cert.qr import qr_png

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("NATID_DATABASE_URL", None)
        ctx = build_context(load_settings(data_dir=Path(tmp) / "var"))
        try:
            _initialise(ctx, demo=True)
            health = ctx.health()
            health.ensure_signer(actor="bench")
            holders = [p.id for p in ctx.register.list_persons(limit=None)]
            raw_key = ec.generate_private_key(ec.SECP256R1())
            kid = hashlib.sha256(b"bench").digest()[:8]

            def natid(i: int, *, png: bool = True) -> bytes:
                issued = health.issue(
                    holders[i % len(holders)], "vaccination", VACCINATION, actor="bench"
                )
                return qr_png(issued.payload) if png else issued.payload.encode()

            natid(0)  # warm-up: signer loaded, schema compiled
            _raw_issue(raw_key, kid, 0)
            nat_rates, raw_rates, nat_bare, raw_bare = [], [], [], []
            for _ in range(args.repeat):
                raw_rates.append(_rate(lambda i: _raw_issue(raw_key, kid, i), args.count))
                nat_rates.append(_rate(natid, args.count))
                raw_bare.append(_rate(lambda i: _raw_issue(raw_key, kid, i, png=False), args.count))
                nat_bare.append(_rate(lambda i: natid(i, png=False), args.count))
        finally:
            ctx.close()
    nat, raw = statistics.median(nat_rates), statistics.median(raw_rates)
    print(
        f"{args.count} vaccination credentials per round, median of {args.repeat} rounds, "
        f"SQLite, soft key backend, one thread, {dt.date.today()}\n"
    )
    print("| pipeline (QR PNG included) | credentials/s | ratio to raw |")
    print("|---|---:|---:|")
    print(f"| raw cbor2 + cryptography ES256 + zlib + Base45 + segno PNG | {raw:,.0f} | 1.00 |")
    print(
        "| NatID `HealthService.issue` + `qr_png` (register, schema, value sets, UVCI, "
        f"storage, audit) | {nat:,.0f} | {nat / raw:.2f} |"
    )
    nb, rb = statistics.median(nat_bare), statistics.median(raw_bare)
    print(f"| raw, without the QR PNG | {rb:,.0f} | 1.00 |")
    print(f"| NatID `HealthService.issue`, without the QR PNG | {nb:,.0f} | {nb / rb:.2f} |")
    rounds = f"NatID {[round(r) for r in nat_rates]}, raw {[round(r) for r in raw_rates]}"
    print(f"\nper round: {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
