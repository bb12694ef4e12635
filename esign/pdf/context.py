"""Trust anchors, validation contexts and the boundary where pyHanko's exceptions become ours.

Everything pyHanko, asn1crypto or certvalidator can raise on hostile input is caught here and turned
into :class:`~esign.errors.InvalidInput` (a document we cannot read) or the given error class, so no
caller ever sees a raw traceback from a parser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import IO

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.pdf_utils.misc import PdfError, PdfReadError
from pyhanko_certvalidator import ValidationContext

from esign.errors import EsignError, InvalidInput
from esign.signers.file import load_certificates

TrustSource = str | Path | bytes | x509.Certificate
"""A trust anchor: a PEM/DER file (a PEM file may hold several), its bytes, or a certificate."""

FETCH_TIMEOUT = 10
"""Seconds to wait for an OCSP responder, a CRL distribution point or a TSA."""


class Level(str, Enum):
    """PAdES baseline levels (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @classmethod
    def parse(cls, value: str | Level) -> Level:
        """Accept ``B-LT``, ``b-lt``, ``PAdES-B-LT`` or ``LT``."""
        if isinstance(value, Level):
            return value
        text = value.strip().upper().removeprefix("PADES-").removeprefix("PADES_")
        if not text.startswith("B-"):
            text = "B-" + text
        try:
            return cls(text)
        except ValueError:
            raise InvalidInput(f"unknown PAdES level {value!r}; use B-B, B-T, B-LT or B-LTA") from None

    @property
    def rank(self) -> int:
        """0 for B-B up to 3 for B-LTA."""
        return list(Level).index(self)


def load_trust_anchors(trust: Iterable[TrustSource] | TrustSource | None) -> list[x509.Certificate]:
    """Read trust anchors from paths, bytes or certificates (a PEM bundle yields several)."""
    if trust is None:
        return []
    if isinstance(trust, str | Path | bytes | x509.Certificate):
        trust = [trust]
    anchors: list[x509.Certificate] = []
    for item in trust:
        if isinstance(item, x509.Certificate):
            anchors.append(item)
        else:
            anchors.extend(load_certificates(item))
    return anchors


def validation_context(
    trust_roots: Iterable[x509.Certificate],
    *,
    other_certs: Iterable[x509.Certificate | asn1_x509.Certificate] = (),
    moment: datetime | None = None,
    allow_fetching: bool = False,
    revocation_mode: str = "soft-fail",
    crls: Iterable[bytes | asn1_crl.CertificateList] = (),
    ocsps: Iterable[bytes | asn1_ocsp.OCSPResponse] = (),
    retroactive_revinfo: bool = False,
) -> ValidationContext:
    """A certvalidator context trusting exactly ``trust_roots``: :func:`esign.trust.validation_context`.

    Kept for the PDF signing code and old callers (its default mode stays ``soft-fail``, which only
    collects what certificates point at; verification uses ``require``).
    """
    from esign.trust import validation_context as trust_context

    return trust_context(
        trust_roots,
        other_certs=other_certs,
        moment=moment,
        allow_fetching=allow_fetching,
        revocation_mode=revocation_mode,
        crls=crls,
        ocsps=ocsps,
        retroactive_revinfo=retroactive_revinfo,
    )


@contextlib.contextmanager
def boundary(action: str, error: type[EsignError] = InvalidInput) -> Iterator[None]:
    """Turn parser and crypto exceptions raised while doing ``action`` into ``error``."""
    try:
        yield
    except EsignError:
        raise
    except (PdfReadError, PdfError) as exc:
        raise InvalidInput(f"{action}: the PDF is damaged or not a PDF ({exc})") from None
    except (
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        RecursionError,
        UnicodeError,
        AssertionError,
    ) as exc:
        raise error(f"{action}: {exc.__class__.__name__}: {exc}") from None
    except Exception as exc:  # pyHanko's SigningError, certvalidator errors, network failures
        raise error(f"{action} failed: {exc.__class__.__name__}: {exc}") from None


def read_all(source: str | Path | bytes | bytearray | memoryview | IO[bytes]) -> bytes:
    """The bytes of a PDF given as a path, bytes or a readable binary stream."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, bytearray | memoryview):
        return bytes(source)
    if isinstance(source, str | Path):
        try:
            return Path(source).read_bytes()
        except FileNotFoundError:
            raise InvalidInput(f"no such file: {source}") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None
    return source.read()
