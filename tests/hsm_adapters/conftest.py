"""Fixtures for the key-backend conformance suite: one set of tests, every backend.

``backend_maker`` is parametrised over ``soft`` and ``pkcs11``; the PKCS#11 leg carries the
``softhsm`` marker and runs against a SoftHSM2 token that this test session initialises in a
temporary directory. A missing SoftHSM2 skips on a developer machine and fails under
``CI=true`` (``tests.conftest.require``).

The PKCS#11 library is loaded once per process and reads ``SOFTHSM2_CONF`` when it is first
initialised, so there is ONE token directory per test session (per xdist worker), holding two
tokens: ``natid-test`` for the suite and ``natid-test-spare``, which no backend ever logs in
to (for the wrong-PIN test on a token that is not logged in yet). Tests use unique labels.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from hsm_adapters import (
    BackendPrivateKey,
    KeyAlgorithm,
    KeyBackend,
    PKCS11KeyBackend,
    SoftKeyBackend,
)
from tests._softhsm import (  # the one SoftHSM2 token directory of the session
    USER_PIN,
    SoftHSMToken,
)

SOFT_PASSPHRASE = "conformance suite passphrase"


@dataclass(frozen=True)
class BackendMaker:
    """Builds backends of one kind on one store (same directory, or same token)."""

    kind: str
    #: ``make()`` opens with the right secret; ``make(secret)`` with another one.
    make: Callable[..., KeyBackend]
    secret: str
    #: Environment and constructor arguments that let a subprocess open the same store.
    env: dict[str, str]
    args: tuple[str, ...]


@pytest.fixture(scope="session", params=["soft", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def backend_maker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> BackendMaker:
    if request.param == "soft":
        directory = tmp_path_factory.mktemp("soft-keys") / "keys"

        def make_soft(secret: str = SOFT_PASSPHRASE) -> KeyBackend:
            return SoftKeyBackend(directory, secret)

        return BackendMaker(
            kind="soft",
            make=make_soft,
            secret=SOFT_PASSPHRASE,
            env={},
            args=("soft", str(directory), SOFT_PASSPHRASE),
        )
    token: SoftHSMToken = request.getfixturevalue("softhsm")

    def make_pkcs11(secret: str = USER_PIN) -> KeyBackend:
        return PKCS11KeyBackend(token.module, token.label, secret)

    return BackendMaker(
        kind="pkcs11",
        make=make_pkcs11,
        secret=USER_PIN,
        env={"SOFTHSM2_CONF": str(token.conf)},
        args=("pkcs11", str(token.module), token.label, USER_PIN),
    )


@pytest.fixture(scope="session")
def backend(backend_maker: BackendMaker) -> Iterator[KeyBackend]:
    """One open backend per kind for the whole session."""
    opened = backend_maker.make()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def _shared_keys() -> dict[tuple[str, KeyAlgorithm], BackendPrivateKey]:
    return {}


@pytest.fixture(params=list(KeyAlgorithm), ids=[a.value for a in KeyAlgorithm])
def algorithm(request: pytest.FixtureRequest, backend: KeyBackend) -> KeyAlgorithm:
    alg: KeyAlgorithm = request.param
    if alg not in backend.supported_algorithms():
        # Only Ed25519 may be missing (a SoftHSM2 built without EdDSA); say so.
        pytest.skip(f"the {backend.name} backend here does not offer {alg.value}")
    return alg


@pytest.fixture
def key(
    backend: KeyBackend,
    algorithm: KeyAlgorithm,
    _shared_keys: dict[tuple[str, KeyAlgorithm], BackendPrivateKey],
) -> BackendPrivateKey:
    """A key of ``algorithm``, generated once per backend for the session (RSA-4096 is slow)."""
    slot = (backend.name, algorithm)
    if slot not in _shared_keys:
        _shared_keys[slot] = backend.generate(
            f"shared-{algorithm.value}-{uuid.uuid4().hex[:8]}", algorithm
        )
    return _shared_keys[slot]


@pytest.fixture
def label() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"
