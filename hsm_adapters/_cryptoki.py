"""Process-wide PKCS#11 state: the loaded module, its locking mode, and the token login.

Two facts of PKCS#11 v2.40 shape this module, and both are per *process*, not per backend:

1. **Initialisation and threads** (PKCS#11 v2.40 §5.4, ``C_Initialize``). python-pkcs11 0.10
   calls ``C_Initialize(NULL)``, which tells the module that the application will never call
   it from two threads at once. SoftHSM2 then switches its internal locks off, and concurrent
   signing on different sessions crashes the process (reproduced: 8 threads, segfault). Right
   after python-pkcs11 has loaded a module, and before any session exists, we finalise it and
   initialise it again with ``CKF_OS_LOCKING_OK`` through ``ctypes``, so the module locks for
   itself and the session pool can sign in parallel. If that is not possible (the module was
   already in use, it answers ``CKR_CANT_LOCK``, or the platform's ``CK_ULONG`` layout differs),
   the module runs in *serialised* mode: one lock around every call, correct but slower.

2. **Login is per application, not per session** (PKCS#11 v2.40 §5.6, ``C_Login``). Once one
   session logs in, every session of the process sees the private objects; a second
   ``C_Login`` answers ``CKR_USER_ALREADY_LOGGED_IN`` whatever the PIN, and ``C_Logout`` on any
   session logs every session out. So one *anchor* session per token holds the login, counted
   by reference: the last backend to close logs out. A second backend on a logged-in token is
   admitted only if its PIN matches the one that logged in (compared as an HMAC with a random
   key, so the PIN itself is not kept).

python-pkcs11 is imported lazily, so the soft backend works without a PKCS#11 library.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hsm_adapters.errors import KeyAccessDenied, KeyBackendUnavailable

if TYPE_CHECKING:
    from pkcs11 import Session, Token
    from pkcs11._pkcs11 import lib as Pkcs11Lib  # noqa: N812 - the extension's class is lowercase

__all__ = ["LoadedModule", "acquire_login", "load_module", "release_login"]

log = logging.getLogger(__name__)

_CKF_OS_LOCKING_OK = 0x00000002
_CKR_OK = 0x00000000

_REGISTRY_LOCK = threading.Lock()


@dataclass
class LoadedModule:
    """A PKCS#11 module loaded into this process."""

    path: str
    lib: Pkcs11Lib
    #: ``None`` when the module locks for itself; otherwise a lock held around every call.
    serial_lock: threading.RLock | None

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        if self.serial_lock is None:
            yield
            return
        with self.serial_lock:
            yield


_MODULES: dict[str, LoadedModule] = {}


_CK_RV = ctypes.c_ulong
_InitFn = ctypes.CFUNCTYPE(_CK_RV, ctypes.c_void_p)


class _FunctionListHead(ctypes.Structure):
    # CK_FUNCTION_LIST starts with the version, then C_Initialize and C_Finalize (§5.2).
    _fields_ = (
        ("version", ctypes.c_ubyte * 2),
        ("C_Initialize", _InitFn),
        ("C_Finalize", _InitFn),
    )


