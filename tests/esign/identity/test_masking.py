"""mask_personal_numbers: free text for logs and the audit log never keeps a personal number."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from esign.identity import mask_personal_numbers

from .strategies import citizen_numbers

ASCII_WORD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
# Text around a standalone number: anything but digits and the ASCII letters that would make the
# number part of a token (a request id, a hash), which is not a personal number.
filler = st.text(
    alphabet=st.characters(blacklist_categories=["Nd", "Cs"], blacklist_characters=ASCII_WORD), max_size=20
)


@given(filler, citizen_numbers(), filler, st.sampled_from(["", "CCCD:", "cccd = ", "MST:", "CMND: "]))
def test_twelve_digit_numbers_never_survive_in_text(before: str, number: str, after: str, prefix: str) -> None:
    masked = mask_personal_numbers(f"{before}{prefix}{number}{after}")
    assert number not in masked
    assert f"{number[:4]}******{number[-2:]}" in masked


@given(st.from_regex(r"[0-9]{9}", fullmatch=True), filler)
def test_nine_digit_card_numbers_never_survive(number: str, text: str) -> None:
    assert number not in mask_personal_numbers(f"{text} CMND {number}.")


def test_passports_and_prefixed_values_are_masked_but_other_numbers_kept() -> None:
    text = "user HC:C1234567 signed doc 2026-06-01 at 10:12:13, tax 0100109106, amount 12345678901234"
    masked = mask_personal_numbers(text)
    assert "C1234567" not in masked
    assert "HC:C*****67" in masked
    assert "0100109106" in masked  # an organization's tax code is public
    assert "12345678901234" in masked  # longer numbers are not identity numbers
    assert "2026-06-01 at 10:12:13" in masked


def test_masking_is_idempotent() -> None:
    text = "CCCD:001203012389 and 012345678"
    once = mask_personal_numbers(text)
    assert once == "CCCD:0012******89 and 01*****78"
    assert mask_personal_numbers(once) == once


@given(st.uuids())
def test_request_ids_and_hashes_are_never_masked(value: object) -> None:
    # 1,050 of 32,692 access-log lines carried ids like "dceb19*****94cad" (issue 21, item 23).
    request_id = value.hex[:16]  # type: ignore[attr-defined]  # the middleware's X-Request-Id form
    line = f'{{"msg": "request", "request_id": "{request_id}", "uuid": "{value}", "sha": "{value.hex * 2}"}}'  # type: ignore[attr-defined]
    assert mask_personal_numbers(line) == line


def test_a_request_id_with_a_long_digit_run_survives_and_a_citizen_number_beside_it_does_not() -> None:
    line = '{"request_id": "dceb19123456789094cad", "cccd": "001203012389", "order": "123456789012"}'
    masked = mask_personal_numbers(line)
    assert '"request_id": "dceb19123456789094cad"' in masked
    assert '"cccd": "0012******89"' in masked
    assert '"order": "123456789012"' in masked  # 12 digits, but no citizen number (province 123)
