"""docs/edxml.md's walk-through, run as written: a letter signed, packaged for three communes, answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.guide_script import REPO, run_guide_block

GUIDE = REPO / "docs" / "edxml.md"
PORT = 8761  # the guide's own (esign pki init --base-url)
pytestmark = pytest.mark.slow


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    returncode, text = run_guide_block(GUIDE, "sh", PORT, tmp_path)
    assert returncode == 0, text
    assert text.count("Kết quả: TOTAL-PASSED") == 1  # the commune's verification of the package
    assert "Result: TOTAL-PASSED" in text  # the department's verification of the 06 answer
    assert "Trạng thái: 06 (Hoàn thành)" in text
    assert (tmp_path / "xa-a" / "cong-van-ky.pdf").read_bytes() == (tmp_path / "cong-van-ky.pdf").read_bytes()
    assert sorted(p.name for p in tmp_path.glob("H49.3?-0?.edxml")) == [
        f"H49.3{x}-0{c}.edxml" for x in (1, 2, 3) for c in (1, 3, 6)
    ]
