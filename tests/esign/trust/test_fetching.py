"""Fetching with esign.trust.validate_path(allow_fetching=True): OCSP, CRLs and caIssuers, from the dev PKI."""

from __future__ import annotations

from esign.pki import DevPKI
from esign.report import RevocationStatus, SubIndication
from esign.trust import fetch_validation_data, validate_path


def test_a_missing_intermediate_is_fetched_from_the_caissuers_link(dev_pki: DevPKI) -> None:
    leaf = dev_pki.certificate("person-p256")
    anchors = [dev_pki.root_ca.certificate]  # type: ignore[union-attr]
    offline = validate_path(leaf, anchors=anchors, revocation="none")
    assert offline.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    fetched = validate_path(leaf, anchors=anchors, allow_fetching=True)
    assert fetched.passed, fetched.message
    assert len(fetched.path) == 3 and fetched.path[1].subject.rfc4514_string().startswith("CN=esign Dev Issuing CA")
    assert fetched.revocation is not None and fetched.revocation.status is RevocationStatus.GOOD
    assert fetched.revocation.source == "fetched"


def test_validation_data_for_embedding_covers_every_certificate_below_the_root(dev_pki: DevPKI) -> None:
    leaf = dev_pki.certificate("person-p256")
    chain = [leaf, dev_pki.issuing_ca.certificate, dev_pki.root_ca.certificate]  # type: ignore[union-attr]
    ocsps, crls = fetch_validation_data(chain)
    assert len(ocsps) == 1 and len(crls) >= 1  # the signer's OCSP answer, the root's CRL for the issuing CA
    offline = validate_path(leaf, anchors=chain[-1:], intermediates=chain[1:2], ocsps=ocsps, crls=crls)
    assert offline.passed, offline.message
    assert offline.revocation is not None and offline.revocation.kind == "ocsp"
