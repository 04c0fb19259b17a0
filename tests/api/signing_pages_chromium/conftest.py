"""Fixtures of the signing pages in Chromium: the approval office of the workflow tests (a
ministry with an e-seal, an author and four approvers with server-side gov-sign keys), a legal
entity with an e-seal and a CA operator who may seal batches, each with an IdP account."""

from __future__ import annotations

import pytest

from api.context import AppContext
from core.operators import OperatorRole
from tests.api._ra import operator_token
from tests.api.signing_batch.conftest import account_for
from tests.api.signing_workflows.conftest import ctx, golden_keys, office
from tests.ca._issuance import add_entity

__all__ = ["ctx", "golden_keys", "office"]


@pytest.fixture
def sealer(ctx: AppContext) -> tuple[str, str]:
    """(entity id, IdP account id of a ca-operator) for the batch page."""
    entity = add_entity(ctx.register, kind="company")
    ctx.signing().ensure_eseal(entity.id, actor="test")
    operator_id, _ = operator_token(ctx, "chromium.ops", OperatorRole.CA_OPERATOR)
    return entity.id, account_for(ctx, operator_id, name="Seal Operator")
