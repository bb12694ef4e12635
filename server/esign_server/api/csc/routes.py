"""The CSC API routers: ``/csc/v2/...`` and ``/csc/v1/...`` (same handlers; v1 field names accepted).

Every error leaves in the CSC form ``{"error": ..., "error_description": ...}``: the routers use
:class:`CscRoute`, which turns service errors and request validation failures into that shape
instead of the service's native ``{"error", "message"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from esign.errors import EsignError, InvalidInput
from esign.identity import mask_personal_numbers
from esign.signers.file import load_certificates
from esign_server.api.csc.schemas import (
    AuthorizeCheckRequest,
    AuthorizeRequest,
    ChallengeResponse,
    CredentialRequest,
    CredentialsInfoRequest,
    CredentialsListRequest,
    CscErrorBody,
    ExtendTransactionRequest,
    InfoRequest,
    PendingAuthorization,
    SadResponse,
    SignHashRequest,
    SignHashResponse,
    TimestampRequest,
    TimestampResponse,
)
from esign_server.api.deps import CtxDep, bearer_token
from esign_server.api.oauth import NO_STORE, basic_credentials
from esign_server.context import ServerContext
from esign_server.models import Credential
from esign_server.services import csc
from esign_server.services.clients import issue_access_token
from esign_server.services.credentials import certificate_of, get_credential, key_size_bits
from esign_server.services.errors import ServiceError, Unauthorized

SCOPE = "csc"
_CSC_CODES = {
    "invalid_request",
    "invalid_otp",
    "invalid_pin",
    "expired_token",
    "access_denied",
    "invalid_token",
    "invalid_client",
    "invalid_scope",
    "insufficient_scope",
    "unsupported_grant_type",
    "server_error",
    "temporarily_unavailable",
}
_MAPPED_CODES = {
    "session_expired": "expired_token",
    "session_rejected": "access_denied",
    "session_failed": "access_denied",
    "device_locked": "access_denied",
    "otp_already_used": "invalid_otp",
    "otp_throttled": "access_denied",
    "too_many_pending": "access_denied",
    "not_authorised": "access_denied",
}
_CURVE_OIDS = {"secp256r1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34", "secp521r1": "1.3.132.0.35"}


def csc_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The CSC error shape."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _from_service_error(exc: ServiceError) -> JSONResponse:
    code = _MAPPED_CODES.get(exc.code, exc.code)
    status = exc.status
    if code not in _CSC_CODES:
        code = "server_error" if status >= 500 else "invalid_request"
    if status in (404, 409):
        status = 400  # CSC answers refusals about the request's content with 400
    # A lockout stays 423 and a slow-down 429, both with Retry-After: a client can tell "wait" from "wrong".
    headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
    return csc_error(status, code, exc.message, headers)


class CscRoute(APIRoute):
    """A route whose failures answer in the CSC error form."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler to translate every refusal into the CSC form."""
        handler = super().get_route_handler()

        async def csc_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
                return csc_error(400, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")
            except ServiceError as exc:
                return _from_service_error(exc)
            except InvalidInput as exc:
                return csc_error(400, "invalid_request", exc.message)
            except EsignError as exc:
                return csc_error(500, "server_error", exc.message)
            except StarletteHTTPException as exc:
                return csc_error(exc.status_code, "invalid_request", str(exc.detail))

        return csc_handler


async def csc_client(request: Request, ctx: CtxDep) -> str:
    """The client id of a relying system presenting an access token with the ``csc`` scope."""
    # async: no I/O here, and a plain ``def`` dependency would cost a thread-pool hop per request.
    token = bearer_token(request)
    claims = ctx.tokens.check(token) if token else None
    if claims is None:
        raise Unauthorized("missing, invalid or expired access token", code="invalid_token")
    if SCOPE not in claims.get("scp", ()):
        raise ServiceError("this token lacks the 'csc' scope", code="insufficient_scope", status=403)
    return str(claims["sub"])


CscClient = Annotated[str, Depends(csc_client)]


_ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": CscErrorBody}, 401: {"model": CscErrorBody}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _generalized(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%SZ")


def _cert_status(cred: Credential, cert: x509.Certificate | None) -> str:
    if cred.status == "revoked":
        return "revoked"
    if cred.status == "suspended":
        return "suspended"
    if cert is not None and cert.not_valid_after_utc < datetime.now(cert.not_valid_after_utc.tzinfo):
        return "expired"
    return "valid"


