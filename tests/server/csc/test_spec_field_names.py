"""Our CSC endpoints speak the specification's field names (CSC API v2.0.0.2, and v1.0.4.0 for v1 clients).

The tables below are the input and output parameter names of the specification's method sections
(11.x); our request models and our actual answers must use only these names, plus the few
extensions listed (and documented in docs/integration.md) for the asynchronous phone confirmation.
"""

from __future__ import annotations

import httpx
from esign_server.api.csc import schemas
from pydantic import BaseModel

from ..conftest import Integrator, Person, oath
from .conftest import b64, csc_post, h

CLIENT_DATA = {"clientData"}
SPEC_REQUESTS: dict[str, set[str]] = {
    "credentials/list": {
        "userID",
        "credentialInfo",
        "certificates",
        "certInfo",
        "authInfo",
        "onlyValid",
        "lang",
        "maxResults",
        "pageToken",
    }
    | CLIENT_DATA,
    "credentials/info": {"credentialID", "certificates", "certInfo", "authInfo", "lang"} | CLIENT_DATA,
    "credentials/authorize": {
        "credentialID",
        "numSignatures",
        "hashes",
        "hashAlgorithmOID",
        "authData",
        "description",
        "PIN",
        "OTP",
        "hash",
    }
    | CLIENT_DATA,
    "credentials/extendTransaction": {"credentialID", "hashes", "hash", "hashAlgorithmOID", "hashAlgo", "SAD"}
    | CLIENT_DATA,
    "credentials/sendOTP": {"credentialID"} | CLIENT_DATA,
    "signatures/signHash": {
        "credentialID",
        "SAD",
        "hashes",
        "hash",
        "hashAlgorithmOID",
        "hashAlgo",
        "signAlgo",
        "signAlgoParams",
        "operationMode",
        "validity_period",
        "response_uri",
    }
    | CLIENT_DATA,
    "signatures/timestamp": {"hash", "hashAlgo", "hashAlgorithmOID", "size", "nonce"} | CLIENT_DATA,
}
SPEC_RESPONSES: dict[str, set[str]] = {
    "info": {
        "specs",
        "name",
        "logo",
        "region",
        "lang",
        "description",
        "authType",
        "oauth2",
        "oauth2Issuer",
        "asynchronousOperationMode",
        "methods",
        "validationInfo",
        "signAlgorithms",
        "signature_formats",
        "conformance_levels",
    },
    "credentials/list": {"credentialIDs", "credentialInfos", "onlyValid", "nextPageToken"},
    "credentials/info": {
        "description",
        "signatureQualifier",
        "key",
        "cert",
        "auth",
        "SCAL",
        "multisign",
        "lang",
        "authMode",
        "PIN",
        "OTP",
    },
    "credentials/info key": {"status", "algo", "len", "curve"},
    "credentials/info cert": {
        "status",
        "certificates",
        "issuerDN",
        "serialNumber",
        "subjectDN",
        "validFrom",
        "validTo",
    },
    "credentials/authorize": {"SAD", "expiresIn"},
    "signatures/signHash": {"signatures", "responseID"},
    "signatures/timestamp": {"timestamp"},
    "error": {"error", "error_description"},
}
EXTENSIONS = {
    # The asynchronous phone confirmation: 202 with a handle, polled with credentials/authorizeCheck.
    "credentials/authorize 202": {"authorizationID", "status", "expiresIn", "confirmationCode"},
    "credentials/authorizeCheck": {"authorizationID", "credentialID"} | CLIENT_DATA,
    # What the user's phone shows: the document behind each hash (never a placeholder).
    "credentials/authorize": {"documentNames"},
}
MODELS: dict[str, type[BaseModel]] = {
    "credentials/list": schemas.CredentialsListRequest,
    "credentials/info": schemas.CredentialsInfoRequest,
    "credentials/authorize": schemas.AuthorizeRequest,
    "credentials/extendTransaction": schemas.ExtendTransactionRequest,
    "credentials/sendOTP": schemas.CredentialRequest,
    "signatures/signHash": schemas.SignHashRequest,
    "signatures/timestamp": schemas.TimestampRequest,
}


def test_request_models_use_only_spec_names() -> None:
    for method, model in MODELS.items():
        assert set(model.model_fields) <= SPEC_REQUESTS[method] | EXTENSIONS.get(method, set()), method
    assert set(schemas.AuthorizeCheckRequest.model_fields) <= EXTENSIONS["credentials/authorizeCheck"]
    assert set(schemas.PendingAuthorization.model_fields) <= EXTENSIONS["credentials/authorize 202"]
    assert set(schemas.SadResponse.model_fields) == SPEC_RESPONSES["credentials/authorize"]


async def test_answers_use_only_spec_names(http: httpx.AsyncClient, rp: Integrator, person: Person) -> None:
    info = (await http.post("/csc/v2/info", json={})).json()
    assert set(info) <= SPEC_RESPONSES["info"]
    listed = (await csc_post(http, rp, "credentials/list", {"userID": person.user_id, "credentialInfo": True})).json()
    assert set(listed) <= SPEC_RESPONSES["credentials/list"]
    for version in ("v2", "v1"):
        cred = (
            await csc_post(
                http,
                rp,
                "credentials/info",
                {"credentialID": person.credential_id, "certInfo": True, "authInfo": True},
                version,
            )
        ).json()
        assert set(cred) <= SPEC_RESPONSES["credentials/info"]
        assert set(cred["key"]) <= SPEC_RESPONSES["credentials/info key"]
        assert set(cred["cert"]) <= SPEC_RESPONSES["credentials/info cert"]
    digest = h("spec")
    authorized = (
        await csc_post(
            http,
            rp,
            "credentials/authorize",
            {
                "credentialID": person.credential_id,
                "hashes": [b64(digest)],
                "authData": [{"id": "OTP", "value": oath(person.secret, step_offset=1)}],
            },
        )
    ).json()
    assert set(authorized) == SPEC_RESPONSES["credentials/authorize"]
    signed = (
        await csc_post(
            http,
            rp,
            "signatures/signHash",
            {
                "credentialID": person.credential_id,
                "SAD": authorized["SAD"],
                "hashes": [b64(digest)],
                "signAlgo": "1.2.840.10045.4.3.2",
            },
        )
    ).json()
    assert set(signed) <= SPEC_RESPONSES["signatures/signHash"]
    stamped = (await csc_post(http, rp, "signatures/timestamp", {"hash": b64(digest)})).json()
    assert set(stamped) <= SPEC_RESPONSES["signatures/timestamp"]
    refused = (await csc_post(http, rp, "signatures/signHash", {"credentialID": "x"})).json()
    assert set(refused) == SPEC_RESPONSES["error"]
    pending = await csc_post(
        http, rp, "credentials/authorize", {"credentialID": person.credential_id, "hashes": [b64(h("later"))]}
    )
    assert pending.status_code == 202
    assert set(pending.json()) <= EXTENSIONS["credentials/authorize 202"]
