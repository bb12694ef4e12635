"""``POST /api/verify``: validate a signed PDF or XML and get ETSI validation reports as JSON.

Any relying system or admin with a valid access token may call it (whatever its scopes): validation
costs CPU, so it is not public, and the upload is limited to ``ESIGN_VERIFY_MAX_BYTES`` (20 MB by
default). The document is the raw request body (``Content-Type: application/pdf``,
``application/xml`` or ``text/xml``; anything else is recognised by its first bytes). Trusted roots:
the same default store as ``esign pdf verify`` (Vietnam's national and government roots, plus the
operator's trust directory; :func:`esign.trust.default_store`), the service's own root and
``ESIGN_VERIFY_TRUST_ANCHORS``. Revocation is taken from what the document embeds (PAdES B-LT,
XAdES) and, for the service's own signers, from the service CA's CRLs; the server fetches nothing.
Each report carries the Vietnamese validation policy's rule outcomes and an ``explanation`` of its
indication in the language ``Accept-Language`` asks for (``vi`` or ``en``; JSON keys and ETSI codes
are never translated). Signers' personal numbers are
masked; ``?reveal=true`` shows them whole, for callers with the ``admin`` scope only. An agency code
in a signer's certificate is annotated with its status in the organization registry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from esign.errors import InvalidInput
from esign.report import ValidationReport, explain, report_dict, summarize
from esign.trust.policy import policy_applied
from esign_server.api.deps import CtxDep, bearer_token
from esign_server.context import ServerContext
from esign_server.schemas import ErrorBody
from esign_server.schemas.identity import VerificationReportList
from esign_server.services.errors import Forbidden, ServiceError, Unauthorized
from esign_server.services.pki import verification_trust

router = APIRouter(
    prefix="/api",
    tags=["verify"],
    responses={
        400: {"model": ErrorBody},
        401: {"model": ErrorBody},
        403: {"model": ErrorBody},
        413: {"model": ErrorBody},
        415: {"model": ErrorBody},
    },
)

_PDF_TYPES = ("application/pdf",)
_XML_TYPES = ("application/xml", "text/xml")


def _format(content_type: str, head: bytes) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _PDF_TYPES:
        return "pdf"
    if media in _XML_TYPES or media.endswith("+xml"):
        return "xml"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1024].find(b"%PDF-") >= 0:
        return "pdf"
    if stripped.startswith(b"<"):
        return "xml"
    raise ServiceError(
        "send a PDF (application/pdf) or an XML document (application/xml) as the request body",
        code="unsupported_media_type",
        status=415,
    )


def language(accept_language: str | None) -> str:
    """``vi`` or ``en`` from an ``Accept-Language`` header (the first of the two by preference; ``en`` if neither)."""
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-", 1)[0]
        if primary not in ("vi", "en"):
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, primary)
    return best[1] if best else "en"


def _verify(
    ctx: ServerContext, fmt: str, data: bytes, reveal: bool, lang: str = "en"
) -> tuple[str, str, list[dict[str, Any]]]:
    """The bottom line and the reports, each annotated with the registry status of its agency code."""
    from esign_server.services.orgids import annotate_report

    anchors, crls = verification_trust(ctx)
    reports: list[ValidationReport]
    if fmt == "pdf":
        from esign.pdf.verify import verify_pdf

        # The service's CRLs decide its own signers' revocation (nothing is fetched); other signers
        # need the file's own data. visual: pages that look different from each signed revision
        # (Poppler, ~10 ms a page, only for files changed after signing).
        reports = verify_pdf(data, trust_anchors=anchors, reveal=reveal, crls=crls, visual=True)
    else:
        from esign.xml.verification import verify_xml

        # keep_signed: each reference reports the content it signed (up to 1 MB each), what a reader may use
        result = verify_xml(data, trust_anchors=anchors, reveal=reveal, keep_signed=True, crls=crls)
        reports = list(result.reports)
    reports = [policy_applied(r) for r in reports]
    bottom = summarize(reports)
    return bottom.value, explain(bottom, None, lang), [annotate_report(ctx.db, report_dict(r, lang)) for r in reports]


@router.post(
    "/verify",
    response_model=VerificationReportList,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/xml": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def verify_document(
    request: Request,
    ctx: CtxDep,
    reveal: Annotated[bool, Query(description="Show personal numbers whole (admin scope only)")] = False,
) -> VerificationReportList:
    """Validate every signature of the uploaded PDF or XML; ETSI TS 119 102-2 reports, signer identity masked."""
    token = bearer_token(request)
    claims = ctx.tokens.check(token) if token else None
    if claims is None:
        raise Unauthorized("missing, invalid or expired access token", code="invalid_token")
    if reveal and "admin" not in claims.get("scp", ()):
        raise Forbidden("reveal=true needs the 'admin' scope", code="insufficient_scope")
    limit = ctx.settings.verify_max_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ServiceError(f"the document exceeds {limit} bytes", code="payload_too_large", status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServiceError(f"the document exceeds {limit} bytes", code="payload_too_large", status=413)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data:
        raise InvalidInput("the request body is empty: send the signed PDF or XML")
    fmt = _format(request.headers.get("content-type", ""), data[:2048])
    lang = language(request.headers.get("accept-language"))
    indication, explanation, signatures = await run_in_threadpool(_verify, ctx, fmt, data, reveal, lang)
    return VerificationReportList(
        format="pdf" if fmt == "pdf" else "xml",
        indication=indication,
        explanation=explanation,
        language=lang,
        revealed=reveal,
        signatures=signatures,
    )