def credential_info(
    ctx: ServerContext,
    cred: Credential,
    *,
    certificates: str = "single",
    cert_info: bool = False,
    version: str = "v2",
) -> dict[str, Any]:
    """The ``credentials/info`` answer for one credential."""
    cert = certificate_of(cred)
    key: dict[str, Any] = {
        "status": "enabled" if cred.status == "active" else "disabled",
        "algo": csc.signature_algorithm_oids(cred),
        "len": key_size_bits(cred),
    }
    if cred.key_algorithm.startswith("p"):
        public = serialization.load_der_public_key(cred.public_key_der)
        if isinstance(public, ec.EllipticCurvePublicKey):
            key["curve"] = _CURVE_OIDS.get(public.curve.name, "")
    cert_part: dict[str, Any] = {"status": _cert_status(cred, cert)}
    if cert is not None and certificates != "none":
        chain = [cert]
        if certificates == "chain" and cred.chain_pem.strip():
            chain += load_certificates(cred.chain_pem.encode())
        cert_part["certificates"] = [_b64(c.public_bytes(serialization.Encoding.DER)) for c in chain]
    if cert is not None and cert_info:
        cert_part.update(
            issuerDN=cert.issuer.rfc4514_string(),
            serialNumber=format(cert.serial_number, "x"),
            subjectDN=mask_personal_numbers(cert.subject.rfc4514_string()),  # the certificate itself is whole
            validFrom=_generalized(cert.not_valid_before_utc),
            validTo=_generalized(cert.not_valid_after_utc),
        )
    if csc.is_seal(ctx, cred.id):
        # An organization seal: its relying systems get a SAD without a person (SCAL 1), still bound
        # to the exact hashes; its policy (rates, hours, batch size) is the admin's.
        info_seal: dict[str, Any] = {
            "description": cred.label or f"{cred.key_algorithm} organization seal",
            "key": key,
            "cert": cert_part,
            "authMode": "implicit",
            "SCAL": "1",
            "multisign": csc.seal_multisign(ctx, cred.id),
            "lang": "vi-VN",
        }
        if version == "v1":
            info_seal["PIN"] = {"presence": "false"}
            info_seal["OTP"] = {"presence": "false"}
        return info_seal
    otp_label = "Mã OTP trên điện thoại / OTP from your phone"
    otp_description = "The 6-digit code of the esign app (TOTP); omit it to confirm on the phone instead."
    info: dict[str, Any] = {
        "description": cred.label or f"{cred.key_algorithm} credential",
        "key": key,
        "cert": cert_part,
        "authMode": "explicit",
        "SCAL": "2",
        "multisign": ctx.settings.max_items_per_session,
        "lang": "vi-VN",
    }
    if version == "v1":
        info["PIN"] = {"presence": "false"}
        info["OTP"] = {
            "presence": "true",
            "type": "offline",
            "format": "N",
            "label": otp_label,
            "description": otp_description,
            "ID": "totp",
            "provider": "esign",
        }
    else:
        info["auth"] = {
            "mode": "explicit",
            "expression": "OTP",
            "objects": [
                {"type": "OTP", "id": "OTP", "format": "N", "label": otp_label, "description": otp_description}
            ],
        }
    return info


def _methods() -> list[str]:
    return [
        "oauth2/token",
        "credentials/list",
        "credentials/info",
        "credentials/authorize",
        "credentials/authorizeCheck",
        "credentials/extendTransaction",
        "credentials/sendOTP",
        "credentials/getChallenge",
        "signatures/signHash",
        "signatures/timestamp",
    ]


