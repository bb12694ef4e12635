"""Network clients for validation data: an RFC 3161 time-stamping client and an OCSP fetch, on pyHanko's.

Used when signing (XAdES B-T asks a TSA; B-LT embeds the signer's OCSP answer). Verification fetches
through :func:`esign.trust.validate_path` with ``allow_fetching``; nothing here is called otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from asn1crypto import cms
from cryptography import x509

from esign.errors import SigningError
from esign.thirdparty import quiet_imports
from esign.trust.path import FETCH_TIMEOUT, run_sync, to_asn1

Timestamper = Callable[[bytes, str], Any]
"""Given a message imprint and its digest name, return a token (DER bytes or an asn1crypto ContentInfo)."""


def http_timestamper(url: str, *, timeout: float = 30.0) -> Timestamper:
    """A :data:`Timestamper` asking the RFC 3161 TSA at ``url`` (pyHanko's client: nonce checked, status read)."""
    with quiet_imports():  # the first import of pyhanko.sign warns about DSA (esign.thirdparty)
        from pyhanko.sign.timestamps.common_utils import TimestampRequestError
        from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    client = RequestsHTTPTimeStamper(url, timeout=timeout)

    def stamp(imprint: bytes, digest: str) -> bytes:
        try:
            token: cms.ContentInfo = run_sync(client.async_timestamp(imprint, digest))
        except TimestampRequestError as exc:
            raise SigningError(f"the time-stamping authority at {url} refused or answered wrongly: {exc}") from None
        except OSError as exc:
            raise SigningError(f"the time-stamping authority at {url} could not be reached: {exc}") from None
        return token.dump()

    return stamp


def token_bytes(token: Any) -> bytes:
    """DER bytes of a token returned by a :data:`Timestamper`."""
    if isinstance(token, bytes):
        return token
    if hasattr(token, "dump"):
        return bytes(token.dump())
    raise SigningError("the time-stamper returned neither DER bytes nor a ContentInfo")


def fetch_ocsp(cert: x509.Certificate, issuer: x509.Certificate, *, timeout: float = FETCH_TIMEOUT) -> bytes | None:
    """The OCSP answer (DER) of the responder named in ``cert``'s AIA; None when there is none or it fails."""
    with quiet_imports():
        from pyhanko_certvalidator.authority import AuthorityWithCert
        from pyhanko_certvalidator.errors import OCSPFetchError
        from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    fetchers = RequestsFetcherBackend(per_request_timeout=timeout).get_fetchers()
    try:
        response = run_sync(fetchers.ocsp_fetcher.fetch(to_asn1(cert), AuthorityWithCert(to_asn1(issuer))))
    except (OCSPFetchError, OSError, ValueError):
        return None
    return bytes(response.dump())


def fetch_validation_data(
    chain: list[x509.Certificate], *, timeout: float = FETCH_TIMEOUT
) -> tuple[list[bytes], list[bytes]]:
    """OCSP answers and CRLs (DER) for every certificate of ``chain`` but the last (the root), to embed (B-LT).

    ``chain`` runs from the signer's certificate up to the root. For each certificate the OCSP responder
    it names is asked first; failing that (or naming none), its CRL distribution points are fetched.
    """
    with quiet_imports():
        from pyhanko_certvalidator.authority import AuthorityWithCert
        from pyhanko_certvalidator.errors import CRLFetchError, OCSPFetchError
        from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

    fetchers = RequestsFetcherBackend(per_request_timeout=timeout).get_fetchers()
    ocsps: list[bytes] = []
    crls: list[bytes] = []
    for cert, issuer in itertools.pairwise(chain):
        subject = to_asn1(cert)
        if subject.ocsp_urls:
            try:
                answer = run_sync(fetchers.ocsp_fetcher.fetch(subject, AuthorityWithCert(to_asn1(issuer))))
                ocsps.append(bytes(answer.dump()))
                continue
            except (OCSPFetchError, OSError, ValueError):
                pass  # fall back on the CRL
        if subject.crl_distribution_points:
            try:
                fetched = run_sync(fetchers.crl_fetcher.fetch(subject))
                crls.extend(bytes(c.dump()) for c in fetched)
            except (CRLFetchError, OSError, ValueError):
                continue
    return ocsps, crls


__all__ = ["Timestamper", "fetch_ocsp", "fetch_validation_data", "http_timestamper", "token_bytes"]
