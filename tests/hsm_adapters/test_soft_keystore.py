"""The soft backend's key files: encrypted at rest, bound to their label, tamper-evident.

These tests read the files the way an attacker who copied the key directory would, and decrypt
them the way the documented format says (``hsm_adapters/_soft_format.py``), to prove that the
private key is only ever on disk under AES-256-GCM with a scrypt-derived key.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.clock import FixedClock
from hsm_adapters import (
    KeyAccessDenied,
    KeyAlgorithm,
    KeyBackendError,
    KeyNotFound,
    KeyStoreCorrupt,
    SoftKeyBackend,
)

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def decrypt_as_documented(path: Path, passphrase: str) -> bytes:
    """Decrypt a key file by the documented format alone (no NatID code)."""
    doc = json.loads(path.read_bytes())
    kdf = doc["kdf"]
    key = Scrypt(
        salt=base64.b64decode(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(passphrase.encode())
    aad = json.dumps(
        {k: doc[k] for k in ("algorithm", "created_at", "format", "label")},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return AESGCM(key).decrypt(
        base64.b64decode(doc["nonce"]), base64.b64decode(doc["ciphertext"]), aad
    )


def secret_forms(der: bytes) -> list[bytes]:
    """Every encoding of the private key that must not appear in a key file."""
    key = serialization.load_der_private_key(der, password=None)
    forms = [der, base64.b64encode(der)]
    forms.append(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        scalar = key.private_numbers().private_value
        forms.append(scalar.to_bytes((key.curve.key_size + 7) // 8, "big"))
    elif isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        forms += [numbers.d.to_bytes((numbers.d.bit_length() + 7) // 8, "big")]
        forms += [numbers.p.to_bytes((numbers.p.bit_length() + 7) // 8, "big")]
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        forms.append(key.private_bytes_raw())
    return forms


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm), ids=[a.value for a in KeyAlgorithm])
def test_key_file_never_holds_the_private_key_in_clear(
    store: Path, algorithm: KeyAlgorithm
) -> None:
    backend = SoftKeyBackend(store, PASSPHRASE)
    backend.generate("ca-key", algorithm)
    path = store / "ca-key.key.json"
    on_disk = path.read_bytes()
    der = decrypt_as_documented(path, PASSPHRASE)
    for form in secret_forms(der):
        assert form not in on_disk
    assert b"PRIVATE KEY" not in on_disk
    # What is decrypted is the key that signs: its public half matches.
    inner = serialization.load_der_private_key(der, password=None)
    assert inner.public_key() == backend.public_key("ca-key")


def test_key_files_and_directory_are_private_to_the_owner(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE).generate("k", KeyAlgorithm.EC_P256)
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    for name in ("k.key.json", "keystore.json"):
        assert stat.S_IMODE((store / name).stat().st_mode) == 0o600
    assert not [p for p in store.iterdir() if p.name.endswith(".tmp")]


def test_tampering_one_byte_of_a_key_file_is_detected(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE).generate("k", KeyAlgorithm.EC_P256)
    path = store / "k.key.json"
    pristine = path.read_bytes()
    doc = json.loads(pristine)
    ciphertext = bytearray(base64.b64decode(doc["ciphertext"]))
    for position in (0, len(ciphertext) // 2, len(ciphertext) - 1):  # body and GCM tag
        tampered = bytearray(ciphertext)
        tampered[position] ^= 0x01
        path.unlink()
        path.write_text(json.dumps(doc | {"ciphertext": base64.b64encode(tampered).decode()}))
        with pytest.raises(KeyStoreCorrupt, match=r"k\.key\.json failed its integrity check"):
            SoftKeyBackend(store, PASSPHRASE).load("k")
    # Editing the metadata bound in as associated data is caught the same way.
    for field, value in (("algorithm", "ec-p384"), ("created_at", "2020-01-01T00:00:00+00:00")):
        path.unlink()
        path.write_text(json.dumps(doc | {field: value}))
        with pytest.raises(KeyStoreCorrupt):
            SoftKeyBackend(store, PASSPHRASE).load("k")


def test_key_file_renamed_to_another_label_is_refused(store: Path) -> None:
    backend = SoftKeyBackend(store, PASSPHRASE)
    backend.generate("issuing-ca", KeyAlgorithm.EC_P256)
    (store / "issuing-ca.key.json").rename(store / "root-ca.key.json")
    with pytest.raises(KeyStoreCorrupt, match="cannot be renamed"):
        backend.load("root-ca")
    # Rewriting the label inside as well breaks the GCM tag (the label is associated data).
    path = store / "root-ca.key.json"
    doc = json.loads(path.read_bytes())
    path.unlink()
    path.write_text(json.dumps(doc | {"label": "root-ca"}))
    with pytest.raises(KeyStoreCorrupt, match="integrity check"):
        backend.load("root-ca")


def test_wrong_passphrase_fails_before_any_key_is_loaded(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE)  # creates keystore.json; no keys yet
    with pytest.raises(KeyAccessDenied, match="wrong passphrase") as caught:
        SoftKeyBackend(store, "not the passphrase")
    assert "not the passphrase" not in str(caught.value)
    assert PASSPHRASE not in str(caught.value)


def test_health_check_notices_a_key_store_swapped_under_it(tmp_path: Path) -> None:
    backend = SoftKeyBackend(tmp_path / "a", PASSPHRASE)
    SoftKeyBackend(tmp_path / "b", "another passphrase")
    shutil.copyfile(tmp_path / "b" / "keystore.json", tmp_path / "a" / "keystore.json")
    with pytest.raises(KeyAccessDenied):
        backend.health_check()


def test_lost_keystore_file_does_not_let_a_wrong_passphrase_start_a_new_store(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE).generate("k", KeyAlgorithm.EC_P256)
    (store / "keystore.json").unlink()
    with pytest.raises(KeyAccessDenied):
        SoftKeyBackend(store, "a guess")
    assert not (store / "keystore.json").exists()
    # The right passphrase proves itself on a key and restores the check file.
    SoftKeyBackend(store, PASSPHRASE).load("k")
    assert (store / "keystore.json").exists()


def test_scrypt_cost_is_kept_per_file_so_it_can_be_raised(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE).generate("old", KeyAlgorithm.EC_P256)
    stronger = SoftKeyBackend(store, PASSPHRASE, scrypt_n=2**16)
    stronger.generate("new", KeyAlgorithm.EC_P256)
    assert json.loads((store / "old.key.json").read_bytes())["kdf"]["n"] == 2**15
    assert json.loads((store / "new.key.json").read_bytes())["kdf"]["n"] == 2**16
    default = SoftKeyBackend(store, PASSPHRASE)
    for label in ("old", "new"):
        key = default.load(label)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        key.public_key().verify(
            key.sign(b"x", ec.ECDSA(hashes.SHA256())), b"x", ec.ECDSA(hashes.SHA256())
        )


def test_hostile_scrypt_parameters_are_refused_without_running_them(store: Path) -> None:
    SoftKeyBackend(store, PASSPHRASE).generate("k", KeyAlgorithm.EC_P256)
    path = store / "k.key.json"
    doc = json.loads(path.read_bytes())
    path.unlink()
    path.write_text(json.dumps(doc | {"kdf": doc["kdf"] | {"n": 2**30}}))
    with pytest.raises(KeyStoreCorrupt, match="scrypt parameters out of range"):
        SoftKeyBackend(store, PASSPHRASE).load("k")


def test_key_destroyed_by_another_process_stops_signing(store: Path) -> None:
    here = SoftKeyBackend(store, PASSPHRASE)
    key = here.generate("k", KeyAlgorithm.EC_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    SoftKeyBackend(store, PASSPHRASE).destroy("k")  # another process, same directory
    with pytest.raises(KeyNotFound):
        key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(KeyNotFound):
        here.load("k")


def test_created_at_comes_from_the_injected_clock(store: Path, clock: FixedClock) -> None:
    SoftKeyBackend(store, PASSPHRASE, clock=clock).generate("k", KeyAlgorithm.ED25519)
    [info] = SoftKeyBackend(store, PASSPHRASE).list()
    assert info.created_at == clock.now()


def test_list_skips_files_it_cannot_read_instead_of_failing(store: Path) -> None:
    backend = SoftKeyBackend(store, PASSPHRASE)
    backend.generate("good", KeyAlgorithm.EC_P256)
    (store / "junk.key.json").write_bytes(b"\x00not json")
    assert [info.label for info in backend.list()] == ["good"]


# --- property tests: a key file is outside input --------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SoftKeyBackend, Path, dict[str, object]]:
    directory = tmp_path_factory.mktemp("fuzz") / "keys"
    backend = SoftKeyBackend(directory, PASSPHRASE)
    backend.generate("template", KeyAlgorithm.EC_P256)
    template = json.loads((directory / "template.key.json").read_bytes())
    return backend, directory, template


def _plant(directory: Path, raw: bytes) -> None:
    path = directory / "victim.key.json"
    path.unlink(missing_ok=True)
    path.write_bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=4096))
@example(raw=b"[" * 100_000)  # deep nesting
@example(raw=b'{"format": "natid-soft-key/1", "n": 1e999999}')
@example(raw=b"\xff\xfe{}")  # not UTF-8
@example(raw=b" " * 70_000)  # larger than any key file
@example(raw=b"null")
def test_arbitrary_bytes_as_key_file_raise_key_backend_error(
    fuzz_store: tuple[SoftKeyBackend, Path, dict[str, object]], raw: bytes
) -> None:
    backend, directory, _ = fuzz_store
    _plant(directory, raw)
    with pytest.raises(KeyBackendError):
        backend.load("victim")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(
        [
            "format",
            "label",
            "algorithm",
            "created_at",
            "kdf",
            "cipher",
            "nonce",
            "ciphertext",
            "extra",
        ]
    ),
    value=_json_values,
)
def test_key_file_with_a_mangled_field_raises_key_backend_error(
    fuzz_store: tuple[SoftKeyBackend, Path, dict[str, object]], field: str, value: object
) -> None:
    backend, directory, template = fuzz_store
    doc = template | {"label": "victim", field: value}
    _plant(directory, json.dumps(doc).encode())
    with pytest.raises(KeyBackendError):
        backend.load("victim")
