"""Namespaces and algorithm identifiers of XMLDSig 1.0/1.1, XAdES and the Vietnamese e-invoice format."""

from __future__ import annotations

from datetime import timedelta, timezone

from esign.algorithms import DigestAlgorithm, SignatureScheme

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
"""The e-invoice's local time (UTC+7): SigningTime values without a zone are read in it."""

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
DS11_NS = "http://www.w3.org/2009/xmldsig11#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
XADES141_NS = "http://uri.etsi.org/01903/v1.4.1#"
XML_NS = "http://www.w3.org/XML/1998/namespace"

# Canonicalization: (exclusive, with_comments, c14n 1.1)
C14N_INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_INCLUSIVE_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
C14N_EXCLUSIVE = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_EXCLUSIVE_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N11 = "http://www.w3.org/2006/12/xml-c14n11"
C14N11_COMMENTS = "http://www.w3.org/2006/12/xml-c14n11#WithComments"
C14N_METHODS: dict[str, tuple[bool, bool, bool]] = {
    C14N_INCLUSIVE: (False, False, False),
    C14N_INCLUSIVE_COMMENTS: (False, True, False),
    C14N_EXCLUSIVE: (True, False, False),
    C14N_EXCLUSIVE_COMMENTS: (True, True, False),
    C14N11: (False, False, True),
    C14N11_COMMENTS: (False, True, True),
}
C14N_BY_NAME = {"inclusive": C14N_INCLUSIVE, "exclusive": C14N_EXCLUSIVE}

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
BASE64_TRANSFORM = "http://www.w3.org/2000/09/xmldsig#base64"

DIGEST_URIS: dict[str, DigestAlgorithm] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": DigestAlgorithm.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#md5": DigestAlgorithm.MD5,
    "http://www.w3.org/2001/04/xmlenc#sha256": DigestAlgorithm.SHA256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": DigestAlgorithm.SHA384,
    "http://www.w3.org/2001/04/xmlenc#sha512": DigestAlgorithm.SHA512,
}
DIGEST_URI_OF = {alg: uri for uri, alg in DIGEST_URIS.items()}

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_DS11_MORE = "http://www.w3.org/2007/05/xmldsig-more#"
SIGNATURE_URIS: dict[str, tuple[SignatureScheme, DigestAlgorithm]] = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA1),
    _MORE + "rsa-md5": (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.MD5),
    _MORE + "rsa-sha256": (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA256),
    _MORE + "rsa-sha384": (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA384),
    _MORE + "rsa-sha512": (SignatureScheme.RSA_PKCS1V15, DigestAlgorithm.SHA512),
    _MORE + "ecdsa-sha1": (SignatureScheme.ECDSA, DigestAlgorithm.SHA1),
    _MORE + "ecdsa-sha256": (SignatureScheme.ECDSA, DigestAlgorithm.SHA256),
    _MORE + "ecdsa-sha384": (SignatureScheme.ECDSA, DigestAlgorithm.SHA384),
    _MORE + "ecdsa-sha512": (SignatureScheme.ECDSA, DigestAlgorithm.SHA512),
    # RFC 6931 RSASSA-PSS without parameters: MGF1 with the same digest, salt = digest length.
    _DS11_MORE + "sha256-rsa-MGF1": (SignatureScheme.RSA_PSS, DigestAlgorithm.SHA256),
    _DS11_MORE + "sha384-rsa-MGF1": (SignatureScheme.RSA_PSS, DigestAlgorithm.SHA384),
    _DS11_MORE + "sha512-rsa-MGF1": (SignatureScheme.RSA_PSS, DigestAlgorithm.SHA512),
}
SIGNATURE_URI_OF = {value: uri for uri, value in SIGNATURE_URIS.items()}

XADES_SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
EINVOICE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

PROFILES = (
    "xmldsig-enveloped",
    "xmldsig-enveloping",
    "xmldsig-detached",
    "xades-b-b",
    "xades-b-t",
    "xades-b-lt",
    "einvoice",
)
