"""Signatures per second of each key backend, against raw ``cryptography`` in the same run.

    python bench/bench_signing.py [--seconds N] [--threads T]

Backends: ``soft`` (a temporary key store) and ``pkcs11`` on a temporary SoftHSM2 token, if
SoftHSM2 is installed. Algorithms: ECDSA P-256 (SHA-256), ECDSA P-384 (SHA-384) and RSA-2048
PSS (SHA-256, MGF1-SHA-256, salt = digest length). Each signs the same 256-byte message (about
the size of a small TBSCertificate or OCSP response) in a loop for N seconds per cell, with T
threads; the raw baseline signs with a plain cryptography key of the same algorithm.
Prints a Markdown table with the ratio backend / raw.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

ALGORITHMS = ("ec-p256", "ec-p384", "rsa-2048")
MESSAGE = os.urandom(256)
SOFTHSM_MODULES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)


def signer_for(key: object, algorithm: str) -> Callable[[], bytes]:
    """A zero-argument function that signs MESSAGE the way NatID signs with this key."""
    if algorithm == "ec-p256":
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return lambda: key.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    if algorithm == "ec-p384":
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return lambda: key.sign(MESSAGE, ec.ECDSA(hashes.SHA384()))
    assert isinstance(key, rsa.RSAPrivateKey)
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    return lambda: key.sign(MESSAGE, pss, hashes.SHA256())


def raw_key(algorithm: str) -> object:
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def measure(sign: Callable[[], bytes], seconds: float, threads: int) -> float:
    """Signatures per second over ``seconds``, with ``threads`` threads signing at once."""
    sign()  # warm up: first use loads the key, opens sessions, fills caches
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(i: int) -> None:
        start.wait()
        n = 0
        while time.perf_counter() < deadline[0]:
            sign()
            n += 1
        counts[i] = n

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - began)


def softhsm_backend(workdir: Path, pool_size: int) -> object | None:
    """A PKCS11KeyBackend on a fresh SoftHSM2 token, or None (with the reason on stderr)."""
    util = shutil.which("softhsm2-util")
    module = next((m for m in SOFTHSM_MODULES if m.is_file()), None)
    if util is None or module is None:
        print("SoftHSM2 not installed: skipping the pkcs11 backend", file=sys.stderr)
        return None
    tokens = workdir / "tokens"
    tokens.mkdir()
    conf = workdir / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    # Must be set before the module is loaded: SoftHSM2 reads it once, in C_Initialize.
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        [util, "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "5678"],
        check=True,
        capture_output=True,
    )
    from hsm_adapters import PKCS11KeyBackend

    return PKCS11KeyBackend(module, "bench", "1234", pool_size=pool_size)


def softhsm_version() -> str:
    util = shutil.which("softhsm2-util")
    if util is None:
        return "not installed"
    done = subprocess.run([util, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--threads", type=int, default=1, help="threads signing at once")
    args = parser.parse_args()

    from hsm_adapters import KeyAlgorithm, SoftKeyBackend

    results: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="natid-bench-") as tmp:
        workdir = Path(tmp)
        backends = [SoftKeyBackend(workdir / "soft", "bench passphrase")]
        pkcs11 = softhsm_backend(workdir, pool_size=max(4, args.threads))
        if pkcs11 is not None:
            backends.append(pkcs11)  # type: ignore[arg-type]
        for algorithm in ALGORITHMS:
            raw = measure(signer_for(raw_key(algorithm), algorithm), args.seconds, args.threads)
            for backend in backends:
                key = backend.generate(f"bench-{algorithm}", KeyAlgorithm(algorithm))
                rate = measure(signer_for(key, algorithm), args.seconds, args.threads)
                results.append((backend.name, algorithm, rate, raw))
                print(
                    f"  {backend.name:6} {algorithm:8} {rate:9.0f}/s  raw {raw:9.0f}/s",
                    file=sys.stderr,
                )
        for backend in backends:
            backend.close()

    print(
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"SoftHSM {softhsm_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        f"{args.seconds:g} s per cell, {args.threads} thread(s), 256-byte message.\n"
    )
    print("| backend | algorithm | signatures/s | raw cryptography signatures/s | backend / raw |")
    print("|---|---|---:|---:|---:|")
    for name, algorithm, rate, raw in results:
        label = "rsa-2048 (PSS)" if algorithm == "rsa-2048" else algorithm
        print(f"| {name} | {label} | {rate:,.0f} | {raw:,.0f} | {rate / raw:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
