"""``esign xml sign`` / ``esign xml verify``: exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from esign.pki import DevPKI
from esign.xml.cli import app
from tests.esign.xml.conftest import INVOICE

runner = CliRunner()


def test_sign_then_verify_exits_zero_and_json_says_total_passed(tmp_path: Path, dev_pki: DevPKI) -> None:
    source, signed = tmp_path / "invoice.xml", tmp_path / "signed.xml"
    source.write_bytes(INVOICE)
    key = ["--key", str(dev_pki.p12_path("org-rsa2048")), "--password", dev_pki.password]
    result = runner.invoke(app, ["sign", str(source), "-o", str(signed), *key, "--profile", "einvoice"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(dev_pki.root_pem_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["signatures"][0]["indication"] == "TOTAL-PASSED"


def test_verify_exits_one_when_a_signature_is_not_trusted(tmp_path: Path, dev_pki: DevPKI) -> None:
    source, signed = tmp_path / "invoice.xml", tmp_path / "signed.xml"
    source.write_bytes(INVOICE)
    runner.invoke(app, ["sign", str(source), "-o", str(signed), "--key", str(dev_pki.p12_path("person-p256")),
                        "--password", dev_pki.password, "-p", "einvoice"])
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(dev_pki.directory / "tsa.pem")])
    assert result.exit_code == 1
    assert "INDETERMINATE" in result.output


def test_verify_exits_two_on_hostile_input(tmp_path: Path, dev_pki: DevPKI) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_bytes(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    result = runner.invoke(app, ["verify", str(evil), "--trust", str(dev_pki.root_pem_path)])
    assert result.exit_code == 2
    assert "DOCTYPE" in result.output
