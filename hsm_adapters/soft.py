"""The ``soft`` key backend: private keys in files, encrypted at rest.

The development default, and the backend of small installations without an HSM. Each key is
one file ``<label>.key.json`` in the key directory: its PKCS#8 (RFC 5958) private key encrypted
with AES-256-GCM under a key derived from the store passphrase with scrypt (RFC 7914), a fresh
salt per file, and the label, algorithm and creation time bound in as associated data (the
format is described in ``_soft_format.py``). ``keystore.json`` holds a passphrase check, so a
wrong passphrase fails when the backend is built, before any key is needed.

Files are written to a 0600 temporary file, fsynced, and published with a hard link, so a key
file appears whole or not at all and two processes generating the same label cannot overwrite
each other. Decrypted keys are cached in memory (the process is trusted); every signature first
checks that the key file is still the one that was loaded, so a key destroyed - here or by
another process - stops signing, as it does in an HSM. That check (one ``stat`` of the file) is
kept on every signature; what was cut from the ECDSA path of ID and access tokens is overhead
around it: the ``ECDSA(Prehashed(...))`` scheme objects are immutable and shared per hash class,
and the error translation is inlined instead of going through a closure and a lambda.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm as CryptographyUnsupported
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from pydantic import SecretStr

from core.clock import Clock, SystemClock
from hsm_adapters import _soft_format as fmt
from hsm_adapters._keys import (
    BackendECPrivateKey,
    BackendEd25519PrivateKey,
    BackendRSAPrivateKey,
    Pkcs1v15,
    RsaScheme,
)
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

__all__ = ["SoftKeyBackend"]

log = logging.getLogger(__name__)

_KEY_SUFFIX = ".key.json"
_KEYSTORE_FILE = "keystore.json"
_FileId = tuple[int, int, int, int]


def _file_id(path: Path | str) -> _FileId:
    st = os.stat(path)  # noqa: PTH116 - a str path per signature: no pathlib conversion
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _generate(algorithm: KeyAlgorithm) -> fmt.PlainPrivateKey:
    if algorithm is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm is KeyAlgorithm.EC_P384:
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm is KeyAlgorithm.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    bits = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
    return rsa.generate_private_key(public_exponent=65537, key_size=bits[algorithm])


#: ``ec.ECDSA(Prehashed(hash))`` per exact parameterless hash class and determinism: immutable
#: objects, built once instead of per signature.
_PREHASHED_ECDSA: dict[tuple[type, bool], ec.ECDSA] = {}
_SHAREABLE_HASHES = frozenset(
    {
        hashes.SHA224,
        hashes.SHA256,
        hashes.SHA384,
        hashes.SHA512,
        hashes.SHA3_224,
        hashes.SHA3_256,
        hashes.SHA3_384,
        hashes.SHA3_512,
    }
)


def _prehashed_ecdsa(algorithm: hashes.HashAlgorithm, deterministic: bool) -> ec.ECDSA:
    """``ec.ECDSA(utils.Prehashed(algorithm), deterministic_signing=deterministic)``, shared
    for the SHA-2/SHA-3 classes (a construction that raises is not kept, so it raises again)."""
    kind = type(algorithm)
    if kind not in _SHAREABLE_HASHES:
        return ec.ECDSA(utils.Prehashed(algorithm), deterministic_signing=deterministic)
    cache_key = (kind, deterministic)
    scheme = _PREHASHED_ECDSA.get(cache_key)
    if scheme is None:
        scheme = ec.ECDSA(utils.Prehashed(algorithm), deterministic_signing=deterministic)
        _PREHASHED_ECDSA[cache_key] = scheme
    return scheme


def _wrap(
    label: str, key: fmt.PlainPrivateKey, still_valid: Callable[[], None]
) -> BackendPrivateKey:
    """Hide a decrypted key behind the backend-key classes: the same path as an HSM key."""

    def guarded(fn: Callable[[], bytes], what: str) -> bytes:
        still_valid()
        try:
            return fn()
        except (ValueError, TypeError, CryptographyUnsupported) as exc:
            raise UnsupportedAlgorithm(f"{what}: {exc}") from exc

    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_key = key

        def sign_ecdsa(
            digest: bytes, algorithm: hashes.HashAlgorithm, *, deterministic: bool
        ) -> bytes:
            # Every JWS and certificate signature comes this way: the scheme object is shared
            # and the guard is inlined (same order: scheme, validity check, signature).
            scheme = _prehashed_ecdsa(algorithm, deterministic)
            still_valid()
            try:
                return ec_key.sign(digest, scheme)
            except (ValueError, TypeError, CryptographyUnsupported) as exc:
                raise UnsupportedAlgorithm(f"ECDSA with {algorithm.name}: {exc}") from exc

        return BackendECPrivateKey(
            label=label, backend_name="soft", public_key=ec_key.public_key(), signer=sign_ecdsa
        )
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key = key

        def sign_rsa(
            digest: bytes, algorithm: hashes.HashAlgorithm | None, scheme: RsaScheme
        ) -> bytes:
            if algorithm is None:
                return guarded(
                    lambda: rsa_key.sign(digest, padding.PKCS1v15(), utils.NoDigestInfo()),
                    "RSA PKCS#1 v1.5 without DigestInfo",
                )
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if isinstance(scheme, Pkcs1v15)
                else padding.PSS(padding.MGF1(scheme.mgf_algorithm), scheme.salt_length)
            )
            return guarded(
                lambda: rsa_key.sign(digest, pad, utils.Prehashed(algorithm)),
                f"RSA with {algorithm.name}",
            )

        return BackendRSAPrivateKey(
            label=label, backend_name="soft", public_key=rsa_key.public_key(), signer=sign_rsa
        )
    ed_key = key
    return BackendEd25519PrivateKey(
        label=label,
        backend_name="soft",
        public_key=ed_key.public_key(),
        signer=lambda data: guarded(lambda: ed_key.sign(data), "Ed25519"),
    )


class SoftKeyBackend:
    """Keys as AES-256-GCM-encrypted PKCS#8 files in ``directory``, under ``passphrase``.

    Raises ``KeyAccessDenied`` at construction if the passphrase does not open the store.
    ``scrypt_n`` is the work factor for files written from now on; files keep their own.
    """

    name = "soft"

    def __init__(
        self,
        directory: Path,
        passphrase: SecretStr | str,
        *,
        clock: Clock | None = None,
        scrypt_n: int = fmt.DEFAULT_SCRYPT_N,
    ) -> None:
        secret = passphrase.get_secret_value() if isinstance(passphrase, SecretStr) else passphrase
        if not secret:
            raise KeyAccessDenied("the soft key store needs a non-empty passphrase")
        if not fmt.MIN_SCRYPT_N <= scrypt_n <= fmt.MAX_SCRYPT_N or scrypt_n & (scrypt_n - 1):
            raise UnsupportedAlgorithm(
                f"scrypt n must be a power of two in [2**14, 2**20], got {scrypt_n}"
            )
        self._dir = Path(directory)
        self._passphrase = secret.encode("utf-8")
        self._clock: Clock = clock or SystemClock()
        self._scrypt_n = scrypt_n
        self._lock = threading.RLock()
        self._cache: dict[str, tuple[_FileId, BackendPrivateKey]] = {}
        self._keystore_bytes = b""
        self._closed = False
        try:
            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            mode = self._dir.stat().st_mode
        except OSError as exc:
            raise KeyBackendUnavailable(
                f"cannot create the soft key directory {self._dir}: {exc.strerror}"
            ) from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "soft key directory %s is open to group or others (mode %o); use 0700",
                self._dir,
                stat.S_IMODE(mode),
            )
        self._open_keystore()

    # --- the passphrase check ------------------------------------------------------------------

    @property
    def _keystore_path(self) -> Path:
        return self._dir / _KEYSTORE_FILE

    def _open_keystore(self) -> None:
        try:
            raw = self._keystore_path.read_bytes()
        except FileNotFoundError:
            self._create_keystore()
            return
        except OSError as exc:
            raise KeyBackendUnavailable(
                f"cannot read {self._keystore_path}: {exc.strerror}"
            ) from exc
        self._verify_keystore(raw)

    def _verify_keystore(self, raw: bytes) -> None:
        fmt.verify_keystore(
            raw,
            passphrase=self._passphrase,
            where=str(self._keystore_path),
            directory=str(self._dir),
        )
        self._keystore_bytes = raw

    def _create_keystore(self) -> None:
        # A store that has keys but lost keystore.json: prove the passphrase on a key first, so
        # a wrong passphrase cannot silently start a second, incompatible store in the same place.
        existing = sorted(self._dir.glob(f"*{_KEY_SUFFIX}"))
        opened = False
        for path in existing:
            try:
                fmt.decrypt_key_file(
                    path.read_bytes(),
                    label=path.name[: -len(_KEY_SUFFIX)],
                    where=path.name,
                    passphrase=self._passphrase,
                )
            except (KeyStoreCorrupt, OSError):
                continue
            opened = True
            break
        if existing and not opened:
            raise KeyAccessDenied(
                f"the soft key store at {self._dir} has no {_KEYSTORE_FILE} and the passphrase "
                "opens none of its keys: wrong passphrase, or the files are damaged"
            )
        data = fmt.make_keystore(self._passphrase, self._scrypt_n)
        try:
            self._publish(self._keystore_path, data)
        except FileExistsError:
            # Another process created it first; it must accept our passphrase too.
            self._open_keystore()
            return
        except OSError as exc:
            raise KeyBackendUnavailable(
                f"cannot write {self._keystore_path}: {exc.strerror}"
            ) from exc
        self._keystore_bytes = data

    # --- files --------------------------------------------------------------------------------

    def _path(self, label: str) -> Path:
        return self._dir / f"{check_label(label)}{_KEY_SUFFIX}"

    def _publish(self, path: Path, data: bytes) -> None:
        """Write ``data`` to a 0600 temporary file, fsync it, and link it to ``path``.

        The link is atomic and fails with ``FileExistsError`` if ``path`` exists, so nothing is
        ever overwritten (``os.replace`` would silently replace a key).
        """
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            path.hardlink_to(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(self._dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _validity_check(self, label: str, file_id: _FileId) -> Callable[[], None]:
        # A string: os.stat() on it skips pathlib's conversion on every signature.
        path = str(self._path(label))

        def still_valid() -> None:
            if self._closed:
                raise KeyBackendUnavailable("the soft key backend was closed")
            try:
                current = _file_id(path)
            except FileNotFoundError:
                current = None
            if current != file_id:
                raise KeyNotFound(
                    f"key {label!r} was destroyed or replaced after it was loaded; load it again"
                )

        return still_valid

    def _check_open(self) -> None:
        if self._closed:
            raise KeyBackendUnavailable("the soft key backend was closed")

    # --- the KeyBackend protocol --------------------------------------------------------------

    def supported_algorithms(self) -> frozenset[KeyAlgorithm]:
        return frozenset(KeyAlgorithm)

    def generate(self, label: str, algorithm: KeyAlgorithm) -> BackendPrivateKey:
        self._check_open()
        path = self._path(label)
        try:
            algorithm = KeyAlgorithm(algorithm)
        except ValueError as exc:
            raise UnsupportedAlgorithm(f"unknown key algorithm {str(algorithm)[:40]!r}") from exc
        exists = KeyExists(f"a key labelled {label!r} already exists in the soft key store")
        if path.exists():
            raise exists
        # Generation (RSA-4096 takes a second) and scrypt run outside the lock; publishing is
        # atomic and refuses to overwrite, so a racing generate of the same label gets KeyExists.
        private = _generate(algorithm)
        data = fmt.encrypt_key_file(
            private,
            label=label,
            algorithm=algorithm,
            created_at=self._clock.now(),
            passphrase=self._passphrase,
            scrypt_n=self._scrypt_n,
        )
        with self._lock:
            try:
                self._publish(path, data)
                file_id = _file_id(path)
            except FileExistsError as exc:
                raise exists from exc
            except OSError as exc:
                raise KeyBackendUnavailable(f"cannot write {path}: {exc.strerror}") from exc
            wrapped = _wrap(label, private, self._validity_check(label, file_id))
            self._cache[label] = (file_id, wrapped)
        log.info(
            "generated key", extra={"label": label, "algorithm": algorithm.value, "backend": "soft"}
        )
        return wrapped

    def load(self, label: str) -> BackendPrivateKey:
        self._check_open()
        path = self._path(label)
        with self._lock:
            try:
                file_id = _file_id(path)
                cached = self._cache.get(label)
                if cached is not None and cached[0] == file_id:
                    return cached[1]
                raw = path.read_bytes()
            except FileNotFoundError as exc:
                raise KeyNotFound(f"no key labelled {label!r} in the soft key store") from exc
            except OSError as exc:
                raise KeyBackendUnavailable(f"cannot read {path}: {exc.strerror}") from exc
            key = fmt.decrypt_key_file(
                raw, label=label, where=path.name, passphrase=self._passphrase
            )
            wrapped = _wrap(label, key, self._validity_check(label, file_id))
            self._cache[label] = (file_id, wrapped)
            return wrapped

    def public_key(self, label: str) -> BackendPublicKey:
        # Decrypting proves the public key belongs to an authentic key file; a public key kept
        # beside it in clear could be swapped without anyone noticing.
        return self.load(label).public_key()

    def list(self) -> list[KeyInfo]:
        self._check_open()
        infos: list[KeyInfo] = []
        for path in sorted(self._dir.glob(f"*{_KEY_SUFFIX}")):
            label = path.name[: -len(_KEY_SUFFIX)]
            try:
                check_label(label)
                stored_label, algorithm, created = fmt.read_header(path.read_bytes(), path.name)
            except (KeyBackendError, OSError):
                log.warning("skipping unreadable key file %s", path.name)
                continue
            if stored_label != label:
                log.warning("skipping key file %s: it holds another label", path.name)
                continue
            infos.append(
                KeyInfo(label=label, algorithm=algorithm, backend=self.name, created_at=created)
            )
        return infos

    def destroy(self, label: str) -> None:
        self._check_open()
        path = self._path(label)
        with self._lock:
            self._cache.pop(label, None)
            try:
                path.unlink()
            except FileNotFoundError as exc:
                raise KeyNotFound(f"no key labelled {label!r} in the soft key store") from exc
            except OSError as exc:
                raise KeyBackendUnavailable(f"cannot delete {path}: {exc.strerror}") from exc
        log.info("destroyed key", extra={"label": label, "backend": "soft"})

    def health_check(self) -> None:
        self._check_open()
        if not self._dir.is_dir() or not os.access(self._dir, os.R_OK | os.W_OK | os.X_OK):
            raise KeyBackendUnavailable(f"the soft key directory {self._dir} is not usable")
        try:
            raw = self._keystore_path.read_bytes()
        except OSError as exc:
            raise KeyBackendUnavailable(
                f"cannot read {self._keystore_path}: {exc.strerror}"
            ) from exc
        if raw != self._keystore_bytes:
            self._verify_keystore(raw)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cache.clear()

    def __repr__(self) -> str:
        return f"<SoftKeyBackend directory={str(self._dir)!r}>"
