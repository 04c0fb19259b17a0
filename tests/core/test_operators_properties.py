"""Property tests for the operator token and name parsers (outside input: headers, CLI args)."""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st

from core.operator_records import (
    AuthenticationFailed,
    AuthFailure,
    InvalidOperatorInput,
    check_name,
    new_token,
    parse_token,
    parse_token_id,
    token_hash,
)

B64URL = string.ascii_letters + string.digits + "-_"
HEX = "0123456789abcdef"

TOKEN_MESSAGE = AuthenticationFailed(AuthFailure.MALFORMED).message
try:
    check_name("0")
except InvalidOperatorInput as _exc:
    NAME_MESSAGE = _exc.message

near_tokens = st.builds(
    lambda tid, secret, sep: f"natid_op_{tid}{sep}{secret}",
    st.text(HEX + "ABCDEFxyz", min_size=14, max_size=18),
    st.text(B64URL + "=+/. é\x00", min_size=40, max_size=46),
    st.sampled_from(["_", "-", "", "__"]),
)


@given(st.one_of(st.text(max_size=200), near_tokens))
@example("natid_op_0123456789abcdef_" + "A" * 43 + "\n")
@example("natid_op_0123456789ABCDEF_" + "A" * 43)
@example("natid_op_0123456789abcdef_" + "A" * 42 + "=")
def test_parse_token_returns_the_id_or_refuses_as_malformed(value: str) -> None:
    try:
        token_id = parse_token(value)
    except AuthenticationFailed as exc:
        assert exc.reason is AuthFailure.MALFORMED
        assert exc.message == TOKEN_MESSAGE  # never echoes what was presented
        return
    # Accepted only in the exact format: prefix, 16 lowercase hex digits, 43 base64url chars.
    assert len(value) == len("natid_op_") + 16 + 1 + 43
    assert value == f"natid_op_{token_id}_{value[-43:]}"
    assert all(c in HEX for c in token_id)
    assert all(c in B64URL for c in value[-43:])


@given(st.integers(min_value=0, max_value=50))
def test_every_new_token_parses_back_to_its_id_and_is_unique(_: int) -> None:
    tokens = [new_token() for _ in range(5)]
    for token_id, token in tokens:
        assert parse_token(token) == token_id
        assert len(token_hash(token)) == 64
    assert len({t for _, t in tokens}) == len(tokens)
    assert len({i for i, _ in tokens}) == len(tokens)


@given(st.text(max_size=120))
def test_parse_token_id_refuses_anything_but_an_id_or_token(value: str) -> None:
    try:
        token_id = parse_token_id(value)
    except InvalidOperatorInput:
        return
    assert len(token_id) == 16
    assert token_id in value


@given(st.text(max_size=80))
@example("123456789")
@example("0123456789")
def test_no_name_is_all_digits_upper_case_or_spaced(value: str) -> None:
    try:
        name = check_name(value)
    except InvalidOperatorInput as exc:
        # One fixed message: the refused value (maybe an ID number) is never echoed.
        assert exc.message == NAME_MESSAGE
        return
    assert name[0].isascii() and name[0].islower()
    assert not name.isdigit()
    assert " " not in name and name == name.lower()
