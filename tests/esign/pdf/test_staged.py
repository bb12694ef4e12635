"""Staged signing: prepare() hands out a digest and a state; finish() completes the file."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from esign.errors import InvalidInput, SigningError
from esign.pdf import PreparedSignature, finish, prepare, verify_pdf
from esign.report import Indication


def test_prepare_then_finish_from_serialized_state(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-rsa2048")
    digest, state = prepare(
        one_page_pdf, signer.certificate, signer.chain, reason="Ký từ xa", visible=(1, (50, 50, 300, 120))
    )
    restored = PreparedSignature.from_json(state.to_json())
    assert restored == state
    assert len(digest) == 32 and digest == state.data_to_sign_digest
    signature = signer.sign_digest_sync(digest, restored.algorithm)
    signed = finish(restored, signature)
    [report] = verify_pdf(signed, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.indication is Indication.TOTAL_PASSED


def test_finish_refuses_a_signature_that_does_not_verify(dev_pki, one_page_pdf):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-rsa2048")
    other = dev_pki.signer("org-rsa2048")
    digest, state = prepare(one_page_pdf, signer.certificate, signer.chain)
    with pytest.raises(SigningError, match="does not verify"):
        finish(state, other.sign_digest_sync(digest))
    with pytest.raises(SigningError, match="does not verify"):
        finish(state, bytes(256))


def test_b_t_time_stamp_is_added_in_finish_and_document_kept_by_caller(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-p256")
    prepared = tmp_path / "prepared.pdf"
    digest, state = prepare(
        one_page_pdf, signer.certificate, signer.chain, level="B-T", tsa_url=dev_pki.tsa_url, output=prepared
    )
    assert state.document is None and len(state.to_bytes()) < 8000
    der = signer.sign_digest_sync(digest, state.algorithm)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # PKCS#11 / CSC style
    out = tmp_path / "signed.pdf"
    finish(PreparedSignature.from_bytes(state.to_bytes()), raw, document=prepared, output=out)
    [report] = verify_pdf(out, trust_anchors=dev_pki.root_pem_path, allow_fetching=True)
    assert report.passed and report.level == "B-T"


def test_finish_refuses_another_document(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    signer = dev_pki.signer("person-rsa2048")
    prepared = tmp_path / "prepared.pdf"
    digest, state = prepare(one_page_pdf, signer.certificate, signer.chain, output=prepared)
    with pytest.raises(InvalidInput, match="not the document"):
        finish(state, signer.sign_digest_sync(digest), document=one_page_pdf)


def test_damaged_state_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        PreparedSignature.from_json('{"version": 1, "field_name": "x"}')
    with pytest.raises(InvalidInput):
        PreparedSignature.from_json("[]")


def test_finish_accepts_a_raw_ecdsa_signature_whose_r_begins_with_0x30(dev_pki, one_page_pdf, tmp_path):  # type: ignore[no-untyped-def]
    # Regression: such a raw r || s (one in 256) was read as DER and refused as "does not verify".
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    signer = dev_pki.signer("person-p256")
    digest, state = prepare(one_page_pdf, signer.certificate, signer.chain, level="B-B")
    while True:
        r, s = decode_dss_signature(signer._key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if raw[0] == 0x30:
            break
    out = tmp_path / "signed.pdf"
    finish(state, raw, output=out)
    assert out.read_bytes().startswith(b"%PDF")
