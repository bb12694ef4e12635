"""``esign xml sign`` / ``esign xml verify``: exit codes and output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from esign.pki import DevPKI
from esign.xml.cli import app
from esign.xml.commands import parse_args
from tests.esign.xml.conftest import INVOICE

runner = CliRunner()


def test_sign_then_verify_exits_zero_and_json_says_total_passed(tmp_path: Path, dev_pki: DevPKI) -> None:
    source, signed = tmp_path / "invoice.xml", tmp_path / "signed.xml"
    source.write_bytes(INVOICE)
    key = ["--key", str(dev_pki.p12_path("org-rsa2048")), "--password", dev_pki.password]
    result = runner.invoke(app, ["sign", str(source), "-o", str(signed), *key, "--profile", "einvoice"])
    assert result.exit_code == 0, result.output
    # --fetch: the dev PKI's OCSP responder answers; without revocation data the verdict is INDETERMINATE (3)
    result = runner.invoke(app, ["verify", str(signed), "--trust", str(dev_pki.root_pem_path), "--json", "--fetch"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["signatures"][0]["indication"] == "TOTAL-PASSED"


def test_verify_exits_three_when_a_signature_is_not_trusted(tmp_path: Path, dev_pki: DevPKI) -> None:
    source, signed = tmp_path / "invoice.xml", tmp_path / "signed.xml"
    source.write_bytes(INVOICE)
    runner.invoke(
        app,
        [
            "sign",
            str(source),
            "-o",
            str(signed),
            "--key",
            str(dev_pki.p12_path("person-p256")),
            "--password",
            dev_pki.password,
            "-p",
            "einvoice",
        ],
    )
    result = runner.invoke(app, ["verify", str(signed), "--trust-only", str(dev_pki.directory / "tsa.pem")])
    assert result.exit_code == 3
    assert "INDETERMINATE" in result.output


def test_verify_exits_two_on_hostile_input(tmp_path: Path, dev_pki: DevPKI) -> None:
    evil = tmp_path / "evil.xml"
    evil.write_bytes(b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    result = runner.invoke(app, ["verify", str(evil), "--trust", str(dev_pki.root_pem_path)])
    assert result.exit_code == 2
    assert "DOCTYPE" in result.output


# `esign xml sign|verify` start without typer, rich and pydantic (esign.xml.commands.fast_main).
WITHOUT_TYPER = (
    "import sys\n"
    "for name in ('typer', 'rich', 'pydantic'):\n"
    "    sys.modules[name] = None  # importing any of them now fails\n"
    "from esign.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _no_times(report: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d[T ][\d:.]+(\+00:00|Z)?", "<time>", report)


def _no_ids(signed: bytes) -> bytes:
    return re.sub(rb'Id="sig-[0-9a-f]+"', b'Id="sig"', signed)


def _esign_without_typer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_TYPER, *args], capture_output=True, text=True, timeout=120)


def test_verify_runs_without_typer_with_the_exit_codes_and_output_of_the_typer_command(
    tmp_path: Path, dev_pki: DevPKI
) -> None:
    source, signed = tmp_path / "invoice.xml", tmp_path / "signed.xml"
    source.write_bytes(INVOICE)
    key = ["--key", str(dev_pki.p12_path("org-rsa2048")), "--password", dev_pki.password]
    runner.invoke(app, ["sign", str(source), "-o", str(signed), *key, "-p", "einvoice"])
    root, other = str(dev_pki.root_pem_path), str(dev_pki.directory / "tsa.pem")
    for args, code in [
        (["--trust", root, str(signed), "--json", "--fetch"], 0),
        ([str(signed), f"--trust-only={other}"], 3),
        ([str(tmp_path / "missing.xml"), "--trust", root], 2),
    ]:
        fast = _esign_without_typer("xml", "verify", *args)
        assert fast.returncode == code, fast.stderr
        typed = runner.invoke(app, ["verify", *args])
        assert typed.exit_code == code
        if code != 2:  # the same report, but for the validation time
            assert _no_times(fast.stdout) == _no_times(typed.stdout)
    report = json.loads(_esign_without_typer("xml", "verify", str(signed), "--trust", root, "--json", "--fetch").stdout)
    assert report["indication"] == "TOTAL-PASSED"


def test_sign_runs_without_typer_and_writes_what_the_typer_command_writes(
    tmp_path: Path, dev_pki: DevPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "invoice.xml"
    source.write_bytes(INVOICE)
    p12 = str(dev_pki.p12_path("org-rsa2048"))
    monkeypatch.setenv("ESIGN_KEY_PASSWORD", dev_pki.password)  # typer's envvar, read by the fast path too
    fast = _esign_without_typer("xml", "sign", str(source), "-o", str(tmp_path / "fast.xml"), "--key", p12)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == f"signed (xmldsig-enveloped): {tmp_path / 'fast.xml'}\n"
    typed = runner.invoke(app, ["sign", str(source), "--output", str(tmp_path / "typed.xml"), "--key", p12])
    assert typed.exit_code == 0, typed.output
    fast_signed, typed_signed = ((tmp_path / f).read_bytes() for f in ("fast.xml", "typed.xml"))
    assert _no_ids(fast_signed) == _no_ids(typed_signed)  # the same but for the random Signature Id
    root = str(dev_pki.root_pem_path)
    assert _esign_without_typer("xml", "verify", str(tmp_path / "fast.xml"), "--trust", root, "--fetch").returncode == 0
    missing_key = _esign_without_typer("xml", "sign", str(source), "-o", str(tmp_path / "x.xml"))
    assert missing_key.returncode == 2
    assert "give --key FILE" in missing_key.stderr


def test_sign_and_verify_leave_help_and_mistakes_to_typer() -> None:
    assert parse_args("verify", ["--help"]) is None
    assert parse_args("verify", ["doc.xml"]) == {"source": Path("doc.xml")}  # the default trust store
    assert parse_args("verify", ["doc.xml", "--trust"]) is None
    assert parse_args("verify", ["a.xml", "b.xml", "--trust", "r.pem"]) is None
    assert parse_args("verify", ["doc.xml", "--trust", "r.pem", "--bogus"]) is None
    assert parse_args("verify", ["doc.xml", "--trust", "r.pem", "--json=yes"]) is None
    assert parse_args("verify", ["--", "doc.xml", "--trust", "r.pem"]) is None
    assert parse_args("sign", ["doc.xml", "--key", "k.p12"]) is None  # --output is required
    assert parse_args("sign", ["doc.xml", "-o", "out.xml", "--remote", "https://csc"]) is None  # typer's path
    assert parse_args("sign", ["doc.xml", "-oout.xml"]) is None
    assert parse_args("timestamp", ["doc.xml"]) is None
    sign_options = parse_args("sign", ["doc.xml", "-o", "a.xml", "--output=b.xml", "-p", "einvoice", "--key", "k"])
    assert sign_options is not None
    assert sign_options["output"] == Path("b.xml")  # the last one, as typer takes it
    assert (sign_options["profile"], sign_options["key"]) == ("einvoice", Path("k"))
    options = parse_args("verify", ["--trust", "a.pem", "doc.xml", "--trust=b.pem", "--reveal", "--detached", "u=f"])
    assert options == {
        "source": Path("doc.xml"),
        "trust": [Path("a.pem"), Path("b.pem")],
        "detached": ["u=f"],
        "reveal": True,
    }
    # A mistake goes on to typer, which explains it (exit 2), even with typer loaded only then.
    command = [sys.executable, "-m", "esign.cli", "xml", "verify", "doc.xml", "--bogus"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--bogus" in result.stderr


def test_the_fast_path_reads_the_options_the_typer_commands_declare() -> None:
    import typer.main

    from esign.xml import commands

    group: Any = typer.main.get_command(app)
    remote_only = {"--remote", "--credential", "--otp"}  # signing with a remote key goes through typer
    for name, table in [("verify", commands._VERIFY_OPTIONS), ("sign", commands._SIGN_OPTIONS)]:
        declared = {
            opt: (param.name, not param.is_flag, param.multiple)
            for param in group.commands[name].params
            if param.param_type_name == "option"
            for opt in param.opts
            if opt not in remote_only
        }
        assert declared == table


def test_remote_without_credential_is_a_usage_error_for_pdf_and_xml(tmp_path: Path) -> None:
    from esign.pdf.cli import app as pdf_app

    for cli, name in ((app, "in.xml"), (pdf_app, "in.pdf")):
        source = tmp_path / name
        source.write_bytes(INVOICE)
        result = runner.invoke(
            cli, ["sign", str(source), "-o", str(tmp_path / "out"), "--remote", "http://127.0.0.1:9"]
        )
        assert result.exit_code == 2, result.output
        assert "--remote needs --credential" in result.output
        assert not (tmp_path / "out").exists()


def test_verify_json_shows_what_was_signed_and_a_wrapped_invoice_exits_one(tmp_path: Path, dev_pki: DevPKI) -> None:
    from esign.xml import sign_xml

    signed = sign_xml(INVOICE, dev_pki.signer("org-rsa2048"), profile="einvoice")
    good, wrapped = tmp_path / "good.xml", tmp_path / "wrapped.xml"
    good.write_bytes(signed)
    forged = b'<DLHDon><NDHDon><TToan><TgTTTBSo>1</TgTTTBSo></TToan></NDHDon></DLHDon><DLHDon Id="data">'
    wrapped.write_bytes(signed.replace(b'<DLHDon Id="data">', forged, 1))
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch", "--json"]
    result = runner.invoke(app, ["verify", str(good), *trust])
    reference = json.loads(result.output)["signatures"][0]["references"][0]
    assert reference["covers"] == ["/HDon/DLHDon[@Id='data']"] and "16500000" in reference["signed_content"]
    result = runner.invoke(app, ["verify", str(wrapped), *trust])
    assert result.exit_code == 1, result.output
    assert json.loads(result.output)["signatures"][0]["sub_indication"] == "FORMAT_FAILURE"


def test_verify_profile_can_be_forced(tmp_path: Path, dev_pki: DevPKI) -> None:
    from esign.xml import sign_xml

    path = tmp_path / "doc.xml"
    path.write_bytes(sign_xml(b"<doc><a Id='x'>1</a></doc>", dev_pki.signer("org-rsa2048"), reference_id="x"))
    trust = ["--trust", str(dev_pki.root_pem_path), "--fetch"]
    assert runner.invoke(app, ["verify", str(path), *trust]).exit_code == 0
    assert runner.invoke(app, ["verify", str(path), *trust, "--profile", "einvoice"]).exit_code == 1
    assert runner.invoke(app, ["verify", str(path), *trust, "--profile", "nonsense"]).exit_code == 2
    options = parse_args("verify", [str(path), "--profile", "einvoice", "--intermediates", "ca.pem"])
    assert options is not None and options["profile"] == "einvoice" and options["intermediates"] == [Path("ca.pem")]
