"""``esign edxml``: a department's letter packaged for three communes, verified, answered, unpacked."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from esign.edxml.cli import app
from esign.pki import DevPKI

runner = CliRunner()
REGISTRY = (
    "code,name,address,status,closed_reason,successor,details\n"
    "H49.22,Sở Tư pháp tỉnh Quảng Ninh,,active,,,\n"
    "H49.01,UBND xã A,,active,,,\nH49.02,UBND xã B,,active,,,\nH49.03,UBND xã C,,active,,,\n"
)


def _setup(tmp_path: Path, signed_letter: bytes) -> tuple[Path, Path]:
    letter = tmp_path / "cong-van.pdf"
    letter.write_bytes(signed_letter)
    registry = tmp_path / "orgs.csv"
    registry.write_text(REGISTRY, encoding="utf-8")
    return letter, registry


def _build(tmp_path: Path, dev_pki: DevPKI, signed_letter: bytes) -> tuple[Path, Path]:
    letter, registry = _setup(tmp_path, signed_letter)
    package = tmp_path / "pkg.edxml"
    result = runner.invoke(app, [
        "build", str(letter), "-o", str(package), "--from", "H49.22", "--to", "H49.01", "--to", "H49.02",
        "--to", "000.00.03.H49", "--code", "125", "--notation", "STP-HCTP", "--subject", "Về việc chữ ký số",
        "--date", "2026-11-20", "--registry", str(registry),
        "--key", str(dev_pki.p12_path("org-rsa2048")), "--password", dev_pki.password, "--lang", "en",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return package, registry


def test_build_show_validate_verify(tmp_path: Path, dev_pki: DevPKI, signed_letter: bytes) -> None:
    package, registry = _build(tmp_path, dev_pki, signed_letter)
    shown = runner.invoke(app, ["show", str(package), "--lang", "vi"])
    assert shown.exit_code == 0, shown.output
    assert "Nơi gửi: H49.22 Sở Tư pháp tỉnh Quảng Ninh" in shown.output
    assert "Nơi nhận: H49.01 UBND xã A" in shown.output and "Chữ ký gói tin: XMLDSig" in shown.output
    assert json.loads(runner.invoke(app, ["show", str(package), "--json"]).output)["header"]["subject"] == (
        "Về việc chữ ký số"
    )
    assert runner.invoke(app, ["validate", str(package)]).exit_code == 0
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch"]
    verified = runner.invoke(app, ["verify", str(package), *trust, "--registry", str(registry), "--lang", "vi"])
    assert verified.exit_code == 0, verified.output
    assert "Kết quả: TOTAL-PASSED" in verified.output
    as_json = runner.invoke(app, ["verify", str(package), *trust, "--registry", str(registry), "--json"])
    assert json.loads(as_json.output)["attachments"][0]["indication"] == "TOTAL-PASSED"
    no_registry = runner.invoke(app, ["verify", str(package), *trust, "--lang", "en"])
    assert no_registry.exit_code == 3 and "no registry was given" in no_registry.output
    package.write_bytes(package.read_bytes().replace(b">STP-HCTP<", b">STP-HCTQ<"))
    assert runner.invoke(app, ["verify", str(package), *trust, "--registry", str(registry)]).exit_code == 1


def test_validate_lists_problems_and_exits_one(tmp_path: Path, dev_pki: DevPKI, signed_letter: bytes) -> None:
    package, _ = _build(tmp_path, dev_pki, signed_letter)
    broken = package.read_bytes().replace(b">2026/11/20<", b">20/11/2026<").replace(b">000.00.03.H49<", b">H49.01<")
    package.write_bytes(broken)
    result = runner.invoke(app, ["validate", str(package), "--lang", "vi"])
    assert result.exit_code == 1
    assert "2 lỗi:" in result.output
    assert "MessageHeader/PromulgationInfo/PromulgationDate" in result.output
    assert "MessageHeader/To[3]/OrganId: H49.01 is already a receiver (To[1])" in result.output


def test_status_answer_and_extract(tmp_path: Path, dev_pki: DevPKI, signed_letter: bytes) -> None:
    package, registry = _build(tmp_path, dev_pki, signed_letter)
    answer = tmp_path / "status.edxml"
    result = runner.invoke(app, [
        "status", str(package), "-o", str(answer), "--from", "H49.01", "--code", "03", "--staff", "Văn thư",
        "--registry", str(registry), "--key", str(dev_pki.p12_path("org-p256")), "--password", dev_pki.password,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = runner.invoke(app, ["show", str(answer), "--lang", "en"])
    assert "Status: 03 (accepted and registered)" in shown.output
    assert "About document: H49.22 125/STP-HCTP" in shown.output
    verified = runner.invoke(app, ["verify", str(answer), "--trust", str(dev_pki.root_pem_path), "--fetch",
                                   "--registry", str(registry)])  # fmt: skip
    assert verified.exit_code == 0, verified.output
    bad = runner.invoke(app, ["status", str(package), "-o", str(answer), "--from", "H49.01", "--code", "99"])
    assert bad.exit_code == 2 and "not a status code" in bad.output
    out = tmp_path / "out"
    extracted = runner.invoke(app, ["extract", str(package), "-d", str(out)])
    assert extracted.exit_code == 0, extracted.output
    assert (out / "cong-van.pdf").read_bytes() == signed_letter


def test_refused_input_exits_two(tmp_path: Path) -> None:
    junk = tmp_path / "junk.edxml"
    junk.write_bytes(b"<!DOCTYPE x [<!ENTITY e 'e'>]><x>&e;</x>")
    for command in (["show"], ["validate"], ["extract", "-d", str(tmp_path / "o")]):
        result = runner.invoke(app, [command[0], str(junk), *command[1:]])
        assert result.exit_code == 2 and "error:" in result.output
    assert runner.invoke(app, ["show", str(tmp_path / "missing.edxml")]).exit_code == 2
