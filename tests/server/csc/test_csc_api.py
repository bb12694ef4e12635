"""The CSC API over HTTP (ASGI): OTP and phone authorization, SAD binding, signHash, v1 names, errors."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta

import httpx
from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_server.context import ServerContext
from esign_server.db import utcnow
from esign_server.models import AuditEvent
from esign_server.models.csc import CscAuthorization
from esign_server.services import audit
from sqlalchemy import update
from sqlmodel import select

from ..conftest import Integrator, Person, add_device, enroll_person, oath
from .conftest import authorize_with_otp, b64, csc_post, h

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"
RSA_SHA256 = "1.2.840.113549.1.1.11"


def verify_ecdsa(cert_b64: str, signature: bytes, digest: bytes) -> None:
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_b64))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


async def test_info_names_spec_version_methods_and_oauth2(http: httpx.AsyncClient) -> None:
    v2 = (await http.post("/csc/v2/info", json={})).json()
    v1 = (await http.get("/csc/v1/info")).json()
    assert v2["specs"] == "2.0.0.2" and v1["specs"] == "1.0.4.0"
    assert "signatures/signHash" in v2["methods"] and "credentials/authorizeCheck" in v2["methods"]
    assert v2["authType"] == ["oauth2client"]
    assert ECDSA_SHA256 in v2["signAlgorithms"]["algos"]


async def test_token_endpoint_grants_csc_scope_to_client_credentials(http: httpx.AsyncClient, rp: Integrator) -> None:
    form = {"grant_type": "client_credentials", "client_id": rp.client_id, "client_secret": rp.client_secret}
    response = await http.post("/csc/v2/oauth2/token", data=form)
    assert response.status_code == 200
    token = response.json()["access_token"]
    listed = await http.post(
        "/csc/v2/credentials/info", json={"credentialID": "nope"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.json()["error"] == "invalid_request"  # authenticated; the credential is unknown

    wrong = await http.post("/csc/v2/oauth2/token", data={**form, "client_secret": "x" * 43})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client" and "error_description" in wrong.json()


async def test_credentials_list_and_info_give_oids_chain_scal2_and_auth(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    listed = (await csc_post(http, rp, "credentials/list", {"userID": person.user_id})).json()
    assert listed["credentialIDs"] == [person.credential_id]
    info = (
        await csc_post(
            http,
            rp,
            "credentials/info",
            {"credentialID": person.credential_id, "certificates": "chain", "certInfo": True},
        )
    ).json()
    assert info["key"]["algo"][0] == ECDSA_SHA256
    assert info["key"]["status"] == "enabled" and info["key"]["len"] == 256
    assert info["key"]["curve"] == "1.2.840.10045.3.1.7"
    assert len(info["cert"]["certificates"]) == 3  # signer, issuing CA, root
    assert "CCCD:0012******89" in info["cert"]["subjectDN"]  # masked: the certificate itself is whole
    assert info["SCAL"] == "2" and info["multisign"] >= 2 and info["authMode"] == "explicit"
    assert info["auth"]["objects"][0]["type"] == "OTP"
    v1 = (await csc_post(http, rp, "credentials/info", {"credentialID": person.credential_id}, "v1")).json()
    assert v1["OTP"]["presence"] == "true" and v1["PIN"]["presence"] == "false"


async def test_rsa_credential_lists_sha256_with_rsa(
    ctx: ServerContext, http: httpx.AsyncClient, rp: Integrator
) -> None:
    rsa_person = enroll_person(ctx, cccd="079094001234", key_algorithm="rsa2048", name="Trần Thị Bình")
    info = (await csc_post(http, rp, "credentials/info", {"credentialID": rsa_person.credential_id})).json()
    assert info["key"]["algo"][0] == RSA_SHA256
    assert "1.2.840.113549.1.1.10" in info["key"]["algo"]  # RSASSA-PSS


async def test_otp_authorization_signs_exactly_the_authorized_hashes(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digests = [h("hóa đơn 1"), h("hóa đơn 2")]
    sad = await authorize_with_otp(http, rp, person, digests, oath(person.secret, step_offset=1))
    info = (await csc_post(http, rp, "credentials/info", {"credentialID": person.credential_id})).json()

    body = {
        "credentialID": person.credential_id,
        "SAD": sad,
        "hashes": [b64(d) for d in digests],
        "hashAlgorithmOID": SHA256,
        "signAlgo": ECDSA_SHA256,
    }
    signed = await csc_post(http, rp, "signatures/signHash", body)
    assert signed.status_code == 200, signed.text
    signatures = [base64.b64decode(s) for s in signed.json()["signatures"]]
    for signature, digest in zip(signatures, digests, strict=True):
        verify_ecdsa(info["cert"]["certificates"][0], signature, digest)

    again = await csc_post(http, rp, "signatures/signHash", body)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"


async def test_sad_refuses_a_hash_it_was_not_issued_for(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    sad = await authorize_with_otp(http, rp, person, [h("authorized")], oath(person.secret, step_offset=1))
    body = {
        "credentialID": person.credential_id,
        "SAD": sad,
        "hashes": [b64(h("something else"))],
        "signAlgo": ECDSA_SHA256,
    }
    response = await csc_post(http, rp, "signatures/signHash", body)
    assert response.status_code == 400
    assert "not authorized" in response.json()["error_description"]
    # The refused attempt spent nothing: the authorized hash still signs.
    body["hashes"] = [b64(h("authorized"))]
    assert (await csc_post(http, rp, "signatures/signHash", body)).status_code == 200


async def test_sad_signs_a_batch_over_several_calls_until_used_up(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digests = [h(f"tài liệu {i}") for i in range(3)]
    sad = await authorize_with_otp(http, rp, person, digests, oath(person.secret, step_offset=1))
    for digest in digests:
        body = {"credentialID": person.credential_id, "SAD": sad, "hashes": [b64(digest)], "signAlgo": ECDSA_SHA256}
        assert (await csc_post(http, rp, "signatures/signHash", body)).status_code == 200
    body["hashes"] = [b64(digests[0])]
    assert (await csc_post(http, rp, "signatures/signHash", body)).status_code == 400


async def test_v1_field_names_and_urls_are_accepted(http: httpx.AsyncClient, rp: Integrator, person: Person) -> None:
    digest = h("v1 client")
    authorized = await csc_post(
        http,
        rp,
        "credentials/authorize",
        {
            "credentialID": person.credential_id,
            "numSignatures": 1,
            "hash": [b64(digest)],
            "OTP": oath(person.secret, step_offset=1),
        },
        "v1",
    )
    assert authorized.status_code == 200, authorized.text
    signed = await csc_post(
        http,
        rp,
        "signatures/signHash",
        {
            "credentialID": person.credential_id,
            "SAD": authorized.json()["SAD"],
            "hash": [b64(digest)],
            "hashAlgo": SHA256,
            "signAlgo": ECDSA_SHA256,
        },
        "v1",
    )
    assert signed.status_code == 200, signed.text
    assert len(signed.json()["signatures"]) == 1


async def test_wrong_otp_is_refused_in_csc_form(http: httpx.AsyncClient, rp: Integrator, person: Person) -> None:
    response = await csc_post(
        http,
        rp,
        "credentials/authorize",
        {"credentialID": person.credential_id, "hashes": [b64(h("x"))], "authData": [{"id": "OTP", "value": "000000"}]},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_otp", "error_description": "the code is invalid or expired"}


async def test_replayed_otp_is_refused(http: httpx.AsyncClient, rp: Integrator, person: Person) -> None:
    code = oath(person.secret, step_offset=1)
    await authorize_with_otp(http, rp, person, [h("first")], code)
    response = await csc_post(
        http,
        rp,
        "credentials/authorize",
        {
            "credentialID": person.credential_id,
            "hashes": [b64(h("second"))],
            "authData": [{"id": "OTP", "value": code}],
        },
    )
    assert response.json()["error"] == "invalid_otp"


async def test_phone_confirmation_answers_202_then_authorize_check_gives_the_sad(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digests = [h("hợp đồng"), h("phụ lục")]
    pending = await csc_post(
        http,
        rp,
        "credentials/authorize",
        {"credentialID": person.credential_id, "numSignatures": 2, "hashes": [b64(d) for d in digests]},
    )
    assert pending.status_code == 202, pending.text
    handle = pending.json()["authorizationID"]
    code = pending.json()["confirmationCode"]

    check = await csc_post(http, rp, "credentials/authorizeCheck", {"authorizationID": handle})
    assert check.status_code == 202

    device = {"Authorization": f"Bearer {person.device_token}"}
    shown = (await http.get("/api/mobile/sessions", headers=device)).json()["sessions"]
    assert [s["confirmation_code"] for s in shown] == [code]
    confirmed = await http.post(
        f"/api/mobile/sessions/{shown[0]['id']}/confirm",
        json={"code": oath(person.secret, step_offset=1)},
        headers=device,
    )
    assert confirmed.status_code == 200, confirmed.text

    check = await csc_post(http, rp, "credentials/authorizeCheck", {"authorizationID": handle})
    assert check.status_code == 200
    sad = check.json()["SAD"]
    signed = await csc_post(
        http,
        rp,
        "signatures/signHash",
        {
            "credentialID": person.credential_id,
            "SAD": sad,
            "hashes": [b64(d) for d in digests],
            "signAlgo": ECDSA_SHA256,
        },
    )
    assert signed.status_code == 200 and len(signed.json()["signatures"]) == 2


async def test_rejected_on_the_phone_is_access_denied(http: httpx.AsyncClient, rp: Integrator, person: Person) -> None:
    pending = await csc_post(
        http, rp, "credentials/authorize", {"credentialID": person.credential_id, "hashes": [b64(h("no"))]}
    )
    device = {"Authorization": f"Bearer {person.device_token}"}
    session_id = (await http.get("/api/mobile/sessions", headers=device)).json()["sessions"][0]["id"]
    await http.post(f"/api/mobile/sessions/{session_id}/reject", json={"reason": "không phải tôi"}, headers=device)
    check = await csc_post(
        http, rp, "credentials/authorizeCheck", {"authorizationID": pending.json()["authorizationID"]}
    )
    assert check.status_code == 400
    assert check.json()["error"] == "access_denied"


async def test_another_client_cannot_poll_or_spend(
    ctx: ServerContext, http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    from ..conftest import register_client

    other = register_client(ctx, ["csc"], name="Kẻ lạ")
    pending = await csc_post(
        http, rp, "credentials/authorize", {"credentialID": person.credential_id, "hashes": [b64(h("mine"))]}
    )
    check = await csc_post(
        http, other, "credentials/authorizeCheck", {"authorizationID": pending.json()["authorizationID"]}
    )
    assert check.status_code == 400 and check.json()["error"] == "invalid_request"

    second = add_device(ctx, person)
    sad = await authorize_with_otp(http, rp, second, [h("mine 2")], oath(second.secret, step_offset=1))
    stolen = await csc_post(
        http,
        other,
        "signatures/signHash",
        {"credentialID": person.credential_id, "SAD": sad, "hashes": [b64(h("mine 2"))], "signAlgo": ECDSA_SHA256},
    )
    assert stolen.status_code == 400


async def test_expired_sad_is_refused_and_extend_transaction_renews_it(
    ctx: ServerContext, http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digests = [h("một"), h("hai")]
    sad = await authorize_with_otp(http, rp, person, digests, oath(person.secret, step_offset=1))
    body = {"credentialID": person.credential_id, "SAD": sad, "hashes": [b64(digests[0])], "signAlgo": ECDSA_SHA256}
    assert (await csc_post(http, rp, "signatures/signHash", body)).status_code == 200

    extended = await csc_post(
        http, rp, "credentials/extendTransaction", {"credentialID": person.credential_id, "SAD": sad}
    )
    assert extended.status_code == 200
    new_sad = extended.json()["SAD"]
    assert new_sad != sad and extended.json()["expiresIn"] > 0
    body["hashes"] = [b64(digests[1])]
    assert (await csc_post(http, rp, "signatures/signHash", body)).status_code == 400  # the old SAD is retired

    with ctx.db.write() as session:
        session.execute(update(CscAuthorization).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await csc_post(http, rp, "signatures/signHash", {**body, "SAD": new_sad})
    assert expired.status_code == 400
    assert expired.json()["error"] == "invalid_request"


async def test_timestamp_comes_from_the_service_tsa(http: httpx.AsyncClient, rp: Integrator) -> None:
    digest = h("time-stamp me")
    response = await csc_post(
        http, rp, "signatures/timestamp", {"hash": b64(digest), "hashAlgo": SHA256, "nonce": "0a1b2c"}
    )
    assert response.status_code == 200, response.text
    token = cms.ContentInfo.load(base64.b64decode(response.json()["timestamp"]))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert isinstance(info, tsp.TSTInfo)
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["nonce"].native == 0x0A1B2C


async def test_requests_without_token_or_with_bad_fields_get_csc_errors(
    http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    anonymous = await http.post("/csc/v2/credentials/list", json={"userID": person.user_id})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_token"
    missing = await csc_post(http, rp, "signatures/signHash", {"credentialID": person.credential_id})
    assert missing.status_code == 400
    assert set(missing.json()) == {"error", "error_description"}
    not_b64 = await csc_post(
        http, rp, "credentials/authorize", {"credentialID": person.credential_id, "hashes": ["***"]}
    )
    assert not_b64.status_code == 400 and "base64" in not_b64.json()["error_description"]
    garbage = await http.post(
        "/csc/v2/signatures/signHash", content=b"{nope", headers={**rp.headers, "content-type": "application/json"}
    )
    assert garbage.status_code == 400 and garbage.json()["error"] == "invalid_request"


async def test_every_csc_step_is_in_the_audit_chain(
    ctx: ServerContext, http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digest = h("audited")
    sad = await authorize_with_otp(http, rp, person, [digest], oath(person.secret, step_offset=1))
    await csc_post(
        http,
        rp,
        "signatures/signHash",
        {"credentialID": person.credential_id, "SAD": sad, "hashes": [b64(digest)], "signAlgo": ECDSA_SHA256},
    )
    check = audit.verify_chain(ctx.db)
    assert check.ok
    with ctx.db.read() as session:
        from esign_server.models import AuditEvent
        from sqlmodel import select

        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert {"session.created", "session.signed", "csc.sad_issued", "csc.signed"} <= set(actions)


async def test_concurrent_sign_hash_calls_each_get_their_own_answer(
    ctx: ServerContext, http: httpx.AsyncClient, rp: Integrator, person: Person
) -> None:
    digests = [h(f"hóa đơn song song {n}") for n in range(6)]
    # One signature more than sent, so that the SAD is not used up when the refused calls are checked.
    spare = h("dự phòng")
    sad = await authorize_with_otp(http, rp, person, [*digests, spare], oath(person.secret, step_offset=1))
    cert = (await csc_post(http, rp, "credentials/info", {"credentialID": person.credential_id})).json()
    body = {"credentialID": person.credential_id, "SAD": sad, "hashAlgorithmOID": SHA256, "signAlgo": ECDSA_SHA256}
    # Six authorized hashes, the first one twice (one of the two must be refused), and one never authorized.
    asked = [*digests, digests[0], h("không được ủy quyền")]
    calls = [csc_post(http, rp, "signatures/signHash", {**body, "hashes": [b64(d)]}) for d in asked]
    answers = await asyncio.gather(*calls)

    assert [a.status_code for a in answers[1:6]] == [200] * 5
    assert sorted(a.status_code for a in (answers[0], answers[6])) == [200, 400]  # signed once, not twice
    assert "already signed" in next(a for a in (answers[0], answers[6]) if a.status_code == 400).text
    assert answers[7].status_code == 400 and "not authorized" in answers[7].json()["error_description"]
    for answer, digest in zip(answers, asked, strict=True):
        if answer.status_code == 200:
            [signature] = answer.json()["signatures"]
            verify_ecdsa(cert["cert"]["certificates"][0], base64.b64decode(signature), digest)
    assert audit.verify_chain(ctx.db).ok
    with ctx.db.read() as session:
        signed = session.exec(select(AuditEvent).where(AuditEvent.action == "csc.signed")).all()
    assert sorted(e.details["hashes"][0] for e in signed) == sorted(d.hex() for d in digests)
