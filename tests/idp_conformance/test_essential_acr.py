"""Beyond the FAPI 2.0 plan's lines: the other side of its essential-``acr`` test."""

from __future__ import annotations

import json
import secrets

from tests.idp_conformance.conftest import DPoPKey, RegisteredRP, Suite
from tests.idp_conformance.test_fapi2_security_profile_plan import Who, _front, _push, _request_uri


def test_essential_acr_still_unmet_after_the_login_is_a_failed_authentication(
    suite: Suite, bank: RegisteredRP, person: Who
) -> None:
    """Not a plan line; the other side of the test above: the user logs in again and still
    reaches only ``low`` -> the client gets ``unmet_authentication_requirements`` (with
    ``state`` and ``iss``), never a code."""
    suite.login(person[1], acr="low")
    dpop = DPoPKey()
    verifier = secrets.token_urlsafe(48)
    claims_request = {"id_token": {"acr": {"essential": True, "values": ["substantial"]}}}
    params = suite.params(bank, verifier, claims=json.dumps(claims_request))
    request_uri = _request_uri(_push(suite, bank, verifier, dpop=dpop, form=params))
    outcome = _front(suite, bank, request_uri, verifier, params=params)
    assert outcome.login_page
    outcome = suite.log_in_and_continue(outcome, person[1], bank, acr="low")
    assert outcome.callback is not None
    assert outcome.callback["error"] == "unmet_authentication_requirements"
    assert "code" not in outcome.callback
    assert outcome.callback["iss"] == suite.issuer
