"""OrgIdentifier: both written forms, the rules with where they break, hierarchy and ordering."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from esign.errors import InvalidInput
from esign.orgid import (
    MAX_LENGTH,
    Level1Kind,
    OrgIdentifier,
    OrgIdError,
    OrgIdForm,
    OrgIdRule,
    detect_form,
    is_valid,
)

DIGITS = "0123456789"
ALNUM = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

level1 = st.builds(lambda letter, n: f"{letter}{n:02d}", st.sampled_from("GHK"), st.integers(0, 99))
lower_group = st.text(alphabet=ALNUM, min_size=1, max_size=6)


@st.composite
def decision_codes(draw: st.DrawFn) -> str:
    groups = [draw(level1), *draw(st.lists(lower_group, max_size=8))]
    text = ".".join(groups)
    assume(len(text) <= MAX_LENGTH)
    return text


def _digits(width: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=DIGITS, min_size=width, max_size=width).filter(lambda g: set(g) != {"0"})


@st.composite
def qcvn_codes(draw: st.DrawFn) -> str:
    """QCVN strings with lower levels filled from level 2 down, zeros below."""
    depth = draw(st.integers(0, 3))
    widths = (2, 2, 3)
    lower = [draw(_digits(w)) if i < depth else "0" * w for i, w in enumerate(widths)]
    return ".".join([lower[2], lower[1], lower[0], draw(level1)])


@given(decision_codes())
def test_decision_form_round_trips(text: str) -> None:
    code = OrgIdentifier.parse(text)
    assert str(code) == text
    assert code.format(OrgIdForm.DECISION) == text
    assert OrgIdentifier.parse(str(code)) == code
    assert code.level == text.count(".") + 1
    assert detect_form(text) is OrgIdForm.DECISION


@given(qcvn_codes())
def test_qcvn_form_round_trips_through_the_decision_form(text: str) -> None:
    code = OrgIdentifier.parse(text)
    assert code.to_qcvn() == text
    assert code.format(OrgIdForm.QCVN) == text
    assert OrgIdentifier.parse(str(code)) == code
    assert detect_form(text) is OrgIdForm.QCVN


@given(decision_codes())
def test_conversion_is_defined_exactly_when_every_group_fits_the_qcvn_widths(text: str) -> None:
    code = OrgIdentifier.parse(text)
    lower = code.groups[1:]
    fits = len(lower) <= 3 and all(
        g.isdigit() and len(g) == w and set(g) != {"0"} for g, w in zip(lower, (2, 2, 3), strict=False)
    )
    assert code.qcvn_convertible is fits
    if fits:
        assert OrgIdentifier.parse(code.to_qcvn()) == code
    else:
        with pytest.raises(OrgIdError) as caught:
            code.to_qcvn()
        assert caught.value.rule is OrgIdRule.NOT_CONVERTIBLE


@given(decision_codes())
def test_parent_is_one_level_up_and_orders_before(text: str) -> None:
    code = OrgIdentifier.parse(text)
    if code.level == 1:
        assert code.parent is None
        assert code.ancestors == ()
        return
    parent = code.parent
    assert parent is not None
    assert parent.level == code.level - 1
    assert code.is_child_of(parent)
    assert code.is_descendant_of(parent)
    assert all(code.is_descendant_of(a) for a in code.ancestors)
    assert not parent.is_descendant_of(code)
    assert not code.is_descendant_of(code)
    assert parent < code
    assert parent.child(code.groups[-1]) == code


@given(st.lists(decision_codes(), min_size=2, max_size=10))
def test_sorted_codes_put_every_ancestor_before_its_descendants(texts: list[str]) -> None:
    codes = sorted(OrgIdentifier.parse(t) for t in texts)
    for i, a in enumerate(codes):
        for b in codes[:i]:
            assert not b.is_descendant_of(a)


@given(decision_codes(), st.data())
def test_a_forbidden_character_is_reported_at_its_position(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(text)))
    bad = data.draw(st.sampled_from("abz-_/Đ#,"))
    broken = text[:position] + bad + text[position:]
    with pytest.raises(OrgIdError) as caught:
        OrgIdentifier.parse(broken, OrgIdForm.DECISION)
    assert caught.value.rule is OrgIdRule.CHARSET
    assert caught.value.position == position


def test_examples_from_the_decision_parse() -> None:
    assert OrgIdentifier.parse("G09.20").groups == ("G09", "20")
    assert OrgIdentifier.parse("H49.22").to_qcvn() == "000.00.22.H49"
    assert OrgIdentifier.parse("H55.242").level == 2
    assert OrgIdentifier.parse("000.00.00.H49") == OrgIdentifier.parse("H49")
    assert str(OrgIdentifier.parse("000.00.18.G12")) == "G12.18"
    assert OrgIdentifier.parse("K57").kind is Level1Kind.PROVINCIAL_COUNCIL
    assert OrgIdentifier.parse("G22").kind is Level1Kind.GOVERNMENT
    assert OrgIdentifier.parse("  H49.22 ") == OrgIdentifier.from_groups("H49", "22")


@pytest.mark.parametrize(
    ("text", "rule", "position"),
    [
        ("", OrgIdRule.EMPTY, None),
        ("h49.22", OrgIdRule.CHARSET, 0),
        ("H49.2-2", OrgIdRule.CHARSET, 5),
        ("H49." + "1" * 32, OrgIdRule.LENGTH, 35),
        ("H49..22", OrgIdRule.EMPTY_GROUP, 4),
        ("H49.22.", OrgIdRule.EMPTY_GROUP, 6),
        (".H49", OrgIdRule.EMPTY_GROUP, 0),
        ("H4", OrgIdRule.LEVEL1_FORMAT, 0),
        ("HH9.22", OrgIdRule.LEVEL1_FORMAT, 0),
        ("49H.22", OrgIdRule.LEVEL1_FORMAT, 0),
        ("X49.22", OrgIdRule.LEVEL1_LETTER, 0),
        ("000.00.H49", OrgIdRule.QCVN_GROUPS, None),
        ("00.00.00.H49", OrgIdRule.QCVN_WIDTH, 0),
        ("000.00.000.H49", OrgIdRule.QCVN_WIDTH, 7),
        ("000.0A.00.H49", OrgIdRule.QCVN_DIGITS, 5),
        ("000.01.00.H49", OrgIdRule.QCVN_GAP, 4),
        ("001.00.22.H49", OrgIdRule.QCVN_GAP, 0),
        ("000.00.22.X49", OrgIdRule.LEVEL1_LETTER, 10),
        ("000.00.22.H4A", OrgIdRule.LEVEL1_FORMAT, 10),
    ],
)
def test_each_broken_rule_is_named_with_its_position(text: str, rule: OrgIdRule, position: int | None) -> None:
    with pytest.raises(OrgIdError) as caught:
        OrgIdentifier.parse(text)
    error = caught.value
    assert error.rule is rule
    assert error.position == position
    assert f"[rule {rule}]" in str(error)
    assert isinstance(error, InvalidInput)
    assert not is_valid(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("H55.242", "not 2 digits wide"),
        ("G09.5", "not 2 digits wide"),
        ("H49.AB", "not all digits"),
        ("H49.00", "all zeros"),
        ("H49.22.33.444.55", "deeper than the 4 levels"),
    ],
)
def test_codes_without_a_qcvn_form_say_which_group_does_not_fit(text: str, reason: str) -> None:
    code = OrgIdentifier.parse(text)
    with pytest.raises(OrgIdError, match=reason) as caught:
        code.to_qcvn()
    assert caught.value.rule is OrgIdRule.NOT_CONVERTIBLE


def test_building_an_invalid_code_directly_is_refused() -> None:
    with pytest.raises(OrgIdError):
        OrgIdentifier(("H49", ""))
    with pytest.raises(OrgIdError):
        OrgIdentifier.from_groups("Z01")


def test_siblings_order_naturally_and_codes_hash_by_value() -> None:
    codes = [OrgIdentifier.parse(t) for t in ["H49.242", "H49.22", "H49.9", "G12.18", "H49", "G12"]]
    assert [str(c) for c in sorted(codes)] == ["G12", "G12.18", "H49", "H49.9", "H49.22", "H49.242"]
    assert len({OrgIdentifier.parse("H49.22"), OrgIdentifier.parse("000.00.22.H49")}) == 1
    assert not OrgIdentifier.parse("H49.22").is_descendant_of(OrgIdentifier.parse("H49.2"))
    assert OrgIdentifier.parse("H49.22.01").is_descendant_of(OrgIdentifier.parse("H49"))
    assert not OrgIdentifier.parse("H49.22.01").is_child_of(OrgIdentifier.parse("H49"))


def test_groups_given_as_a_list_become_a_hashable_tuple() -> None:
    code = OrgIdentifier(["H49", "22"])  # type: ignore[arg-type]
    assert code.groups == ("H49", "22")
    assert hash(code) == hash(OrgIdentifier.parse("H49.22"))
