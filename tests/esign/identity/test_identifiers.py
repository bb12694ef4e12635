"""Identifier: the five prefixes, CCCD structure, tax codes against python-stdnum, guessing."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.vn import mst as stdnum_mst

from esign.errors import InvalidInput
from esign.identity import (
    Identifier,
    IdentifierError,
    IdentifierKind,
    Sex,
    citizen_number_info,
    guess_identifier,
)

from .strategies import TODAY, citizen_numbers, tax_codes


@given(citizen_numbers())
def test_citizen_numbers_round_trip_through_the_uid_form(number: str) -> None:
    ident = Identifier.of(IdentifierKind.CCCD, number, today=TODAY)
    assert str(ident) == f"CCCD:{number}"
    assert Identifier.parse(str(ident), today=TODAY) == ident
    assert Identifier.parse(f" cccd : {number} ", today=TODAY) == ident


@given(citizen_numbers())
def test_citizen_number_structure_is_decoded(number: str) -> None:
    info = citizen_number_info(number, today=TODAY)
    digit = int(number[3])
    assert info.province_code == number[:3]
    assert info.birth_year == 1900 + 100 * (digit // 2) + int(number[4:6])
    assert info.sex is (Sex.FEMALE if digit % 2 else Sex.MALE)


def test_known_citizen_number_reads_as_hanoi_male_born_2003() -> None:
    info = citizen_number_info("001203012389", today=TODAY)
    assert (info.province, info.sex, info.birth_year) == ("Hà Nội", Sex.MALE, 2003)
    assert citizen_number_info("079187000001", today=TODAY).birth_year == 1987
    assert citizen_number_info("079187000001", today=TODAY).sex is Sex.FEMALE


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("00120301238", "format"),
        ("0012030123890", "format"),
        ("00120301238a", "format"),
        ("003203012389", "province"),
        ("099203012389", "province"),
        ("001227012389", "birth-year"),
        ("001499012389", "birth-year"),
    ],
)
def test_malformed_citizen_numbers_name_the_rule(number: str, rule: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        Identifier.of("CCCD", number, today=TODAY)
    assert caught.value.rule == rule
    assert caught.value.kind is IdentifierKind.CCCD
    assert isinstance(caught.value, InvalidInput)


def test_birth_year_is_checked_against_the_given_date() -> None:
    assert Identifier.of("CCCD", "001226012389", today=dt.date(2026, 1, 1)).value == "001226012389"
    with pytest.raises(IdentifierError, match="2026, which is in the future"):
        Identifier.of("CCCD", "001226012389", today=dt.date(2025, 12, 31))


@given(tax_codes())
def test_valid_tax_codes_agree_with_python_stdnum_and_round_trip(code: str) -> None:
    ident = Identifier.of(IdentifierKind.MST, code)
    assert ident.value == stdnum_mst.format(code)
    assert Identifier.parse(str(ident)) == ident
    assert Identifier.of("MST", code.replace("-", "")) == ident


@given(st.text(alphabet="0123456789", min_size=10, max_size=10) | st.from_regex(r"[0-9]{10}-[0-9]{3}", fullmatch=True))
def test_any_ten_or_thirteen_digit_tax_code_is_accepted_exactly_when_stdnum_accepts_it(code: str) -> None:
    try:
        Identifier.of("MST", code)
        ours = True
    except IdentifierError:
        ours = False
    assert ours is stdnum_mst.is_valid(code)


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("0100109107", "check-digit"),
        ("0100000000", "component"),
        ("0100109106-000", "component"),
        ("010010910", "format"),
        ("01001091060", "format"),
        ("0100109106/001", "format"),
    ],
)
def test_bad_tax_codes_name_the_rule(code: str, rule: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        Identifier.of("MST", code)
    assert caught.value.rule == rule


@given(citizen_numbers())
def test_a_twelve_digit_tax_code_is_the_citizen_number(number: str) -> None:
    ident = Identifier.of("MST", number, today=TODAY)
    assert ident.value == number
    assert ident.personal
    assert ident.citizen_info is not None


@given(st.from_regex(r"[0-9]{9}|[0-9]{12}", fullmatch=True))
def test_old_identity_card_numbers_round_trip(number: str) -> None:
    ident = Identifier.parse(f"CMND:{number}")
    assert str(ident) == f"CMND:{number}"
    assert Identifier.parse(str(ident)) == ident


@given(st.from_regex(r"[A-Z][0-9]{7}", fullmatch=True))
def test_passport_numbers_round_trip_and_are_upper_cased(number: str) -> None:
    assert Identifier.parse(f"HC:{number.lower()}") == Identifier.parse(f"HC:{number}")
    assert str(Identifier.parse(f"HC:{number}")) == f"HC:{number}"


@given(st.from_regex(r"[0-9]{7}", fullmatch=True))
def test_budget_codes_round_trip(number: str) -> None:
    assert str(Identifier.parse(f"MNS:{number}")) == f"MNS:{number}"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("001203012389", "prefix"),
        ("XYZ:123", "prefix"),
        ("CMND:1234567890", "format"),
        ("HC:C-123", "format"),
        ("MNS:123456", "format"),
    ],
)
def test_other_malformed_identifiers_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(IdentifierError) as caught:
        Identifier.parse(text)
    assert caught.value.rule == rule


def test_error_messages_do_not_repeat_the_digits_of_the_input() -> None:
    with pytest.raises(IdentifierError) as caught:
        Identifier.parse("001203012389")
    assert "001203012389" not in str(caught.value)


def test_masking_keeps_first_four_and_last_two_of_twelve_digits() -> None:
    assert Identifier.parse("CCCD:001203012389").masked() == "CCCD:0012******89"
    assert Identifier.parse("CMND:012345678").masked() == "CMND:01*****78"
    assert Identifier.parse("HC:C1234567").masked() == "HC:C*****67"
    assert Identifier.parse("MST:0100109106").masked() == "MST:0100109106"
    assert Identifier.parse("MST:0100109106").masked(always=True) == "MST:01******06"
    assert Identifier.parse("MST:0100109106-001").masked(always=True) == "MST:01******06-001"
    assert "001203012389" not in repr(Identifier.parse("CCCD:001203012389"))


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("001203012389", IdentifierKind.CCCD),
        ("012345678", IdentifierKind.CMND),
        ("0100109106", IdentifierKind.MST),
        ("0100109106-001", IdentifierKind.MST),
        ("1234567", IdentifierKind.MNS),
        ("C1234567", IdentifierKind.HC),
        ("MST:0100109106", IdentifierKind.MST),
    ],
)
def test_bare_values_are_guessed_with_the_most_likely_kind_first(text: str, first: IdentifierKind) -> None:
    guesses = guess_identifier(text, today=TODAY)
    assert guesses[0].kind is first
    assert guesses[0].identifier is not None


def test_an_impossible_citizen_number_is_still_reported_with_its_reason() -> None:
    guesses = {g.kind: g for g in guess_identifier("001999012389", today=TODAY)}
    assert guesses[IdentifierKind.CCCD].identifier is None
    assert guesses[IdentifierKind.CCCD].error is not None
    assert guesses[IdentifierKind.CCCD].error.rule == "birth-year"
    assert guesses[IdentifierKind.CMND].identifier is not None


def test_unrecognisable_values_are_refused() -> None:
    with pytest.raises(IdentifierError, match="looks like none"):
        guess_identifier("12-34")


def test_constructing_directly_validates_and_canonicalises() -> None:
    assert Identifier("MST", "0100109106001") == Identifier.parse("MST:0100109106-001")  # type: ignore[arg-type]
    with pytest.raises(IdentifierError):
        Identifier(IdentifierKind.CCCD, "12345")
