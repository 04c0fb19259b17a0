"""Keys at issuance: proof of possession, key policy, known-weak RSA keys, one key one subject,
and keys the CA generates in its own key backend."""

from __future__ import annotations

import math
import random

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import (
    KeyAlreadyCertified,
    KeyPolicyViolation,
    ProofOfPossessionFailed,
    SubjectNotEligible,
    WeakKey,
)
from ca.keypolicy import (
    ROCA_PRIMES,
    check_rsa_modulus,
    fermat_factor,
    has_roca_fingerprint,
)
from ca.service import CAService
from core.audit import AuditLedger
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    add_entity,
    add_person,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    register,
    row_counts,
    session_hierarchy,
    transparency,
)

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]

E = 65537


# --- constructing weak RSA keys ---------------------------------------------------------------


def is_probable_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin with a fixed seed (deterministic tests)."""
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rng = random.Random(n)
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def first_primes(count: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


def roca_prime(rng: random.Random, bits: int = 1024) -> int:
    """A prime of the structure Infineon RSALib used for 2048-bit keys (Nemec et al. 2017,
    §2.3): ``p = k * M + (65537^a mod M)``, ``M`` the product of the first 126 primes."""
    m = math.prod(first_primes(126))
    low, high = (3 << (bits - 2)) // m + 1, (1 << bits) // m
    while True:
        p = rng.randrange(low, high) * m + pow(E, rng.randrange(1, 1 << 64), m)
        if p.bit_length() == bits and math.gcd(E, p - 1) == 1 and is_probable_prime(p):
            return p


def next_prime(n: int) -> int:
    candidate = n + 1 + (n % 2)
    while not (is_probable_prime(candidate) and math.gcd(E, candidate - 1) == 1):
        candidate += 2
    return candidate


def rsa_key_from_primes(p: int, q: int) -> rsa.RSAPrivateKey:
    d = pow(E, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(E, p * q),
    )
    return numbers.private_key()


@pytest.fixture(scope="module")
def roca_key() -> rsa.RSAPrivateKey:
    rng = random.Random(2017_15361)
    return rsa_key_from_primes(roca_prime(rng), roca_prime(rng))


@pytest.fixture(scope="module")
def fermat_key() -> rsa.RSAPrivateKey:
    p = rsa.generate_private_key(public_exponent=E, key_size=2048).private_numbers().p
    return rsa_key_from_primes(p, next_prime(p))


# --- the weak-key tests themselves ------------------------------------------------------------


def test_roca_masks_match_the_published_detector() -> None:
    # The first four masks of the authors' detector (github.com/crocs-muni/roca, detect.py).
    from ca.keypolicy import _ROCA_MASKS

    assert [mask for _prime, mask in _ROCA_MASKS[:4]] == [6, 30, 126, 1026]
    assert ROCA_PRIMES[0] == 3
    assert ROCA_PRIMES[-1] == 167
    assert len(ROCA_PRIMES) == 38


def test_ordinary_keys_pass_the_weak_key_tests() -> None:
    for _ in range(3):
        n = rsa.generate_private_key(public_exponent=E, key_size=2048).public_key()
        modulus = n.public_numbers().n
        assert not has_roca_fingerprint(modulus)
        assert fermat_factor(modulus) is None
        check_rsa_modulus(modulus)


def test_fermat_factor_finds_close_primes(fermat_key: rsa.RSAPrivateKey) -> None:
    numbers = fermat_key.private_numbers()
    assert fermat_factor(numbers.public_numbers.n) == tuple(sorted((numbers.p, numbers.q)))


def test_modulus_with_a_small_factor_rejected() -> None:
    q = rsa.generate_private_key(public_exponent=E, key_size=2048).private_numbers().q
    with pytest.raises(WeakKey, match="small prime factor"):
        check_rsa_modulus(7919 * q)


# --- through issuance ----------------------------------------------------------------------------


def test_csr_without_proof_of_possession_rejected(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
) -> None:
    person = add_person(register)
    der = make_csr(ec_key(), encoding=serialization.Encoding.DER)
    forged = der[:-1] + bytes([der[-1] ^ 0x01])
    before = row_counts(session_factory)
    with pytest.raises(ProofOfPossessionFailed):
        ca_service.issue_from_csr("citizen-auth", person.id, forged, actor=ACTOR)
    assert row_counts(session_factory) == before


def test_rsa_1024_rejected(ca_service: CAService, register: EmbeddedRegister) -> None:
    person = add_person(register)
    small = rsa.generate_private_key(public_exponent=E, key_size=1024)
    with pytest.raises(KeyPolicyViolation, match="1024 bits"):
        ca_service.issue_from_csr("citizen-auth", person.id, make_csr(small), actor=ACTOR)
    assert ca_service.list(subject_id=person.id) == ()


def test_roca_weak_key_rejected(
    ca_service: CAService, register: EmbeddedRegister, roca_key: rsa.RSAPrivateKey
) -> None:
    assert roca_key.key_size == 2048
    assert has_roca_fingerprint(roca_key.public_key().public_numbers().n)
    person = add_person(register)
    with pytest.raises(WeakKey, match="ROCA"):
        ca_service.issue_from_csr("citizen-sign", person.id, make_csr(roca_key), actor=ACTOR)
    assert ca_service.list(subject_id=person.id) == ()


def test_fermat_close_primes_rejected(
    ca_service: CAService, register: EmbeddedRegister, fermat_key: rsa.RSAPrivateKey
) -> None:
    person = add_person(register)
    with pytest.raises(WeakKey, match="Fermat"):
        ca_service.issue_from_csr("citizen-sign", person.id, make_csr(fermat_key), actor=ACTOR)
    assert ca_service.list(subject_id=person.id) == ()


def test_rsa_2048_key_is_accepted(ca_service: CAService, register: EmbeddedRegister) -> None:
    person = add_person(register)
    key = rsa.generate_private_key(public_exponent=E, key_size=2048)
    issued = ca_service.issue_from_csr("citizen-sign", person.id, make_csr(key), actor=ACTOR)
    assert issued.key_algorithm == "rsa-2048"


def test_same_public_key_for_two_subjects_rejected(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
) -> None:
    key = ec_key()
    first, second = add_person(register), add_person(register)
    ca_service.issue_from_csr("citizen-auth", first.id, make_csr(key), actor=ACTOR)
    before = row_counts(session_factory)
    with pytest.raises(KeyAlreadyCertified, match="another subject"):
        ca_service.issue_from_csr("citizen-auth", second.id, make_csr(key), actor=ACTOR)
    assert row_counts(session_factory) == before
    assert ca_service.list(subject_id=second.id) == ()


def test_same_key_for_a_second_certificate_of_one_subject_needs_renew(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    """Authentication and signing keys stay separate: a second certificate is a renewal."""
    key = ec_key()
    person = add_person(register)
    first = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(key), actor=ACTOR)
    with pytest.raises(KeyAlreadyCertified, match=f"renew that certificate|{first.serial_hex}"):
        ca_service.issue_from_csr("citizen-sign", person.id, make_csr(key), actor=ACTOR)


def test_a_ca_key_cannot_be_certified_for_a_person(
    ca_service: CAService, register: EmbeddedRegister, hierarchy_keys: SoftKeyBackend
) -> None:
    """Even someone holding a CA's key (here: the test) cannot get it a person certificate."""
    person = add_person(register)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(hierarchy_keys.load("ocsp-citizen"), hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(KeyAlreadyCertified, match="another subject"):
        ca_service.issue_from_csr("citizen-auth", person.id, csr, actor=ACTOR)


# --- keys generated in the key backend ------------------------------------------------------------


def subject_keys(backend: SoftKeyBackend) -> set[str]:
    return {info.label for info in backend.list() if info.label.startswith("subj-")}


def test_server_key_lives_in_the_backend_and_signs_for_its_certificate(
    ca_service: CAService, register: EmbeddedRegister, hierarchy_keys: SoftKeyBackend
) -> None:
    entity = add_entity(register)
    issued = ca_service.issue_with_server_key("eseal", entity.id, actor=ACTOR)

    assert issued.key_label is not None
    assert issued.key_label in subject_keys(hierarchy_keys)
    assert ca_service.get(issued.serial_hex).key_label == issued.key_label
    key = hierarchy_keys.load(issued.key_label)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signature = key.sign(b"sealed document", ec.ECDSA(hashes.SHA256()))
    public_key = issued.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, b"sealed document", ec.ECDSA(hashes.SHA256()))
    assert issued.key_algorithm == "ec-p256"


