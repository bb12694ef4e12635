"""Our B-LT and B-LTA files in validators we did not write: stock pyHanko's AdES (LTV) validation with the
network cut off (``pyhanko sign adesverify``) and Poppler's pdfsig. The revocation data in the DSS must be
issued after the signature it vouches for (ETSI EN 319 102-1 5.2.5.4), which a backdating dev responder broke."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from conftest import pdfsig
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign.pdf import sign_pdf, verify_pdf
from samples import make_pdf

PYHANKO = str(Path(sys.executable).parent / "pyhanko")
OFFLINE = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}
"""Every fetch goes to a closed port: the validators can use only what the file carries."""


def adesverify(path: Path, root: Path) -> str:
    env = {**os.environ, **OFFLINE}
    result = subprocess.run(
        [PYHANKO, "sign", "adesverify", "--trust", str(root), "--trust-replace", "--executive-summary", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return result.stdout


@pytest.mark.skipif(not Path(PYHANKO).exists(), reason="pyhanko-cli is a dev dependency (pip install -e '.[dev]')")
@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_our_long_term_files_validate_offline_in_stock_pyhanko_and_pdfsig(dev_pki, nss_db, tmp_path, level):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{level}.pdf"
    sign_pdf(
        make_pdf(1, text="Long term"), path, dev_pki.signer("person-rsa2048"), level=level, tsa_url=dev_pki.tsa_url
    )
    summary = adesverify(path, dev_pki.root_pem_path)
    assert summary.strip().endswith(":VALID"), summary
    assert "Signature is Valid" in pdfsig(path, nss_db)
    reports = verify_pdf(path, trust_anchors=dev_pki.root_pem_path)
    assert all(r.passed for r in reports) and reports[0].level == level


def test_revocation_data_in_the_dss_postdates_the_signature(dev_pki, tmp_path):  # type: ignore[no-untyped-def]
    data = sign_pdf(make_pdf(1), None, dev_pki.signer("person-p256"), level="B-LT", tsa_url=dev_pki.tsa_url)
    assert data is not None
    [report] = verify_pdf(data, trust_anchors=dev_pki.root_pem_path)
    signed_at = next(t.time for t in report.timestamps if t.kind == "signature")
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(data)))
    crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss.crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
    assert crls and ocsps
    tolerance = timedelta(seconds=1)  # times in CRLs and OCSP answers are whole seconds
    for crl in crls:
        assert crl["tbs_cert_list"]["this_update"].native >= signed_at - tolerance
    for response in ocsps:
        basic = response["response_bytes"]["response"].parsed["tbs_response_data"]
        assert basic["produced_at"].native >= signed_at - tolerance
        for single in basic["responses"]:
            assert single["this_update"].native >= signed_at - tolerance


@pytest.mark.skipif(not Path(PYHANKO).exists(), reason="pyhanko-cli is a dev dependency (pip install -e '.[dev]')")
def test_updates_made_by_stock_pyhanko_after_our_signature_are_no_false_alarm(dev_pki, nss_db, tmp_path):  # type: ignore[no-untyped-def]
    """An empty signature field, validation data (ltvfix) and a document time-stamp added by pyHanko's CLI."""
    signed = tmp_path / "bt.pdf"
    sign_pdf(make_pdf(1, text="Interop"), signed, dev_pki.signer("person-p256"), level="B-T", tsa_url=dev_pki.tsa_url)
    field, stamped = tmp_path / "field.pdf", tmp_path / "stamped.pdf"
    trust = ["--trust", str(dev_pki.root_pem_path), "--trust-replace"]
    steps = [
        ["addfields", "--field", "1/100,100,250,150/Approver", str(signed), str(field)],
        ["ltvfix", "--field", "Signature1", *trust, str(field)],
        ["timestamp", "--timestamp-url", dev_pki.tsa_url, *trust, str(field), str(stamped)],
    ]
    for step in steps:
        done = subprocess.run([PYHANKO, "sign", *step], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    reports = verify_pdf(stamped, trust_anchors=dev_pki.root_pem_path)
    assert [r.passed for r in reports] == [True, True], [r.to_text() for r in reports]
    assert reports[0].level == "B-LTA"
    assert {c.kind for c in reports[0].changes} >= {"form_field_added", "dss", "timestamp"}
    assert not any(c.visible for c in reports[0].changes)  # an empty field draws nothing: no WARNING
    assert "Signature is Valid" in pdfsig(stamped, nss_db)
