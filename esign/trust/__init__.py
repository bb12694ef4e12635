"""The one trust engine: trust stores, certificate path validation, revocation and time-stamp checks.

PDF, XML, edXML and the server all call this package; no format keeps a path builder of its own.

* :func:`default_store` / :func:`resolve_anchors` — Vietnam's national and government root CAs out of the
  box (package data, pinned by SHA-256), plus an operator's additions and removals, plus a caller's.
* :func:`validate_path` — a certificate's path to an anchor at a given time, with caller-supplied
  intermediates, CRLs and OCSP responses (embedded, supplied, or fetched), on pyhanko-certvalidator;
  the answer is a :class:`PathValidation` in ETSI EN 319 102-1 terms.
* :func:`check_timestamp_token` — an RFC 3161 token: CMS signature, imprint, TSA path.
* :func:`validation_context` — the pyHanko ``ValidationContext`` factory the PDF code hands to pyHanko.
* :func:`policy_applied` — the Vietnamese validation policy ``VN-TT15-2025`` recorded in a report, rule by rule.

>>> from esign.trust import validate_path                                     # doctest: +SKIP
>>> result = validate_path(cert, intermediates=chain, crls=[crl_der])         # doctest: +SKIP
>>> result.indication, result.sub_indication                                  # doctest: +SKIP
(<Indication.TOTAL_PASSED: 'TOTAL-PASSED'>, None)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from esign.trust.fetch import Timestamper, fetch_ocsp, fetch_validation_data, http_timestamper, token_bytes
    from esign.trust.path import (
        FETCH_TIMEOUT,
        REVOCATION_MODES,
        PathValidation,
        async_validate_path,
        to_asn1,
        validate_path,
        validation_context,
    )
    from esign.trust.policy import POLICY_NAME, policy_applied
    from esign.trust.store import (
        Anchor,
        TrustSource,
        TrustStore,
        add_operator_anchor,
        bundled_store,
        default_store,
        fingerprint,
        load_certificate,
        load_certificates,
        operator_dir,
        remove_operator_anchor,
        resolve_anchors,
        resolve_store,
    )
    from esign.trust.timestamps import check_timestamp_token, imprint_of

# Each name is imported from its module on first use: the trust store alone loads in milliseconds,
# path validation pulls in pyhanko-certvalidator and time-stamp checks pyHanko's CMS code, and
# `esign xml verify` should pay only for what it uses.
_HOMES = {
    "esign.trust.path": (
        "FETCH_TIMEOUT",
        "REVOCATION_MODES",
        "PathValidation",
        "async_validate_path",
        "to_asn1",
        "validate_path",
        "validation_context",
    ),
    "esign.trust.store": (
        "Anchor",
        "TrustSource",
        "TrustStore",
        "add_operator_anchor",
        "bundled_store",
        "default_store",
        "fingerprint",
        "load_certificate",
        "load_certificates",
        "operator_dir",
        "remove_operator_anchor",
        "resolve_anchors",
        "resolve_store",
    ),
    "esign.trust.timestamps": ("check_timestamp_token", "imprint_of"),
    "esign.trust.policy": ("POLICY_NAME", "policy_applied"),
    "esign.trust.fetch": ("Timestamper", "fetch_ocsp", "fetch_validation_data", "http_timestamper", "token_bytes"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FETCH_TIMEOUT",
    "POLICY_NAME",
    "REVOCATION_MODES",
    "Anchor",
    "PathValidation",
    "Timestamper",
    "TrustSource",
    "TrustStore",
    "add_operator_anchor",
    "async_validate_path",
    "bundled_store",
    "check_timestamp_token",
    "default_store",
    "fetch_ocsp",
    "fetch_validation_data",
    "fingerprint",
    "http_timestamper",
    "imprint_of",
    "load_certificate",
    "load_certificates",
    "operator_dir",
    "policy_applied",
    "remove_operator_anchor",
    "resolve_anchors",
    "resolve_store",
    "to_asn1",
    "token_bytes",
    "validate_path",
    "validation_context",
]
