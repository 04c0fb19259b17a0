"""The ``pkcs11`` key backend: keys generated and used inside an HSM through PKCS#11.

Tested against SoftHSM2; the same calls drive Thales Luna, Utimaco, nShield, YubiHSM2 or a
cloud HSM's PKCS#11 module. References are to PKCS#11 v2.40 (Base and Current Mechanisms).

* Keys are generated on the token (``C_GenerateKeyPair``) as token objects that never leave it:
  ``CKA_TOKEN``, ``CKA_PRIVATE`` and ``CKA_SENSITIVE`` true, ``CKA_EXTRACTABLE`` false (Base
  §4.9), usable only to sign (``CKA_SIGN`` true; decrypt, unwrap and derive false). Each key
  pair gets ``CKA_LABEL`` = the label and a random 16-byte ``CKA_ID``; a loaded key remembers its
  ``CKA_ID``, so a key destroyed and re-created under the same label is never used by mistake.
* Signing hashes in Python and asks the token for the raw primitive: ``CKM_ECDSA`` over the
  digest (Mechanisms §2.3.6; the ``r || s`` result is re-encoded as DER), ``CKM_RSA_PKCS`` over
  a DER ``DigestInfo`` (§2.1.6), ``CKM_RSA_PKCS_PSS`` with ``CK_RSA_PKCS_PSS_PARAMS`` (§2.1.14),
  ``CKM_EDDSA`` for Ed25519 (v3.0 §2.3.14). So every hash, and pre-hashed input, works the same.
* python-pkcs11 sessions are not thread-safe, so a pool of ``pool_size`` read/write sessions is
  kept; each operation borrows one. The token login and the module's locking mode are
  per process (see ``_cryptoki.py``).
* There is no creation time in PKCS#11, so ``KeyInfo.created_at`` is ``None`` here.
"""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from hsm_adapters import _p11_encoding as enc
from hsm_adapters._cryptoki import LoadedModule, acquire_login, load_module, release_login
from hsm_adapters._keys import (
    BackendECPrivateKey,
    BackendEd25519PrivateKey,
    BackendRSAPrivateKey,
    Pkcs1v15,
    RsaScheme,
)
from hsm_adapters._p11_pool import Pooled, SessionPool
from hsm_adapters.base import (
    BackendPrivateKey,
    BackendPublicKey,
    KeyAlgorithm,
    KeyInfo,
    check_label,
)
from hsm_adapters.errors import (
    KeyAccessDenied,
    KeyBackendError,
    KeyBackendUnavailable,
    KeyExists,
    KeyNotFound,
    KeyStoreCorrupt,
    UnsupportedAlgorithm,
)

if TYPE_CHECKING:
    from pkcs11 import Session

__all__ = ["PKCS11KeyBackend"]

log = logging.getLogger(__name__)

_HASH_PARAMS = {  # hash name -> (CKM_ hash mechanism, CKG_MGF1_ name) for PSS parameters
    "sha1": ("SHA_1", "SHA1"),
    "sha224": ("SHA224", "SHA224"),
    "sha256": ("SHA256", "SHA256"),
    "sha384": ("SHA384", "SHA384"),
    "sha512": ("SHA512", "SHA512"),
    "sha3-224": ("SHA3_224", "SHA3_224"),
    "sha3-256": ("SHA3_256", "SHA3_256"),
    "sha3-384": ("SHA3_384", "SHA3_384"),
    "sha3-512": ("SHA3_512", "SHA3_512"),
}


