"""Hypothesis strategies for Vietnamese identifiers (shared by the identity tests)."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st
from stdnum.vn import mst as stdnum_mst

from esign.identity import CCCD_PROVINCES

TODAY = dt.date(2026, 6, 1)


@st.composite
def citizen_numbers(draw: st.DrawFn, today: dt.date = TODAY) -> str:
    """Well-formed 12-digit citizen numbers born no later than ``today``."""
    province = draw(st.sampled_from(sorted(CCCD_PROVINCES)))
    year = draw(st.integers(1900, today.year))
    female = draw(st.booleans())
    century_digit = 2 * ((year - 1900) // 100) + int(female)
    serial = draw(st.integers(0, 999_999))
    return f"{province}{century_digit}{year % 100:02d}{serial:06d}"


@st.composite
def tax_codes(draw: st.DrawFn) -> str:
    """Valid 10-digit or branch (NNNNNNNNNN-NNN) tax codes, check digit computed by python-stdnum."""
    province = draw(st.integers(0, 99))
    sequence = draw(st.integers(1, 9_999_998))
    head = f"{province:02d}{sequence:07d}"
    while len(stdnum_mst.calc_check_digit(head)) != 1:
        # A weighted sum divisible by 11 has no check digit: step to the previous sequence number.
        sequence = sequence - 1 if sequence > 1 else 2
        head = f"{province:02d}{sequence:07d}"
    number = head + stdnum_mst.calc_check_digit(head)
    if draw(st.booleans()):
        number += "-" + f"{draw(st.integers(1, 999)):03d}"
    return number
