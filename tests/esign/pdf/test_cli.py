"""The ``esign pdf`` commands."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from esign.pdf.cli import app

runner = CliRunner()


def test_sign_then_verify_exits_zero_and_wrong_anchor_exits_one(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    src = tmp_path / "in.pdf"
    src.write_bytes(one_page_pdf)
    out = tmp_path / "out.pdf"
    result = runner.invoke(app, ["sign", str(src), "-o", str(out), "--key", str(dev_pki.p12_path("org-p256")),
                                 "--password", dev_pki.password, "--level", "B-T", "--tsa", dev_pki.tsa_url,
                                 "--visible", "1:40,40,300,120", "--reason", "Phê duyệt"])
    assert result.exit_code == 0, result.output
    ok = runner.invoke(app, ["verify", str(out), "--trust", str(dev_pki.root_pem_path), "--fetch"])
    assert ok.exit_code == 0, ok.output
    assert "TOTAL-PASSED" in ok.output
    bad = runner.invoke(app, ["verify", str(out), "--trust", str(dev_pki.directory / "tsa.pem"), "--json"])
    assert bad.exit_code == 3  # INDETERMINATE
    assert json.loads(bad.stdout)["signatures"][0]["indication"] == "INDETERMINATE"


def test_extend_and_bad_input_exit_codes(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    src = tmp_path / "in.pdf"
    src.write_bytes(one_page_pdf)
    signed = tmp_path / "signed.pdf"
    assert runner.invoke(app, ["sign", str(src), "-o", str(signed), "--key", str(dev_pki.p12_path("person-p256")),
                               "--password", dev_pki.password]).exit_code == 0
    lta = tmp_path / "lta.pdf"
    result = runner.invoke(app, ["extend", str(signed), "-o", str(lta), "--level", "B-LTA",
                                 "--tsa", dev_pki.tsa_url, "--trust", str(dev_pki.root_pem_path)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["verify", str(lta), "--trust", str(dev_pki.root_pem_path)]).exit_code == 0
    assert runner.invoke(app, ["verify", str(src), "--trust", str(dev_pki.root_pem_path), "--at", "2030-01-01"]
                         ).exit_code == 2
