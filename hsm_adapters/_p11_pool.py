"""A pool of PKCS#11 sessions, and the translation of PKCS#11 errors into NatID's.

A PKCS#11 session runs one operation at a time (PKCS#11 v2.40 §5.1: ``C_SignInit`` then
``C_Sign`` on the same session), and python-pkcs11's ``Session`` objects are not thread-safe.
So the backend keeps ``size`` read/write sessions in a LIFO queue and every operation borrows
one. A session that breaks (``CKR_SESSION_HANDLE_INVALID``, device removed) is closed and
replaced, and the operation is tried once more: signing is idempotent.

Sessions are opened without logging in: the process-wide login (``_cryptoki.py``) already
covers every session of the application (§5.6).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from hsm_adapters._cryptoki import LoadedModule
from hsm_adapters.errors import (
    InvalidSigningInput,
    KeyAccessDenied,
    KeyBackendError,
    KeyBackendUnavailable,
    KeyNotFound,
    UnsupportedAlgorithm,
)

if TYPE_CHECKING:
    from pkcs11 import Session, Token

__all__ = ["Pooled", "SessionPool"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Pooled:
    """One session of the pool and the private-key handles looked up through it."""

    session: Session | None
    keys: dict[tuple[str, bytes], Any] = field(default_factory=dict)
    generation: int = 0

    @property
    def live(self) -> Session:
        assert self.session is not None  # _borrow() reopens a missing session
        return self.session


class SessionPool:
    """``size`` sessions on ``token``; ``run(what, op)`` lends one to ``op``."""

    def __init__(
        self, module: LoadedModule, token: Token, *, size: int, timeout: float, where: str
    ) -> None:
        import pkcs11

        self._p11 = pkcs11
        self._module = module
        self._token = token
        self._timeout = timeout
        self._where = where
        self._closed = False
        #: Bumped when keys are destroyed, so cached private-key handles are dropped.
        self.generation = 0
        self._queue: queue.LifoQueue[Pooled] = queue.LifoQueue()
        try:
            with module.guard():
                for _ in range(size):
                    self._queue.put(Pooled(session=token.open(rw=True)))
        except pkcs11.PKCS11Error as exc:
            self.close()
            raise KeyBackendUnavailable(
                f"cannot open sessions on {where}: {type(exc).__name__}"
            ) from exc

    def _borrow(self) -> Pooled:
        if self._closed:
            raise KeyBackendUnavailable(f"the key backend for {self._where} was closed")
        try:
            pooled = self._queue.get(timeout=self._timeout)
        except queue.Empty as exc:
            raise KeyBackendUnavailable(
                f"all sessions to {self._where} stayed busy for {self._timeout:.0f} s"
            ) from exc
        if pooled.session is None:
            try:
                with self._module.guard():
                    pooled.session = self._token.open(rw=True)
            except self._p11.PKCS11Error as exc:
                self._queue.put(pooled)
                raise KeyBackendUnavailable(
                    f"cannot reopen a session to {self._where}: {type(exc).__name__}"
                ) from exc
        if pooled.generation != self.generation:
            pooled.keys.clear()
            pooled.generation = self.generation
        return pooled

    def _give_back(self, pooled: Pooled, *, broken: bool) -> None:
        if (broken or self._closed) and pooled.session is not None:
            try:
                with self._module.guard():
                    pooled.session.close()
            except self._p11.PKCS11Error:
                log.debug("closing a broken PKCS#11 session failed", exc_info=True)
            pooled.session = None
            pooled.keys.clear()
        if not self._closed:
            self._queue.put(pooled)

    def run(self, what: str, op: Callable[[Pooled], T]) -> T:
        """Run ``op`` on a borrowed session; retry once on a fresh session if it broke."""
        p11 = self._p11
        session_broken = (
            p11.SessionHandleInvalid,
            p11.SessionClosed,
            p11.DeviceRemoved,
            p11.TokenNotPresent,
            p11.DeviceError,
        )
        for attempt in (1, 2):
            pooled = self._borrow()
            broken = False
            try:
                with self._module.guard():
                    return op(pooled)
            except session_broken as exc:
                broken = True
                if attempt == 2:
                    raise self.translate(exc, what) from exc
                log.warning("PKCS#11 session broke (%s); retrying once", type(exc).__name__)
            except p11.PKCS11Error as exc:
                raise self.translate(exc, what) from exc
            finally:
                self._give_back(pooled, broken=broken)
        raise AssertionError("unreachable")  # pragma: no cover

    def translate(self, exc: Exception, what: str) -> KeyBackendError:
        """The NatID error for a PKCS#11 return value (named, never with a PIN in it)."""
        p11 = self._p11
        name = type(exc).__name__
        if isinstance(exc, p11.PinIncorrect | p11.PinLocked | p11.UserNotLoggedIn):
            return KeyAccessDenied(f"{what}: {self._where} refused access ({name})")
        if isinstance(
            exc,
            p11.MechanismInvalid
            | p11.MechanismParamInvalid
            | p11.KeySizeRange
            | p11.DomainParamsInvalid
            | p11.FunctionNotSupported
            | p11.KeyTypeInconsistent
            | p11.TemplateInconsistent,
        ):
            return UnsupportedAlgorithm(f"{what}: {self._where} does not support it ({name})")
        if isinstance(exc, p11.ObjectHandleInvalid | p11.KeyHandleInvalid):
            return KeyNotFound(f"{what}: the key is no longer on {self._where}")
        if isinstance(exc, p11.DataLenRange | p11.DataInvalid):
            return InvalidSigningInput(f"{what}: the token rejected the input ({name})")
        return KeyBackendUnavailable(f"{what}: {self._where} failed ({name})")

    def close(self) -> None:
        """Close every idle session now, and every borrowed one when it comes back."""
        self._closed = True
        while True:
            try:
                pooled = self._queue.get_nowait()
            except queue.Empty:
                break
            self._give_back(pooled, broken=True)
