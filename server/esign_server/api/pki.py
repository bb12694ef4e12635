"""The service's PKI over HTTP: CA certificates, CRL, OCSP (RFC 6960) and time-stamps (RFC 3161).

The URLs match what the service CA writes into every certificate (``{public_url}/pki/...``).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from esign_server.api.deps import CtxDep
from esign_server.services.errors import ServiceError

router = APIRouter(prefix="/pki", tags=["pki"])
MAX_PKI_REQUEST = 64 * 1024


def _pem(ctx: CtxDep) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in ctx.pki.chain)


@router.get("/ca", response_class=Response, responses={200: {"content": {"application/x-pem-file": {}}}})
def ca(ctx: CtxDep) -> Response:
    """The issuing CA and the root, PEM."""
    return Response(_pem(ctx), media_type="application/x-pem-file")


@router.get("/ca.pem", response_class=Response, include_in_schema=False)
def ca_pem(ctx: CtxDep) -> Response:
    """Alias of ``/pki/ca``."""
    return Response(_pem(ctx), media_type="application/x-pem-file")


@router.get("/ca.cer", response_class=Response, responses={200: {"content": {"application/pkix-cert": {}}}})
def ca_cer(ctx: CtxDep) -> Response:
    """The issuing CA certificate, DER (the AIA caIssuers link of issued certificates)."""
    return Response(
        ctx.pki.issuing_ca.certificate.public_bytes(serialization.Encoding.DER), media_type="application/pkix-cert"
    )


@router.get("/root.pem", response_class=Response)
def root_pem(ctx: CtxDep) -> Response:
    """The root CA certificate (the trust anchor), PEM."""
    return Response(ctx.pki.root.public_bytes(serialization.Encoding.PEM), media_type="application/x-pem-file")


@router.get("/crl", response_class=Response, responses={200: {"content": {"application/pkix-crl": {}}}})
def crl(ctx: CtxDep) -> Response:
    """A fresh CRL of the issuing CA, DER (suspended credentials listed as certificateHold)."""
    return Response(ctx.pki.crl(), media_type="application/pkix-crl", headers={"Cache-Control": "no-cache"})


@router.get("/root-crl", response_class=Response, include_in_schema=False)
def root_crl(ctx: CtxDep) -> Response:
    """The root CA's CRL, issued now (a B-LT file's CRLs must postdate its signature)."""
    return Response(ctx.pki.root_crl(), media_type="application/pkix-crl", headers={"Cache-Control": "no-cache"})


async def _body(request: Request) -> bytes:
    data = await request.body()
    if not data:
        raise ServiceError("empty request body")
    if len(data) > MAX_PKI_REQUEST:
        raise ServiceError("request too large", status=413, code="payload_too_large")
    return data


@router.post("/ocsp", response_class=Response, responses={200: {"content": {"application/ocsp-response": {}}}})
async def ocsp_post(request: Request, ctx: CtxDep) -> Response:
    """Answer a DER OCSP request (``application/ocsp-request``)."""
    data = await _body(request)
    answer = await run_in_threadpool(ctx.pki.ocsp.respond, data)
    return Response(answer, media_type="application/ocsp-response")


@router.get("/ocsp/{encoded:path}", response_class=Response)
async def ocsp_get(encoded: str, ctx: CtxDep) -> Response:
    """Answer an OCSP request sent by GET (base64 of the DER, RFC 6960 appendix A)."""
    try:
        data = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=False)
    except (binascii.Error, ValueError):
        raise ServiceError("not a base64 OCSP request") from None
    answer = await run_in_threadpool(ctx.pki.ocsp.respond, data)
    return Response(answer, media_type="application/ocsp-response")


@router.post("/tsa", response_class=Response, responses={200: {"content": {"application/timestamp-reply": {}}}})
async def tsa(request: Request, ctx: CtxDep) -> Response:
    """RFC 3161: answer a ``TimeStampReq`` with a ``TimeStampResp``."""
    data = await _body(request)
    answer = await run_in_threadpool(ctx.pki.tsa.respond, data)
    return Response(answer, media_type="application/timestamp-reply")
