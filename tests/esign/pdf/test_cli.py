"""The ``esign pdf`` commands."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from esign.pdf import sign_pdf
from esign.pdf.cli import app

runner = CliRunner()


def test_sign_then_verify_exits_zero_and_wrong_anchor_exits_one(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    src = tmp_path / "in.pdf"
    src.write_bytes(one_page_pdf)
    out = tmp_path / "out.pdf"
    result = runner.invoke(
        app,
        [
            "sign",
            str(src),
            "-o",
            str(out),
            "--key",
            str(dev_pki.p12_path("org-p256")),
            "--password",
            dev_pki.password,
            "--level",
            "B-T",
            "--tsa",
            dev_pki.tsa_url,
            "--visible",
            "1:40,40,300,120",
            "--reason",
            "Phê duyệt",
        ],
    )
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
    assert (
        runner.invoke(
            app,
            [
                "sign",
                str(src),
                "-o",
                str(signed),
                "--key",
                str(dev_pki.p12_path("person-p256")),
                "--password",
                dev_pki.password,
            ],
        ).exit_code
        == 0
    )
    lta = tmp_path / "lta.pdf"
    result = runner.invoke(
        app,
        [
            "extend",
            str(signed),
            "-o",
            str(lta),
            "--level",
            "B-LTA",
            "--tsa",
            dev_pki.tsa_url,
            "--trust",
            str(dev_pki.root_pem_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["verify", str(lta), "--trust", str(dev_pki.root_pem_path)]).exit_code == 0
    assert (
        runner.invoke(app, ["verify", str(src), "--trust", str(dev_pki.root_pem_path), "--at", "2030-01-01"]).exit_code
        == 2
    )


def test_signed_revision_writes_what_was_signed_and_visual_names_the_page(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    signed = sign_pdf(one_page_pdf, None, dev_pki.signer("person-p256"))
    attacked = tmp_path / "attacked.pdf"
    attacked.write_bytes(signed + b"9 0 obj\n<< /Length 3 >>\nstream\nXYZ\nendstream\nendobj\nstartxref\n0\n")
    out = tmp_path / "as-signed.pdf"
    wrote = runner.invoke(app, ["verify", str(attacked), "--signed-revision", "1", "-o", str(out)])
    assert wrote.exit_code == 0, wrote.output
    assert out.read_bytes() == signed
    assert runner.invoke(app, ["verify", str(attacked), "--signed-revision", "2", "-o", str(out)]).exit_code == 2
    assert runner.invoke(app, ["verify", str(attacked), "--signed-revision", "1"]).exit_code == 2
    crl = tmp_path / "ca.crl"
    crl.write_bytes(dev_pki.crl())
    root_crl = dev_pki.directory / "root-crl.der"
    failed = runner.invoke(
        app,
        [
            "verify",
            str(attacked),
            "--trust",
            str(dev_pki.root_pem_path),
            "--crl",
            str(crl),
            "--crl",
            str(root_crl),
            "--visual",
            "--json",
        ],
    )
    assert failed.exit_code == 1, failed.output
    [report] = json.loads(failed.stdout)["signatures"]
    assert report["sub_indication"] == "FORMAT_FAILURE"
    ok = runner.invoke(
        app, ["verify", str(out), "--trust", str(dev_pki.root_pem_path), "--crl", str(crl), "--crl", str(root_crl)]
    )
    assert ok.exit_code == 0, ok.output
