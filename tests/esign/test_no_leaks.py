"""Signing leaves nothing for the garbage collector to complain about: no unclosed event loop (XML signing
keeps one per thread), no font file left open (visible PDF signatures, printed reports)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from esign.pki import DevPKI

ROOT = Path(__file__).resolve().parents[2]


def _warnings_of(code: str) -> str:
    """stderr of ``code`` run in Python's development mode (every ResourceWarning shown)."""
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout
    return result.stderr


def test_xml_signing_leaves_no_event_loop_unclosed(dev_pki: DevPKI) -> None:
    stderr = _warnings_of(f"""
        import threading
        from esign.signers import FileSigner
        from esign.xml import sign_xml
        signer = FileSigner.from_pkcs12({str(dev_pki.p12_path("person-rsa2048"))!r}, {dev_pki.password!r})
        sign_xml(b"<a>1</a>", signer)
        sign_xml(b"<a>2</a>", signer)
        worker = threading.Thread(target=sign_xml, args=(b"<a>3</a>", signer))
        worker.start()
        worker.join()
        import gc; gc.collect()
        print("done")
    """)
    assert "ResourceWarning" not in stderr, stderr


def test_visible_pdf_signature_and_printed_report_leave_no_font_file_open(dev_pki: DevPKI, tmp_path: Path) -> None:
    stderr = _warnings_of(f"""
        from pathlib import Path
        from esign.pdf import VisibleSignature, sign_pdf, verify_pdf
        from esign.report_pdf import write_report_pdf
        from esign.signers import FileSigner
        from tests.esign.pdf.samples import make_pdf
        signer = FileSigner.from_pkcs12({str(dev_pki.p12_path("person-rsa2048"))!r}, {dev_pki.password!r})
        signed = sign_pdf(make_pdf(), signer=signer, visible=VisibleSignature(1, (50, 50, 300, 130)))
        reports = verify_pdf(signed, trust_anchors={str(dev_pki.root_pem_path)!r})
        write_report_pdf(Path({str(tmp_path / "report.pdf")!r}), reports, document_name="a.pdf", document=signed)
        import gc; gc.collect()
        print("done")
    """)
    assert "ResourceWarning" not in stderr, stderr
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
