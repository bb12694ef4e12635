"""A command loads what its work needs, no more (issue 21, item 24).

`import esign.pdf` used to load pyHanko's signers (with aiohttp) and fontTools' subsetter for every
command, even `esign pdf verify` and an invisible signature. These tests run the commands' code in a
fresh interpreter and look at which modules it loaded: no clocks (process times are measured by
bench/cli_processes.py, figures in docs/benchmarks.md). With warnings shown (``-W default``), no run
may print pyHanko's DSA warning: loading pyHanko on use must not bring it back (esign.thirdparty).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from esign.pki import DevPKI

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "test-pki-password"
HEAVY = ("pyhanko.sign", "aiohttp", "fontTools.subset", "esign.pdf.signing", "esign.pdf.appearance")


def loaded_by(code: str, cwd: Path = REPO) -> set[str]:
    """The modules loaded after running ``code`` in a new interpreter (its last act prints them)."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert result.returncode == 0, result.stderr
    assert "DSA is deprecated" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def signed_pdf(dev_pki: DevPKI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from esign.pdf import sign_pdf
    from esign.signers import FileSigner
    from tests.esign.pdf.samples import make_pdf

    signer = FileSigner.from_pkcs12(dev_pki.p12_path("person-rsa2048"), PASSWORD)
    path = tmp_path_factory.mktemp("startup") / "signed.pdf"
    path.write_bytes(sign_pdf(make_pdf(), signer=signer))
    return path


def test_importing_the_packages_loads_no_pdf_or_xml_machinery() -> None:
    modules = loaded_by("import esign, esign.pdf, esign.xml, esign.trust")
    for name in (*HEAVY, "pyhanko_certvalidator", "esign.xml.verification", "esign.xml.signing"):
        assert name not in modules, name


def test_pdf_verify_loads_neither_the_signing_code_nor_the_font_subsetter(signed_pdf: Path, dev_pki: DevPKI) -> None:
    modules = loaded_by(f"""
        from esign.cli import main
        try:
            main(["pdf", "verify", {str(signed_pdf)!r}, "--trust-only", {str(dev_pki.root_pem_path)!r}])
        except SystemExit as exc:
            assert exc.code in (0, 1, 3), exc.code  # passed, failed, indeterminate: a verdict was given
    """)
    assert "esign.pdf.verify" in modules  # the command did run
    # (esign.pdf.decree30 may load, to name a signature's preset; esign.pdf.appearance with it: both light)
    for name in ("fontTools.subset", "fontTools", "esign.pdf.signing", "esign.pdf.staged"):
        assert name not in modules, name
    # pyHanko's own `pyhanko.sign` package imports its aiohttp time-stamp client: out of our hands.


def test_an_invisible_signature_loads_no_font_code_and_a_visible_one_does(dev_pki: DevPKI) -> None:
    sign = f"""
        import esign
        from esign.pdf import VisibleSignature
        from esign.signers import FileSigner
        from tests.esign.pdf.samples import make_pdf
        signer = FileSigner.from_pkcs12({str(dev_pki.p12_path("person-rsa2048"))!r}, {PASSWORD!r})
        esign.sign_pdf(make_pdf(), signer=signer, visible=VISIBLE)
    """
    invisible = loaded_by(sign.replace("VISIBLE", "None"))
    assert "esign.pdf.signing" in invisible
    assert "fontTools.subset" not in invisible and "fontTools" not in invisible
    visible = loaded_by(sign.replace("VISIBLE", "VisibleSignature(1, (50, 50, 300, 130))"))
    assert "fontTools.subset" in visible  # the check above can see the subsetter when it is loaded


def test_xml_sign_and_verify_load_only_their_own_side(dev_pki: DevPKI, tmp_path: Path) -> None:
    document = tmp_path / "doc.xml"
    document.write_text("<HDon><DLHDon><TTChung><PBan>2.1.0</PBan></TTChung></DLHDon></HDon>")
    signed = tmp_path / "signed.xml"
    # What `esign xml sign|verify` run (esign.cli hands them to fast_main, which ends the process).
    run = 'from esign.xml.commands import parse_args, {0}\ncode = {0}(**parse_args("{0}", {1!r}), echo=print)\n'
    sign_args = [str(document), "-o", str(signed), "--key", str(dev_pki.p12_path("person-rsa2048"))]
    sign_args += ["--password", PASSWORD]
    modules = loaded_by(run.format("sign", sign_args) + "\nassert code == 0\n")
    for name in ("esign.xml.verification", "pyhanko_certvalidator", "pyhanko", "typer", "rich", "aiohttp"):
        assert name not in modules, name
    modules = loaded_by(
        run.format("verify", [str(signed), "--trust-only", str(dev_pki.root_pem_path)]) + "\nassert code in (0, 1, 3)\n"
    )
    assert "esign.xml.verification" in modules
    for name in ("pyhanko.sign", "typer", "rich", "aiohttp", "fontTools"):
        assert name not in modules, name