def test_server_key_algorithm_can_be_chosen(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    entity = add_entity(register)
    issued = ca_service.issue_with_server_key("eseal", entity.id, actor=ACTOR, algorithm="rsa-2048")
    assert issued.key_algorithm == "rsa-2048"
    assert isinstance(issued.certificate.public_key(), rsa.RSAPublicKey)


def test_algorithm_the_profile_refuses_leaves_no_key(
    ca_service: CAService, register: EmbeddedRegister, hierarchy_keys: SoftKeyBackend
) -> None:
    ministry = add_entity(register, kind="ministry")
    before = subject_keys(hierarchy_keys)
    with pytest.raises(KeyPolicyViolation, match="not ec-p384"):
        ca_service.issue_with_server_key(
            "health-dsc", ministry.id, actor=ACTOR, algorithm="ec-p384"
        )
    assert subject_keys(hierarchy_keys) == before


def test_ineligible_subject_gets_no_key_generated(
    ca_service: CAService, register: EmbeddedRegister, hierarchy_keys: SoftKeyBackend
) -> None:
    company = add_entity(register, status="dissolved")
    before = subject_keys(hierarchy_keys)
    with pytest.raises(SubjectNotEligible):
        ca_service.issue_with_server_key("eseal", company.id, actor=ACTOR)
    assert subject_keys(hierarchy_keys) == before


def test_server_key_destroyed_when_storing_fails(
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entity = add_entity(register)
    before = subject_keys(hierarchy_keys)

    def ledger_down(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("ledger down")

    monkeypatch.setattr(ledger, "append", ledger_down)
    with pytest.raises(RuntimeError, match="ledger down"):
        ca_service.issue_with_server_key("eseal", entity.id, actor=ACTOR)
    assert subject_keys(hierarchy_keys) == before
    assert ca_service.list(subject_id=entity.id) == ()


def test_database_refuses_a_key_bound_by_a_concurrent_request(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two requests with one key for two subjects, both past the check before either
    commits: the key binding's primary key stops the second."""
    import ca.store

    key = ec_key()
    first, second = add_person(register), add_person(register)
    ca_service.issue_from_csr("citizen-auth", first.id, make_csr(key), actor=ACTOR)
    # Blind the check, as if the first request had not committed when the second looked.
    blind = ca.store._SELECT_BINDING.where(ca.store._BINDINGS.c.spki_sha256.is_(None))
    monkeypatch.setattr(ca.store, "_SELECT_BINDING", blind)
    before = row_counts(session_factory)
    with pytest.raises(KeyAlreadyCertified, match="concurrent request"):
        ca_service.issue_from_csr("citizen-auth", second.id, make_csr(key), actor=ACTOR)
    assert row_counts(session_factory) == before
