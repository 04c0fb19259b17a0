"""Fixtures of the CSC API tests (tests/api/csc/_csc.py)."""

from tests.api._ra import golden_keys
from tests.api.csc._csc import csc_ctx, csc_http

__all__ = ["csc_ctx", "csc_http", "golden_keys"]