class _InitializeArgs(ctypes.Structure):
    # CK_C_INITIALIZE_ARGS (§3.6): four mutex callbacks, flags, reserved.
    _fields_ = (
        ("CreateMutex", ctypes.c_void_p),
        ("DestroyMutex", ctypes.c_void_p),
        ("LockMutex", ctypes.c_void_p),
        ("UnlockMutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("pReserved", ctypes.c_void_p),
    )


def _reinitialise_with_os_locking(path: str) -> bool:
    """Finalise the module and initialise it again with CKF_OS_LOCKING_OK; True on success.

    Only called before any session exists. On failure the module is left initialised the
    way python-pkcs11 initialised it (``C_Initialize(NULL)``).
    """
    if os.name == "nt":  # Windows packs PKCS#11 structures to 1 byte and has a 32-bit CK_ULONG.
        return False
    head = ctypes.POINTER(_FunctionListHead)()
    try:
        cdll = ctypes.CDLL(path)  # the same handle python-pkcs11 holds (dlopen reference counts)
        get_function_list = cdll.C_GetFunctionList
    except (OSError, AttributeError):
        return False
    get_function_list.argtypes = [ctypes.POINTER(ctypes.POINTER(_FunctionListHead))]
    get_function_list.restype = _CK_RV
    if get_function_list(ctypes.byref(head)) != _CKR_OK or not head:
        return False
    functions = head.contents
    if functions.C_Finalize(None) != _CKR_OK:
        return False
    args = _InitializeArgs(None, None, None, None, _CKF_OS_LOCKING_OK, None)
    rv = functions.C_Initialize(ctypes.cast(ctypes.byref(args), ctypes.c_void_p))
    if rv == _CKR_OK:
        return True
    # CKR_CANT_LOCK or anything else: back to what python-pkcs11 expects.
    rv = functions.C_Initialize(None)
    if rv != _CKR_OK:
        raise KeyBackendUnavailable(
            f"PKCS#11 module {path} failed to initialise again (CK_RV 0x{rv:08x})"
        )
    return False


def load_module(module: Path) -> LoadedModule:
    """Load ``module`` once per process; raise ``KeyBackendUnavailable`` naming its path."""
    if not module.is_file():
        raise KeyBackendUnavailable(f"PKCS#11 module {module} does not exist")
    path = str(module.resolve())
    with _REGISTRY_LOCK:
        loaded = _MODULES.get(path)
        if loaded is not None:
            return loaded
        try:
            import pkcs11
        except ImportError as exc:  # pragma: no cover - python-pkcs11 is a dependency
            raise KeyBackendUnavailable("python-pkcs11 is not installed") from exc
        # Someone else in this process (not a NatID backend) may already use the module; then
        # finalising it would pull the sessions from under them.
        in_use = path in getattr(pkcs11, "_loaded", {})
        try:
            lib = pkcs11.lib(path)
        except pkcs11.PKCS11Error as exc:
            raise KeyBackendUnavailable(
                f"cannot load PKCS#11 module {module}: {type(exc).__name__}"
            ) from exc
        os_locking = False if in_use else _reinitialise_with_os_locking(path)
        if not os_locking:
            log.warning(
                "PKCS#11 module %s runs serialised: it could not be initialised with "
                "CKF_OS_LOCKING_OK, so NatID holds one lock around every call",
                path,
            )
        loaded = LoadedModule(
            path=path, lib=lib, serial_lock=None if os_locking else threading.RLock()
        )
        _MODULES[path] = loaded
        return loaded


@dataclass
class _Login:
    anchor: Session
    mac_key: bytes
    pin_mac: bytes
    refs: int


_LOGINS: dict[tuple[str, bytes], _Login] = {}


def _pin_mac(key: bytes, pin: str) -> bytes:
    return hmac.new(key, pin.encode("utf-8"), hashlib.sha256).digest()


def acquire_login(
    module: LoadedModule, token: Token, pin: str, token_label: str
) -> tuple[str, bytes]:
    """Make sure this process is logged in to ``token`` with ``pin``; return a release ticket.

    Raises ``KeyAccessDenied`` for a wrong or locked PIN (never naming the PIN).
    """
    import pkcs11

    ticket = (module.path, bytes(token.serial))
    with _REGISTRY_LOCK:
        entry = _LOGINS.get(ticket)
        if entry is not None:
            if not hmac.compare_digest(entry.pin_mac, _pin_mac(entry.mac_key, pin)):
                raise KeyAccessDenied(
                    f"wrong PIN for PKCS#11 token {token_label!r}: it differs from the PIN "
                    "this process logged in with"
                )
            entry.refs += 1
            return ticket
        with module.guard():
            try:
                anchor = token.open(user_pin=pin)
            except (pkcs11.PinIncorrect, pkcs11.PinInvalid, pkcs11.PinLenRange) as exc:
                raise KeyAccessDenied(
                    f"wrong PIN for PKCS#11 token {token_label!r} ({type(exc).__name__})"
                ) from exc
            except (pkcs11.PinLocked, pkcs11.PinExpired, pkcs11.UserPinNotInitialized) as exc:
                raise KeyAccessDenied(
                    f"PKCS#11 token {token_label!r} refuses the user login "
                    f"({type(exc).__name__}); ask the token's security officer"
                ) from exc
            except pkcs11.UserAlreadyLoggedIn:
                # Code outside NatID logged this process in; the PIN cannot be checked again.
                log.warning(
                    "PKCS#11 token %r was already logged in by other code in this process",
                    token_label,
                )
                anchor = token.open()
            except pkcs11.PKCS11Error as exc:
                raise KeyBackendUnavailable(
                    f"cannot log in to PKCS#11 token {token_label!r}: {type(exc).__name__}"
                ) from exc
        mac_key = secrets.token_bytes(32)
        _LOGINS[ticket] = _Login(
            anchor=anchor, mac_key=mac_key, pin_mac=_pin_mac(mac_key, pin), refs=1
        )
        return ticket


def release_login(module: LoadedModule, ticket: tuple[str, bytes]) -> None:
    """Drop one reference; the last one logs out (``C_Logout``) and closes the anchor."""
    import pkcs11

    with _REGISTRY_LOCK:
        entry = _LOGINS.get(ticket)
        if entry is None:
            return
        entry.refs -= 1
        if entry.refs > 0:
            return
        del _LOGINS[ticket]
        with module.guard():
            try:
                entry.anchor.close()
            except pkcs11.PKCS11Error as exc:
                log.warning("closing the PKCS#11 login session failed: %s", type(exc).__name__)
