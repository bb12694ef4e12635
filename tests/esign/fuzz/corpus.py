"""Valid signed documents to mutate: the seeds of every fuzz run, made with the dev PKI.

Shared by the CI fuzz tests (``dev_pki`` fixture) and the long runs in ``bench/fuzz_*.py``
(their own dev PKI in a temporary directory). Time-stamped levels need the PKI's HTTP service
running at ``pki.base_url``; pass ``timestamped=False`` when it is not.
"""

from __future__ import annotations

from esign.pdf import sign_pdf
from esign.pki import DevPKI
from esign.xml import sign_xml
from tests.esign.pdf.samples import make_pdf
from tests.esign.xml.conftest import DOCUMENT, INVOICE


class Seeds(dict[str, bytes]):
    """Named seed documents; the repr names them only (hypothesis prints arguments on failure)."""

    def __repr__(self) -> str:
        return f"Seeds({', '.join(self)})"


def signed_pdfs(pki: DevPKI, *, timestamped: bool = True, long_term: bool = False) -> Seeds:
    """One-page PDFs signed at B-B with RSA and ECDSA keys, a certified one and (if asked) B-T, B-LT, B-LTA.

    The long-term levels (DSS, document time-stamp) take 3-6x longer to verify: long runs only.
    """
    pdf = make_pdf(1, text="Cong van so 1")
    rsa, ecdsa = pki.signer("person-rsa2048"), pki.signer("org-p256")
    samples = {
        "B-B rsa": sign_pdf(pdf, None, rsa),
        "B-B ecdsa": sign_pdf(pdf, None, ecdsa),
        "B-B certified": sign_pdf(pdf, None, rsa, certify=True, reason="Phê duyệt"),
    }
    if timestamped:
        samples["B-T rsa"] = sign_pdf(pdf, None, rsa, level="B-T", tsa_url=pki.tsa_url)
    if timestamped and long_term:
        samples["B-LT rsa"] = sign_pdf(pdf, None, rsa, level="B-LT", tsa_url=pki.tsa_url)
        samples["B-LTA ecdsa"] = sign_pdf(pdf, None, ecdsa, level="B-LTA", tsa_url=pki.tsa_url)
    return Seeds({name: data for name, data in samples.items() if data is not None})


def signed_xmls(pki: DevPKI, *, timestamped: bool = True, long_term: bool = False) -> Seeds:
    """XMLDSig enveloped and enveloping, XAdES B-B, an e-invoice and (if asked) XAdES B-T and B-LT."""
    rsa, ecdsa = pki.signer("person-rsa2048"), pki.signer("org-p256")
    samples = {
        "enveloped rsa": sign_xml(DOCUMENT, rsa),
        "enveloped by id ecdsa": sign_xml(DOCUMENT, ecdsa, reference_id="item-1", c14n="inclusive"),
        "enveloping": sign_xml(DOCUMENT, rsa, profile="xmldsig-enveloping"),
        "xades-b-b": sign_xml(DOCUMENT, ecdsa, profile="xades-b-b"),
        "einvoice": sign_xml(INVOICE, rsa, profile="einvoice"),
    }
    if timestamped:
        samples["xades-b-t"] = sign_xml(DOCUMENT, rsa, profile="xades-b-t", tsa_url=pki.tsa_url)
    if timestamped and long_term:
        samples["xades-b-lt"] = sign_xml(DOCUMENT, ecdsa, profile="xades-b-lt", tsa_url=pki.tsa_url)
        samples["einvoice buyer"] = sign_xml(samples["einvoice"], ecdsa, profile="einvoice", signature_parent="NMua")
    return Seeds(samples)