class PKCS11KeyBackend:
    """Keys on the PKCS#11 token ``token_label`` of ``module``, logged in with ``pin``."""

    name = "pkcs11"

    def __init__(
        self,
        module: Path,
        token_label: str,
        pin: SecretStr | str,
        pool_size: int = 4,
        *,
        borrow_timeout: float = 30.0,
    ) -> None:
        import pkcs11

        if not 1 <= pool_size <= 64:
            raise KeyBackendUnavailable(f"pool_size must be between 1 and 64, got {pool_size}")
        self._p11 = pkcs11
        self._token_label = token_label
        self._module: LoadedModule = load_module(Path(module))
        self._where = f"PKCS#11 token {token_label!r} of {module}"
        with self._module.guard():
            try:
                self._token = self._module.lib.get_token(token_label=token_label)
            except pkcs11.NoSuchToken as exc:
                raise KeyBackendUnavailable(
                    f"no token labelled {token_label!r} in PKCS#11 module {module}"
                ) from exc
            except pkcs11.PKCS11Error as exc:
                raise KeyBackendUnavailable(
                    f"cannot open {self._where}: {type(exc).__name__}"
                ) from exc
        secret = pin.get_secret_value() if isinstance(pin, SecretStr) else pin
        self._ticket = acquire_login(self._module, self._token, secret, token_label)
        self._closed = False
        self._admin_lock = threading.Lock()
        try:
            with self._module.guard():
                mechanisms = set(self._token.slot.get_mechanisms())
            self._pool = SessionPool(
                self._module, self._token, size=pool_size, timeout=borrow_timeout, where=self._where
            )
        except pkcs11.PKCS11Error as exc:
            self._closed = True
            release_login(self._module, self._ticket)
            raise KeyBackendUnavailable(f"cannot use {self._where}: {type(exc).__name__}") from exc
        except BaseException:
            self._closed = True
            release_login(self._module, self._ticket)
            raise
        self._supported = self._algorithms_from(mechanisms)

    def _algorithms_from(self, mechanisms: set[Any]) -> frozenset[KeyAlgorithm]:
        m = self._p11.Mechanism
        supported: set[KeyAlgorithm] = set()
        if {m.EC_KEY_PAIR_GEN, m.ECDSA} <= mechanisms:
            supported |= {KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384}
        if {m.RSA_PKCS_KEY_PAIR_GEN, m.RSA_PKCS, m.RSA_PKCS_PSS} <= mechanisms:
            supported |= set(enc.RSA_BITS)
        if {m.EC_EDWARDS_KEY_PAIR_GEN, m.EDDSA} <= mechanisms:
            supported.add(KeyAlgorithm.ED25519)
        return frozenset(supported)

    # --- objects ------------------------------------------------------------------------------

    def _private_objects(self, session: Session, label: str) -> list[Any]:
        a, c = self._p11.Attribute, self._p11.ObjectClass
        return list(session.get_objects({a.CLASS: c.PRIVATE_KEY, a.LABEL: label}))

    def _algorithm_of(self, obj: Any) -> KeyAlgorithm | None:
        a, kt = self._p11.Attribute, self._p11.KeyType
        key_type = obj[a.KEY_TYPE]
        if key_type == kt.RSA:
            bits = len(obj[a.MODULUS].lstrip(b"\x00")) * 8
            return next((alg for alg, b in enc.RSA_BITS.items() if b == bits), None)
        if key_type == kt.EC:
            params = obj[a.EC_PARAMS]
            return next(
                (
                    alg
                    for alg in (KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384)
                    if enc.EC_PARAMS[alg] == params
                ),
                None,
            )
        if key_type == kt.EC_EDWARDS and obj[a.EC_PARAMS] in enc.ED25519_PARAMS_ALTERNATIVES:
            return KeyAlgorithm.ED25519
        return None

    def _public_of(self, obj: Any, algorithm: KeyAlgorithm, label: str) -> BackendPublicKey:
        a = self._p11.Attribute
        what = f"key {label!r} on {self._where}"
        if algorithm in enc.RSA_BITS:
            return enc.public_rsa(obj[a.MODULUS], obj[a.PUBLIC_EXPONENT], what)
        if algorithm is KeyAlgorithm.ED25519:
            return enc.public_ed25519(obj[a.EC_POINT], what)
        return enc.public_ec(algorithm, obj[a.EC_POINT], what)

    def _private_handle(self, pooled: Pooled, label: str, key_id: bytes) -> Any:
        handle = pooled.keys.get((label, key_id))
        if handle is None:
            p11 = self._p11
            try:
                handle = pooled.live.get_key(
                    object_class=p11.ObjectClass.PRIVATE_KEY, label=label, id=key_id
                )
            except p11.NoSuchKey as exc:
                raise KeyNotFound(f"key {label!r} is no longer on {self._where}") from exc
            except p11.MultipleObjectsReturned as exc:
                raise KeyStoreCorrupt(f"several keys labelled {label!r} on {self._where}") from exc
            pooled.keys[(label, key_id)] = handle
        return handle

    def _sign(
        self, label: str, key_id: bytes, data: bytes, mechanism: Any, param: Any = None
    ) -> bytes:
        def op(pooled: Pooled) -> bytes:
            handle = self._private_handle(pooled, label, key_id)
            try:
                return bytes(handle.sign(data, mechanism=mechanism, mechanism_param=param))
            except (self._p11.ObjectHandleInvalid, self._p11.KeyHandleInvalid):
                pooled.keys.pop((label, key_id), None)
                raise

        return self._pool.run(f"signing with key {label!r}", op)

    def _wrap(
        self, label: str, key_id: bytes, algorithm: KeyAlgorithm, public: BackendPublicKey
    ) -> BackendPrivateKey:
        m = self._p11.Mechanism
        if algorithm is KeyAlgorithm.ED25519:
            assert isinstance(public, ed25519.Ed25519PublicKey)
            return BackendEd25519PrivateKey(
                label=label,
                backend_name=self.name,
                public_key=public,
                signer=lambda data: self._sign(label, key_id, data, m.EDDSA),
            )
        if algorithm in enc.RSA_BITS:
            assert isinstance(public, rsa.RSAPublicKey)

            def sign_rsa(
                digest: bytes, algorithm: hashes.HashAlgorithm | None, scheme: RsaScheme
            ) -> bytes:
                if isinstance(scheme, Pkcs1v15):
                    data = digest if algorithm is None else enc.digest_info(algorithm, digest)
                    return self._sign(label, key_id, data, m.RSA_PKCS)
                assert algorithm is not None
                names = _HASH_PARAMS.get(algorithm.name)
                mgf_names = _HASH_PARAMS.get(scheme.mgf_algorithm.name)
                if names is None or mgf_names is None:
                    raise UnsupportedAlgorithm(f"no PKCS#11 PSS parameters for {algorithm.name}")
                params = (
                    getattr(m, names[0]),
                    getattr(self._p11.MGF, mgf_names[1]),
                    scheme.salt_length,
                )
                return self._sign(label, key_id, digest, m.RSA_PKCS_PSS, params)

            return BackendRSAPrivateKey(
                label=label, backend_name=self.name, public_key=public, signer=sign_rsa
            )
        assert isinstance(public, ec.EllipticCurvePublicKey)
        key_size = public.key_size

        def sign_ecdsa(
            digest: bytes, algorithm: hashes.HashAlgorithm, *, deterministic: bool
        ) -> bytes:
            if deterministic:
                raise UnsupportedAlgorithm(
                    "deterministic ECDSA (RFC 6979) is not available through CKM_ECDSA"
                )
            raw = self._sign(label, key_id, enc.ecdsa_truncate(digest, key_size), m.ECDSA)
            return enc.ecdsa_raw_to_der(raw)

        return BackendECPrivateKey(
            label=label, backend_name=self.name, public_key=public, signer=sign_ecdsa
        )

    # --- the KeyBackend protocol --------------------------------------------------------------

    def supported_algorithms(self) -> frozenset[KeyAlgorithm]:
        return self._supported

    def generate(self, label: str, algorithm: KeyAlgorithm) -> BackendPrivateKey:
        check_label(label)
        try:
            algorithm = KeyAlgorithm(algorithm)
        except ValueError as exc:
            raise UnsupportedAlgorithm(f"unknown key algorithm {str(algorithm)[:40]!r}") from exc
        if algorithm not in self._supported:
            raise UnsupportedAlgorithm(f"{self._where} cannot generate {algorithm.value} keys")
        p11 = self._p11
        a, kt = p11.Attribute, p11.KeyType
        key_id = secrets.token_bytes(16)
        private_template = {
            a.TOKEN: True,
            a.PRIVATE: True,
            a.SENSITIVE: True,
            a.EXTRACTABLE: False,
            a.SIGN: True,
            a.DECRYPT: False,
            a.UNWRAP: False,
            a.DERIVE: False,
        }
        public_template: dict[Any, Any] = {a.TOKEN: True, a.PRIVATE: False, a.VERIFY: True}
        if algorithm in enc.RSA_BITS:
            key_type, key_length = kt.RSA, enc.RSA_BITS[algorithm]
            public_template |= {a.ENCRYPT: False, a.WRAP: False}
        else:
            key_type = kt.EC_EDWARDS if algorithm is KeyAlgorithm.ED25519 else kt.EC
            key_length = None
            public_template[a.EC_PARAMS] = enc.EC_PARAMS[algorithm]

        def op(pooled: Pooled) -> BackendPublicKey:
            if self._private_objects(pooled.live, label):
                raise KeyExists(f"a key labelled {label!r} already exists on {self._where}")
            public, _private = pooled.live.generate_keypair(
                key_type,
                key_length,
                id=key_id,
                label=label,
                store=True,
                capabilities=p11.MechanismFlag.SIGN | p11.MechanismFlag.VERIFY,
                public_template=public_template,
                private_template=private_template,
            )
            return self._public_of(public, algorithm, label)

        with self._admin_lock:
            public = self._pool.run(f"generating key {label!r}", op)
        log.info(
            "generated key",
            extra={"label": label, "algorithm": algorithm.value, "backend": self.name},
        )
        return self._wrap(label, key_id, algorithm, public)

    def _find(self, label: str) -> tuple[bytes, KeyAlgorithm, BackendPublicKey]:
        check_label(label)
        a, c = self._p11.Attribute, self._p11.ObjectClass

        def op(pooled: Pooled) -> tuple[bytes, KeyAlgorithm, BackendPublicKey]:
            found = self._private_objects(pooled.live, label)
            if not found:
                raise KeyNotFound(f"no key labelled {label!r} on {self._where}")
            if len(found) > 1:
                raise KeyStoreCorrupt(f"{len(found)} keys are labelled {label!r} on {self._where}")
            key_id = bytes(found[0][a.ID])
            algorithm = self._algorithm_of(found[0])
            if algorithm is None:
                raise UnsupportedAlgorithm(
                    f"key {label!r} on {self._where} is of a type NatID does not use"
                )
            publics: list[Any] = list(
                pooled.live.get_objects({a.CLASS: c.PUBLIC_KEY, a.LABEL: label, a.ID: key_id})
            )
            if len(publics) != 1:
                raise KeyStoreCorrupt(
                    f"key {label!r} on {self._where} has {len(publics)} public keys, expected 1"
                )
            pooled.keys[(label, key_id)] = found[0]
            return key_id, algorithm, self._public_of(publics[0], algorithm, label)

        return self._pool.run(f"loading key {label!r}", op)

    def load(self, label: str) -> BackendPrivateKey:
        key_id, algorithm, public = self._find(label)
        return self._wrap(label, key_id, algorithm, public)

    def public_key(self, label: str) -> BackendPublicKey:
        return self._find(label)[2]

    def list(self) -> list[KeyInfo]:
        a, c = self._p11.Attribute, self._p11.ObjectClass

        def op(pooled: Pooled) -> list[KeyInfo]:
            infos = []
            for obj in list(pooled.live.get_objects({a.CLASS: c.PRIVATE_KEY})):
                try:
                    label = check_label(obj[a.LABEL])
                    algorithm = self._algorithm_of(obj)
                except (KeyBackendError, self._p11.PKCS11Error):
                    continue
                if algorithm is not None:
                    infos.append(
                        KeyInfo(
                            label=label, algorithm=algorithm, backend=self.name, created_at=None
                        )
                    )
            return sorted(infos, key=lambda info: info.label)

        return self._pool.run("listing keys", op)

    def destroy(self, label: str) -> None:
        check_label(label)
        a, c = self._p11.Attribute, self._p11.ObjectClass

        def op(pooled: Pooled) -> None:
            found = self._private_objects(pooled.live, label)
            if not found:
                raise KeyNotFound(f"no key labelled {label!r} on {self._where}")
            ids = {bytes(obj[a.ID]) for obj in found}
            publics = list(pooled.live.get_objects({a.CLASS: c.PUBLIC_KEY, a.LABEL: label}))
            for obj in found:
                obj.destroy()
            for obj in publics:
                if bytes(obj[a.ID]) in ids:
                    obj.destroy()

        with self._admin_lock:
            self._pool.run(f"destroying key {label!r}", op)
            self._pool.generation += 1
        log.info("destroyed key", extra={"label": label, "backend": self.name})

    def health_check(self) -> None:
        p11 = self._p11
        with self._module.guard():
            try:
                token = self._module.lib.get_token(token_label=self._token_label)
            except p11.PKCS11Error as exc:
                raise KeyBackendUnavailable(
                    f"{self._where} is gone ({type(exc).__name__})"
                ) from exc
        if token.flags & p11.TokenFlag.USER_PIN_LOCKED:
            raise KeyAccessDenied(f"the user PIN of {self._where} is locked")

        def probe(pooled: Pooled) -> None:
            # A search exercises the session and the login without touching any key.
            self._private_objects(pooled.live, "natid-health-probe")

        self._pool.run("health check", probe)

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self._pool.close()
        release_login(self._module, self._ticket)

    def __repr__(self) -> str:
        return f"<PKCS11KeyBackend {self._where}>"
