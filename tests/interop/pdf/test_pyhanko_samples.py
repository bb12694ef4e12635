"""Our verifier on PDFs signed by stock pyHanko (see make_samples.py), with known verdicts.

pdfsig agrees: ``pyhanko-pades-bb.pdf`` "Signature is Valid", the tampered copy "Digest Mismatch".
"""

from __future__ import annotations

from pathlib import Path

from esign.pdf import verify_pdf
from esign.report import Indication, SubIndication

DATA = Path(__file__).parent / "data"
ANCHOR = DATA / "pyhanko-signer.pem"


def test_pyhanko_signed_pdf_passes_with_its_signer_trusted() -> None:
    [report] = verify_pdf(DATA / "pyhanko-pades-bb.pdf", trust_anchors=ANCHOR)
    assert report.indication is Indication.TOTAL_PASSED
    assert report.level == "B-B"
    assert report.signer is not None and report.signer.common_name == "pyHanko CLI interop signer"


def test_tampered_pyhanko_pdf_is_hash_failure() -> None:
    [report] = verify_pdf(DATA / "pyhanko-pades-bb-tampered.pdf", trust_anchors=ANCHOR)
    assert report.indication is Indication.TOTAL_FAILED
    assert report.sub_indication is SubIndication.HASH_FAILURE


def test_pyhanko_signed_pdf_is_indeterminate_under_another_anchor(dev_pki) -> None:  # type: ignore[no-untyped-def]
    [report] = verify_pdf(DATA / "pyhanko-pades-bb.pdf", trust_anchors=dev_pki.root_pem_path)
    assert report.indication is Indication.INDETERMINATE
