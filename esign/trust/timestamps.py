"""RFC 3161 time-stamp tokens: the CMS signature, the message imprint, and the TSA's certificate path.

:func:`check_timestamp_token` needs no network unless asked: pyHanko checks the token's CMS signature
(over its signed attributes, which bind the ``TSTInfo``), the imprint is compared with what the caller
expects, and the TSA certificate's path goes through :func:`esign.trust.validate_path` with
``usage="timestamping"`` — the same engine as every signer's certificate.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from asn1crypto import cms, core, tsp
from cryptography import x509

from esign.der_limits import check_der
from esign.errors import InvalidInput
from esign.report import Indication, TimestampInfo
from esign.thirdparty import quiet_imports
from esign.trust.path import CertInput, CrlInput, OcspInput, PathValidation, _to_crypto, validate_path
from esign.trust.store import load_certificate

Imprint = bytes | Callable[[str], bytes]
"""The expected message imprint: the digest itself, or a function of the token's digest name (``sha256``)."""


def imprint_of(message: bytes) -> Callable[[str], bytes]:
    """An :data:`Imprint` that hashes ``message`` with whatever digest the token names."""

    def digest(name: str) -> bytes:
        try:
            return hashlib.new(name.replace("_", "-") if name.startswith("sha3") else name, message).digest()
        except ValueError:
            raise InvalidInput(f"the time-stamp token uses an unsupported digest {name!r}") from None

    return digest


def check_timestamp_token(
    token: bytes,
    imprint: Imprint,
    *,
    anchors: Sequence[x509.Certificate] | None = None,
    at: datetime | None = None,
    intermediates: Iterable[CertInput] = (),
    crls: Iterable[CrlInput] = (),
    ocsps: Iterable[OcspInput] = (),
    revocation: str = "soft-fail",
    allow_fetching: bool = False,
    kind: str = "signature",
    revinfo_source: str = "embedded",
) -> TimestampInfo:
    """Check an RFC 3161 token (DER ``ContentInfo``) over ``imprint``.

    ``valid`` says the token is intact (CMS signature, imprint); ``trusted`` says the TSA certificate
    validates to one of ``anchors`` (None → the default store) at ``at`` (default: the token's own time,
    which is when the TSA used its key). ``message`` says what failed. The TSA's revocation is checked
    in ``soft-fail`` mode by default: TSAs' certificates are often short-lived and carry no status.

    :raises InvalidInput: when ``token`` is not a time-stamp token at all.
    """
    try:
        check_der(token)  # before asn1crypto sees it (esign.der_limits)
        content = cms.ContentInfo.load(token)
        signed = content["content"]
        if not isinstance(signed, cms.SignedData):
            raise ValueError("not a SignedData")
        tst = signed["encap_content_info"]["content"]
        tst_info = tst.parsed if isinstance(tst, core.ParsableOctetString) else None
        if not isinstance(tst_info, tsp.TSTInfo):
            raise ValueError("it does not encapsulate a TSTInfo")
        gen_time: datetime = tst_info["gen_time"].native
        digest_name: str = tst_info["message_imprint"]["hash_algorithm"]["algorithm"].native
        carried: bytes = tst_info["message_imprint"]["hashed_message"].native
        signer_info = signed["signer_infos"][0]
        # asn1crypto parses lazily: read everything now, so damage is refused here and not met later
        _ = (signer_info["signed_attrs"].native, signer_info["sid"].native, signer_info["signature"].native)
        embedded = [c.chosen.dump() for c in signed["certificates"] or []]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        # AttributeError: asn1crypto meets some damaged values (an ObjectDescriptor where a field's type
        # belongs) with "'ObjectDescriptor' object has no attribute 'native'" (found by test_hostile_input).
        raise InvalidInput(f"the time-stamp token is not valid DER CMS: {exc}") from None
    for der in embedded:
        load_certificate(der, "a certificate in the time-stamp token")

    # pyHanko's CMS code loads only when a token is checked: importing pyhanko.sign costs ~0.2 s (its
    # signers, aiohttp), which `esign xml verify` of a document without time-stamps should not pay.
    with quiet_imports():  # the first import of pyhanko.sign warns about DSA (esign.thirdparty)
        from pyhanko.sign.general import CMSExtractionError, extract_certificate_info
        from pyhanko.sign.validation.errors import SignatureValidationError
        from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    expected = imprint(digest_name) if callable(imprint) else imprint
    try:
        certs = extract_certificate_info(signed)
    except (CMSExtractionError, ValueError, KeyError) as exc:
        return TimestampInfo(
            kind,
            gen_time,
            "?",
            valid=False,
            trusted=False,
            message=f"the time-stamp token does not carry its TSA certificate ({exc})",
        )
    tsa_cert = _to_crypto(certs.signer_cert)
    tsa_name = _name(tsa_cert)
    if not hmac.compare_digest(carried, expected):
        return TimestampInfo(
            kind,
            gen_time,
            tsa_name,
            valid=False,
            trusted=False,
            message="the time-stamp's message imprint does not match the signed data",
        )
    try:
        signer_info_digest = signer_info["digest_algorithm"]["algorithm"].native
        encap = signed["encap_content_info"]["content"].contents
        actual = hashlib.new(signer_info_digest, encap).digest()
        intact, sig_ok = validate_sig_integrity(signer_info, certs.signer_cert, "tst_info", actual)
    except (SignatureValidationError, ValueError, KeyError, TypeError) as exc:
        return TimestampInfo(
            kind,
            gen_time,
            tsa_name,
            valid=False,
            trusted=False,
            message=f"the time-stamp token's signature cannot be checked: {exc}",
        )
    if not (intact and sig_ok):
        return TimestampInfo(
            kind,
            gen_time,
            tsa_name,
            valid=False,
            trusted=False,
            message="the time-stamp token's signature does not verify",
        )
    others = [_to_crypto(c) for c in certs.other_certs]
    result: PathValidation = validate_path(
        tsa_cert,
        at=at or gen_time,
        anchors=anchors,
        intermediates=[*others, *intermediates],
        crls=crls,
        ocsps=ocsps,
        revocation=revocation,
        allow_fetching=allow_fetching,
        usage="timestamping",
        revinfo_source=revinfo_source,
    )
    message = (
        ""
        if result.passed
        else f"TSA certificate: {result.indication.value}"
        + (f"/{result.sub_indication.value}" if result.sub_indication else "")
        + f": {result.message}"
    )
    return TimestampInfo(
        kind,
        gen_time,
        tsa_name,
        valid=True,
        trusted=result.indication is Indication.TOTAL_PASSED,
        message=message,
        tsa_path=result.subjects,
    )


def _name(cert: x509.Certificate) -> str:
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else cert.subject.rfc4514_string()