def make_router(version: str) -> APIRouter:
    """The CSC router for ``version`` (``v2`` or ``v1``)."""
    router = APIRouter(prefix=f"/csc/{version}", tags=[f"CSC API {version}"], route_class=CscRoute)
    specs = "2.0.0.2" if version == "v2" else "1.0.4.0"

    # One operation per method: a shared GET+POST route gives both the same OpenAPI operationId.
    @router.get("/info", responses=_ERRORS, operation_id=f"csc_{version}_info_get")
    @router.post("/info", responses=_ERRORS, operation_id=f"csc_{version}_info")
    def info(request: Request, ctx: CtxDep, body: InfoRequest | None = None) -> dict[str, Any]:
        """What this service is and which CSC methods it answers."""
        base = ctx.settings.public_url.rstrip("/")
        result: dict[str, Any] = {
            "specs": specs,
            "name": "esign remote-signing service",
            "logo": f"{base}/m/icon.png",
            "region": "VN",
            "lang": "vi-VN",
            "description": "Remote signing with confirmation on the user's phone (TOTP), SCAL2.",
            "authType": ["oauth2client"],
            "oauth2": f"{base}/csc/{version}/oauth2/token",
            "methods": _methods(),
        }
        if version == "v2":
            result["asynchronousOperationMode"] = False
            result["validationInfo"] = False
            result["signAlgorithms"] = {
                "algos": [
                    "1.2.840.113549.1.1.11",
                    "1.2.840.113549.1.1.12",
                    "1.2.840.113549.1.1.13",
                    "1.2.840.113549.1.1.10",
                    "1.2.840.10045.4.3.2",
                    "1.2.840.10045.4.3.3",
                    "1.2.840.10045.4.3.4",
                ]
            }
        return result

    @router.post("/oauth2/token", responses=_ERRORS)
    async def token(request: Request, response: Response, ctx: CtxDep) -> dict[str, Any]:
        """OAuth2 client credentials (form or JSON body, or HTTP Basic) for the ``csc`` scope."""
        raw = await request.body()
        fields: dict[str, str]
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                loaded = json.loads(raw or b"{}")
            except ValueError:
                raise ServiceError("the body is not JSON") from None
            fields = {k: str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        else:
            fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if fields.get("grant_type") != "client_credentials":
            raise ServiceError("only grant_type=client_credentials is supported", code="unsupported_grant_type")
        basic = basic_credentials(request)
        client_id, secret = basic if basic else (fields.get("client_id"), fields.get("client_secret"))
        if not client_id or not secret:
            raise Unauthorized("client_id and client_secret are required", code="invalid_client")
        access, scopes = issue_access_token(
            ctx, client_id=client_id, client_secret=secret, scope=fields.get("scope") or SCOPE
        )
        response.headers.update(NO_STORE)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ctx.tokens.ttl_seconds,
            "scope": " ".join(scopes),
        }

    @router.post("/credentials/list", responses=_ERRORS)
    def credentials_list(body: CredentialsListRequest, client: CscClient, ctx: CtxDep) -> dict[str, Any]:
        """The credential ids of a user (``userID``), optionally with their details."""
        ids = csc.credential_ids_for_user(ctx, client_id=client, user_id=body.userID, only_valid=body.onlyValid)
        if body.maxResults is not None:
            ids = ids[: body.maxResults]
        result: dict[str, Any] = {"credentialIDs": ids, "onlyValid": body.onlyValid}
        if body.credentialInfo:
            result["credentialInfos"] = [
                {
                    "credentialID": cid,
                    **credential_info(
                        ctx,
                        get_credential(ctx, cid),
                        certificates=body.certificates,
                        cert_info=body.certInfo,
                        version=version,
                    ),
                }
                for cid in ids
            ]
        return result

    @router.post("/credentials/info", responses=_ERRORS)
    def credentials_info(body: CredentialsInfoRequest, client: CscClient, ctx: CtxDep) -> dict[str, Any]:
        """Key algorithms (signature-algorithm OIDs), certificate (chain), SCAL, multisign, how to authorize."""
        cred = csc.require_grant(ctx, client_id=client, credential_id=body.credentialID)
        return credential_info(ctx, cred, certificates=body.certificates, cert_info=body.certInfo, version=version)

    @router.post(
        "/credentials/authorize",
        response_model=SadResponse,
        responses={**_ERRORS, 202: {"model": PendingAuthorization, "description": "Waiting for the phone"}},
    )
    def authorize(body: AuthorizeRequest, client: CscClient, ctx: CtxDep) -> Any:
        """Authorize hashes: with ``OTP``/``authData`` a SAD at once; without, ``202`` and the phone is asked."""
        values = body.hash_values()
        if body.hashAlgorithmOID:
            algorithm = csc.hash_algorithm_of(body.hashAlgorithmOID)
        else:
            algorithm = csc.hash_algorithm_by_length(values[0] if values else "")
        result = csc.authorize(
            ctx,
            client_id=client,
            credential_id=body.credentialID,
            hashes=csc.decode_hashes(values, algorithm),
            hash_algorithm=algorithm,
            num_signatures=body.numSignatures,
            otp=body.otp(),
            description=body.description,
            names=body.documentNames,
        )
        return _authorization_response(result)

    @router.post(
        "/credentials/authorizeCheck",
        response_model=SadResponse,
        responses={**_ERRORS, 202: {"model": PendingAuthorization, "description": "Still waiting"}},
    )
    def authorize_check(body: AuthorizeCheckRequest, client: CscClient, ctx: CtxDep) -> Any:
        """Poll an authorization that waits on the phone: ``202`` while pending, then the SAD."""
        return _authorization_response(
            csc.authorize_check(ctx, client_id=client, authorization_id=body.authorizationID)
        )

    @router.post("/credentials/extendTransaction", response_model=SadResponse, responses=_ERRORS)
    def extend_transaction(body: ExtendTransactionRequest, client: CscClient, ctx: CtxDep) -> SadResponse:
        """A fresh SAD (and lifetime) for the hashes the current one has not signed yet."""
        result = csc.extend_transaction(ctx, client_id=client, credential_id=body.credentialID, sad=body.SAD)
        assert result.sad is not None
        return SadResponse(SAD=result.sad, expiresIn=result.expires_in)

    @router.post("/credentials/sendOTP", status_code=204, responses=_ERRORS)
    def send_otp(body: CredentialRequest, client: CscClient, ctx: CtxDep) -> Response:
        """The OTP is made by the user's phone app; this only nudges the user's devices."""
        csc.send_otp(ctx, client_id=client, credential_id=body.credentialID)
        return Response(status_code=204)

    @router.post("/credentials/getChallenge", response_model=ChallengeResponse, responses=_ERRORS)
    def get_challenge(body: CredentialRequest, client: CscClient, ctx: CtxDep) -> ChallengeResponse:
        """A random challenge (our authorization needs none; given for clients that ask first)."""
        csc.require_grant(ctx, client_id=client, credential_id=body.credentialID)
        return ChallengeResponse(challenge=_b64(secrets.token_bytes(32)), expiresIn=csc.AUTHORIZE_TTL_SECONDS)

    @router.post("/signatures/signHash", response_model=SignHashResponse, responses=_ERRORS)
    def sign_hash(body: SignHashRequest, client: CscClient, ctx: CtxDep) -> Response:
        """Sign hashes the SAD authorizes (each once per authorization), with ``signAlgo``."""
        if body.operationMode != "S":
            raise ServiceError("only the synchronous operation mode (S) is offered")
        algorithm = csc.hash_algorithm_of(body.hashAlgorithmOID or body.hashAlgo, body.signAlgo)
        unspent = csc.make_hash_signatures(
            ctx,
            client_id=client,
            credential_id=body.credentialID,
            sad=body.SAD,
            hashes=csc.decode_hashes(body.hash_values(), algorithm),
            hash_algorithm=algorithm,
            sign_algo=body.signAlgo,
        )
        # Signed outside the write transaction; the SAD and the hashes are spent in one short one.
        with ctx.db.write() as session:
            result = unspent.spend(session)
        # The declared SignHashResponse, encoded here in the worker thread: a model returned from a
        # ``def`` route is validated again by FastAPI in a second thread-pool hop, per request.
        return JSONResponse({"signatures": [_b64(s) for s in result.signatures]})

    @router.post("/signatures/timestamp", response_model=TimestampResponse, responses=_ERRORS)
    def timestamp(body: TimestampRequest, client: CscClient, ctx: CtxDep) -> TimestampResponse:
        """An RFC 3161 time-stamp token over ``hash`` from the service's TSA."""
        algorithm = csc.hash_algorithm_of(body.hashAlgorithmOID or body.hashAlgo)
        imprint = csc.decode_hashes([body.hash], algorithm)[0]
        nonce = None
        if body.nonce:
            try:
                nonce = int(body.nonce, 16)
            except ValueError:
                raise ServiceError("nonce must be hexadecimal") from None
        try:
            token = ctx.pki.tsa.stamp(imprint, algorithm.value, nonce=nonce)
        except (binascii.Error, ValueError) as exc:
            raise ServiceError(f"cannot time-stamp: {exc}") from None
        return TimestampResponse(timestamp=_b64(token.dump()))

    return router


def _authorization_response(result: csc.AuthorizationResult) -> Any:
    if result.sad is None:
        return JSONResponse(
            PendingAuthorization(
                authorizationID=result.authorization_id,
                expiresIn=result.expires_in,
                confirmationCode=result.confirmation_code,
            ).model_dump(),
            status_code=202,
        )
    # Encoded here (see sign_hash): the declared SadResponse, without FastAPI's second validation hop.
    return JSONResponse(SadResponse(SAD=result.sad, expiresIn=result.expires_in).model_dump())


router_v2 = make_router("v2")
router_v1 = make_router("v1")
