"""The shipped seed list of level-1 codes and Vietnamese name folding."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esign.errors import InvalidInput
from esign.orgid import CodeStatus, Level1Kind, OrgIdentifier, fold_vietnamese, load_level1


def test_shipped_seed_list_is_valid_and_every_row_has_a_source() -> None:
    entries = load_level1()
    assert entries, "the seed list must not be empty"
    assert entries == sorted(entries, key=lambda e: e.code)
    for entry in entries:
        assert entry.code.level == 1
        assert entry.kind is entry.code.kind
        assert len(entry.source) > 20
    by_code = {str(e.code): e for e in entries}
    assert by_code["H49"].name == "UBND tỉnh Quảng Ninh"
    assert by_code["G12"].kind is Level1Kind.GOVERNMENT
    # Hậu Giang merged into Cần Thơ on 1 July 2025: closed, never reused.
    assert by_code["H30"].status is CodeStatus.CLOSED


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("H49.22,UBND,provincial-committee,active,somewhere", "level-2 code"),
        ("G49,UBND,provincial-committee,active,somewhere", "kind says"),
        ("H4,UBND,provincial-committee,active,somewhere", "level1-format"),
        ("H49,UBND,provincial-committee,gone,somewhere", "'gone' is not a valid CodeStatus"),
        ("H49,UBND,provincial-committee,active,", "must not be empty"),
    ],
)
def test_a_bad_seed_row_is_refused_with_its_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "level1.csv"
    path.write_text(
        f"code,name,kind,status,source\nG12,Bộ Tài chính,government,active,QCVN 102\n{row}\n", encoding="utf-8"
    )
    with pytest.raises(InvalidInput, match=message) as caught:
        load_level1(path)
    assert "line 3" in str(caught.value)


def test_a_duplicate_seed_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "level1.csv"
    path.write_text(
        "code,name,kind,status,source\nG12,A,government,active,x\nG12,B,government,active,y\n", encoding="utf-8"
    )
    with pytest.raises(InvalidInput, match="appears twice"):
        load_level1(path)
    assert OrgIdentifier.parse("G12") in {e.code for e in load_level1()}


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Quảng Ninh", "quang ninh"),
        ("ĐÀ NẴNG", "da nang"),
        ("Thừa Thiên Huế", "thua thien hue"),
        ("  Bộ   Tài chính ", "bo tai chinh"),
        ("đắk lắk", "dak lak"),
        ("Quang Ninh", "quang ninh"),
    ],
)
def test_vietnamese_names_fold_to_plain_lower_case(name: str, folded: str) -> None:
    assert fold_vietnamese(name) == folded


@given(st.text())
def test_folding_is_idempotent_and_ascii_for_vietnamese_letters(text: str) -> None:
    once = fold_vietnamese(text)
    assert fold_vietnamese(once) == once
    vietnamese = "ăâđêôơưáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ"
    assert all(ch not in once for ch in vietnamese + vietnamese.upper())
