"""The PDF and XML commands say the same thing the same way (issue 21, item 13): a missing file is one
line (``no such file: X``, never Python's ``[Errno 2]``), and an unsigned document is refused input
(exit 2) for both formats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from esign.pki import DevPKI

ESIGN = str(Path(sys.executable).parent / "esign")
SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ESIGN, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args",
    [
        ("pdf", "verify", "nope.pdf"),
        ("xml", "verify", "nope.xml"),
        ("pdf", "sign", "nope.pdf", "-o", "out.pdf"),
        ("xml", "sign", "nope.xml", "-o", "out.xml"),
    ],
    ids=["pdf verify", "xml verify", "pdf sign", "xml sign"],
)
def test_a_missing_file_is_one_plain_line_and_exit_2(args: tuple[str, ...], tmp_path: Path, dev_pki: DevPKI) -> None:
    if args[1] == "sign":
        args = (*args, "--key", str(dev_pki.p12_path("person-rsa2048")), "--password", "test-pki-password")
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "no such file: nope." in result.stderr and "Errno" not in result.stderr


@pytest.mark.parametrize("sample", ["cong-van.pdf", "hoa-don.xml"])
def test_an_unsigned_document_is_refused_alike_in_both_formats(sample: str, tmp_path: Path) -> None:
    fmt = sample.rsplit(".", 1)[1]
    result = run(fmt, "verify", str(SAMPLES / sample), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no {fmt.upper()} signature" in result.stderr
    assert "Traceback" not in result.stderr
