"""Namespaces and algorithm identifiers of XMLDSig 1.0/1.1, XAdES and the Vietnamese e-invoice format."""

from __future__ import annotations

from datetime import timedelta, timezone

from esign.algorithms import DigestAlgorithm, SignatureScheme
from esign.trust.policy import LEGACY_UNTIL as _POLICY_LEGACY_UNTIL

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

# -- what verification reads (wider than what signing writes) -----------------------------------
BASE64_TRANSFORM_URI = BASE64_TRANSFORM
XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
_RFC9231 = "http://www.w3.org/2021/04/xmldsig-more#"

VERIFY_DIGESTS: dict[str, str] = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#md5": "md5",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    _DS11_MORE + "sha3-224": "sha3_224",
    _DS11_MORE + "sha3-256": "sha3_256",
    _DS11_MORE + "sha3-384": "sha3_384",
    _DS11_MORE + "sha3-512": "sha3_512",
}
"""Digest method URI -> :mod:`hashlib` name (RFC 6931)."""

VERIFY_SIGNATURES: dict[str, tuple[str, str]] = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("rsa", "sha1"),
    _MORE + "rsa-md5": ("rsa", "md5"),
    _MORE + "rsa-sha224": ("rsa", "sha224"),
    _MORE + "rsa-sha256": ("rsa", "sha256"),
    _MORE + "rsa-sha384": ("rsa", "sha384"),
    _MORE + "rsa-sha512": ("rsa", "sha512"),
    _DS11_MORE + "sha3-224-rsa-MGF1": ("rsa-pss", "sha3_224"),
    _DS11_MORE + "sha3-256-rsa-MGF1": ("rsa-pss", "sha3_256"),
    _DS11_MORE + "sha3-384-rsa-MGF1": ("rsa-pss", "sha3_384"),
    _DS11_MORE + "sha3-512-rsa-MGF1": ("rsa-pss", "sha3_512"),
    _DS11_MORE + "sha224-rsa-MGF1": ("rsa-pss", "sha224"),
    _DS11_MORE + "sha256-rsa-MGF1": ("rsa-pss", "sha256"),
    _DS11_MORE + "sha384-rsa-MGF1": ("rsa-pss", "sha384"),
    _DS11_MORE + "sha512-rsa-MGF1": ("rsa-pss", "sha512"),
    _MORE + "ecdsa-sha1": ("ecdsa", "sha1"),
    _MORE + "ecdsa-sha224": ("ecdsa", "sha224"),
    _MORE + "ecdsa-sha256": ("ecdsa", "sha256"),
    _MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    _MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
    _RFC9231 + "ecdsa-sha3-224": ("ecdsa", "sha3_224"),
    _RFC9231 + "ecdsa-sha3-256": ("ecdsa", "sha3_256"),
    _RFC9231 + "ecdsa-sha3-384": ("ecdsa", "sha3_384"),
    _RFC9231 + "ecdsa-sha3-512": ("ecdsa", "sha3_512"),
    _RFC9231 + "eddsa-ed25519": ("ed25519", ""),
    _RFC9231 + "eddsa-ed448": ("ed448", ""),
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1": ("dsa", "sha1"),
    "http://www.w3.org/2009/xmldsig11#dsa-sha256": ("dsa", "sha256"),
}
"""Signature method URI -> (scheme, :mod:`hashlib` digest name) (XMLDSig 1.1, RFC 6931, RFC 9231).
RSA-PSS without parameters: MGF1 with the same digest, salt as long as the digest."""

WEAK_DIGESTS = ("sha1", "md5")
LEGACY_UNTIL = _POLICY_LEGACY_UNTIL
"""The legacy-algorithm dates of the validation policy (:data:`esign.trust.policy.LEGACY_UNTIL`): one table for
every format."""
