"""Organization seals: an admin marks an organization's credential as a seal; its relying systems sign
without a phone (SCAL 1), within the policy (allowed systems, rates, hours, hashes per call), audited per batch.

Everything goes through the real HTTP API (admin API, CSC API) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes as crypto_hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_server.context import ServerContext
from esign_server.models import AuditEvent
from esign_server.services import audit, credentials, users
from esign_server.services.seals import LOCAL_TIME
from sqlmodel import col, select

from tests.softhsm import make_softhsm_token

from ..conftest import Integrator, Person, grant_all, register_client, verify_in_person
from .conftest import b64, csc_post, h

SHA256 = "2.16.840.1.101.3.4.2.1"
ECDSA_SHA256 = "1.2.840.10045.4.3.2"


def make_organization_credential(ctx: ServerContext, key_algorithm: str = "p256") -> str:
    """An organization (tax code, business registration checked) with a credential in the keystore."""
    user = users.create_user(
        ctx, full_name="Công ty TNHH Hóa đơn Xanh", tax_code="5700100256", organization="Hóa đơn Xanh", actor="test"
    )
    verify_in_person(ctx, user.id, "5700100256", kind="BRN")
    return credentials.issue_credential(
        ctx, user_id=user.id, key_algorithm=key_algorithm, label="Dấu hóa đơn", actor="test"
    ).id


async def make_seal(http: httpx.AsyncClient, admin: Integrator, credential_id: str, **policy: object) -> httpx.Response:
    """PUT the seal policy through the admin API."""
    return await http.put(f"/api/admin/credentials/{credential_id}/seal", json=policy, headers=admin.headers)


async def seal_authorize(
    http: httpx.AsyncClient, rp: Integrator, credential_id: str, digests: list[bytes], **extra: object
) -> httpx.Response:
    """``credentials/authorize`` without any OTP."""
    body: dict[str, object] = {
        "credentialID": credential_id,
        "numSignatures": len(digests),
        "hashes": [b64(d) for d in digests],
        "hashAlgorithmOID": SHA256,
        **extra,
    }
    return await csc_post(http, rp, "credentials/authorize", body)


async def sign_hash(
    http: httpx.AsyncClient, rp: Integrator, credential_id: str, sad: str, digests: list[bytes]
) -> httpx.Response:
    """``signatures/signHash`` with ECDSA-SHA256."""
    body = {
        "credentialID": credential_id,
        "SAD": sad,
        "hashes": [b64(d) for d in digests],
        "hashAlgorithmOID": SHA256,
        "signAlgo": ECDSA_SHA256,
    }
    return await csc_post(http, rp, "signatures/signHash", body)


def audit_events(ctx: ServerContext, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    with ctx.db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))))


@pytest.fixture
def seal_id(ctx: ServerContext) -> str:
    """An organization's P-256 credential (not a seal yet)."""
    return make_organization_credential(ctx)


async def test_seal_batch_signs_without_a_phone_and_is_audited_per_batch(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    made = await make_seal(http, admin, seal_id, clients=[rp.client_id], per_minute=1000, max_hashes_per_call=100)
    assert made.status_code == 200, made.text
    assert made.json()["clients"] == [rp.client_id]
    digests = [hashlib.sha256(f"hóa đơn {i}".encode()).digest() for i in range(100)]
    authorized = await seal_authorize(http, rp, seal_id, digests)
    assert authorized.status_code == 200, authorized.text
    signed = await sign_hash(http, rp, seal_id, authorized.json()["SAD"], digests)
    assert signed.status_code == 200, signed.text
    signatures = signed.json()["signatures"]
    assert len(signatures) == 100
    info = await csc_post(http, rp, "credentials/info", {"credentialID": seal_id})
    cert = x509.load_der_x509_certificate(base64.b64decode(info.json()["cert"]["certificates"][0]))
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for digest, signature in zip(digests, signatures, strict=True):
        public.verify(base64.b64decode(signature), digest, ec.ECDSA(Prehashed(crypto_hashes.SHA256())))
    # One audit event for the authorization and one for the signHash batch, each with count and digest.
    batch_digest = hashlib.sha256(b"".join(digests)).hexdigest()
    [authorized_event] = audit_events(ctx, "seal.authorized")
    assert authorized_event.details["signatures"] == 100
    assert authorized_event.details["hashes_digest"] == batch_digest
    [signed_event] = audit_events(ctx, "csc.signed")
    assert signed_event.target == f"credential:{seal_id}"
    assert signed_event.details["signatures"] == 100
    assert signed_event.details["hashes_digest"] == batch_digest
    assert audit.verify_chain(ctx.db).ok


async def test_credentials_info_says_scal_1_for_a_seal_and_2_for_a_person(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str, person: Person
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], max_hashes_per_call=25)).status_code == 200
    for version in ("v2", "v1"):
        seal = await csc_post(http, rp, "credentials/info", {"credentialID": seal_id}, version)
        assert seal.status_code == 200, seal.text
        assert seal.json()["SCAL"] == "1"
        assert seal.json()["authMode"] == "implicit"
        assert seal.json()["multisign"] == 25
        personal = await csc_post(http, rp, "credentials/info", {"credentialID": person.credential_id}, version)
        assert personal.json()["SCAL"] == "2"
        assert personal.json()["authMode"] == "explicit"


async def test_only_the_named_relying_systems_use_the_seal(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    other = register_client(ctx, ["csc"], name="Hệ thống khác")
    made = await make_seal(http, admin, seal_id, clients=[rp.client_id])
    assert made.status_code == 200, made.text
    refused = await seal_authorize(http, other, seal_id, [h("x")])
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    assert (await csc_post(http, other, "credentials/info", {"credentialID": seal_id})).status_code == 403
    # A SAD of the allowed system stops working once the admin takes that system off the policy.
    sad = (await seal_authorize(http, rp, seal_id, [h("y")])).json()["SAD"]
    assert (await make_seal(http, admin, seal_id, clients=[other.client_id])).status_code == 200
    late = await sign_hash(http, rp, seal_id, sad, [h("y")])
    assert late.status_code == 403
    assert late.json()["error"] == "access_denied"


async def test_credentials_list_shows_a_seal_to_the_systems_it_names_only(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, seal_id: str
) -> None:
    holder = credentials.get_credential(ctx, seal_id).user_id
    sealer = register_client(ctx, ["csc"], name="Hệ thống hóa đơn điện tử", authorised_by_all=False)
    stranger = register_client(ctx, ["csc"], name="Hệ thống lạ", authorised_by_all=False)
    ordinary = credentials.issue_credential(ctx, user_id=holder, key_algorithm="p256", label="Khóa", actor="test").id
    assert (await make_seal(http, admin, seal_id, clients=[sealer.client_id])).status_code == 200
    # The seal's system has no grant from the organization: it sees the seal, not the other credential.
    listed = await csc_post(http, sealer, "credentials/list", {"userID": holder, "credentialInfo": True})
    assert listed.status_code == 200, listed.text
    assert listed.json()["credentialIDs"] == [seal_id]
    assert listed.json()["credentialInfos"][0]["SCAL"] == "1"
    refused = await csc_post(http, stranger, "credentials/list", {"userID": holder})
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    # Authorised by the holder, a system sees the holder's credentials but not a seal that does not name it.
    grant_all(ctx, client_id=stranger.client_id)
    granted = await csc_post(http, stranger, "credentials/list", {"userID": holder})
    assert granted.json()["credentialIDs"] == [ordinary]


async def test_over_the_per_minute_rate_is_429_with_retry_after_and_audited(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], per_minute=5)).status_code == 200
    first = await seal_authorize(http, rp, seal_id, [h(f"a{i}") for i in range(3)])
    assert first.status_code == 200, first.text
    over = await seal_authorize(http, rp, seal_id, [h(f"b{i}") for i in range(3)])
    assert over.status_code == 429, over.text
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # What still fits in the minute is allowed.
    assert (await seal_authorize(http, rp, seal_id, [h("c0"), h("c1")])).status_code == 200
    [refusal] = audit_events(ctx, "seal.refused")
    assert refusal.details["signatures"] == 3
    assert "minute" in refusal.details["reason"]


async def test_over_the_per_day_limit_is_429(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], per_day=4)).status_code == 200
    assert (await seal_authorize(http, rp, seal_id, [h("d0"), h("d1"), h("d2")])).status_code == 200
    over = await seal_authorize(http, rp, seal_id, [h("d3"), h("d4")])
    assert over.status_code == 429
    assert "day" in over.json()["error_description"]


async def test_outside_the_allowed_hours_is_403(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    now = datetime.now(LOCAL_TIME)
    closed = f"{(now + timedelta(hours=2)):%H:00}-{(now + timedelta(hours=3)):%H:00}"
    open_now = f"{(now - timedelta(hours=1)):%H:00}-{(now + timedelta(hours=2)):%H:00}"
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], hours=closed)).status_code == 200
    refused = await seal_authorize(http, rp, seal_id, [h("night")])
    assert refused.status_code == 403
    assert "Asia/Ho_Chi_Minh" in refused.json()["error_description"]
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], hours=open_now)).status_code == 200
    sad = (await seal_authorize(http, rp, seal_id, [h("day")])).json()["SAD"]
    # The hours are checked again when signing: a SAD does not outlive the policy's hours.
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], hours=closed)).status_code == 200
    assert (await sign_hash(http, rp, seal_id, sad, [h("day")])).status_code == 403
    first_refusal = audit_events(ctx, "seal.refused")[0]
    assert first_refusal.details["reason"].startswith("this seal signs only")


async def test_more_hashes_than_the_per_call_cap_are_refused(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], max_hashes_per_call=3)).status_code == 200
    refused = await seal_authorize(http, rp, seal_id, [h(f"e{i}") for i in range(4)])
    assert refused.status_code == 400
    assert "at most 3" in refused.json()["error_description"]
    assert (await seal_authorize(http, rp, seal_id, [h(f"e{i}") for i in range(3)])).status_code == 200


async def test_the_seal_sad_signs_only_the_authorized_hashes_once(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id])).status_code == 200
    digests = [h("f0"), h("f1")]
    mismatched = await seal_authorize(http, rp, seal_id, digests, numSignatures=3)
    assert mismatched.status_code == 400
    sad = (await seal_authorize(http, rp, seal_id, digests)).json()["SAD"]
    other = await sign_hash(http, rp, seal_id, sad, [h("f0"), h("not authorized")])
    assert other.status_code == 400
    assert (await sign_hash(http, rp, seal_id, sad, digests)).status_code == 200
    assert (await sign_hash(http, rp, seal_id, sad, [digests[0]])).status_code == 400  # used up
    assert (await seal_authorize(http, rp, seal_id, [])).status_code == 400  # no hashes, no SAD


async def test_a_hash_sent_twice_in_a_batch_is_signed_exactly_twice(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    # The batch statements count each distinct hash (one row with allowed = 2) on SQLite and PostgreSQL.
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id])).status_code == 200
    twice, once = h("g0"), h("g1")
    sad = (await seal_authorize(http, rp, seal_id, [twice, once, twice])).json()["SAD"]
    refused = await sign_hash(http, rp, seal_id, sad, [twice, twice, twice])
    assert refused.status_code == 400  # three of a hash authorized twice: nothing is signed
    signed = await sign_hash(http, rp, seal_id, sad, [twice, once, twice])
    assert signed.status_code == 200
    assert len(signed.json()["signatures"]) == 3
    assert (await sign_hash(http, rp, seal_id, sad, [twice])).status_code == 400  # used up


async def test_requests_sharing_one_sad_each_get_their_own_hashes_and_no_hash_twice(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    # The SAD's row is versioned by its signature count: a request that loses the race to spend
    # judges its hashes again on what is left, so disjoint requests all succeed and overlapping
    # ones cannot both take a hash.
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id])).status_code == 200
    digests = [h(f"k{i}") for i in range(8)]
    sad = (await seal_authorize(http, rp, seal_id, digests)).json()["SAD"]
    answers = await asyncio.gather(*(sign_hash(http, rp, seal_id, sad, [d]) for d in digests))
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    info = await csc_post(http, rp, "credentials/info", {"credentialID": seal_id})
    public = x509.load_der_x509_certificate(base64.b64decode(info.json()["cert"]["certificates"][0])).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    for digest, answer in zip(digests, answers, strict=True):
        [signature] = answer.json()["signatures"]
        public.verify(base64.b64decode(signature), digest, ec.ECDSA(Prehashed(crypto_hashes.SHA256())))
    assert (await sign_hash(http, rp, seal_id, sad, [digests[0]])).status_code == 400  # all spent

    first, shared, last = h("m0"), h("m1"), h("m2")
    sad = (await seal_authorize(http, rp, seal_id, [first, shared, last])).json()["SAD"]
    racing = await asyncio.gather(*(sign_hash(http, rp, seal_id, sad, [shared, d]) for d in (first, last) * 3))
    assert sorted(a.status_code for a in racing) == [200] + [400] * 5  # ``shared`` is signed once
    winner = next(a for a in racing if a.status_code == 200)
    assert len(winner.json()["signatures"]) == 2
    signed = [e.details["signatures"] for e in audit_events(ctx, "csc.signed")]
    assert signed == [1] * 8 + [2]
    assert audit.verify_chain(ctx.db).ok


async def test_only_an_organizations_active_credential_becomes_a_seal(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, person: Person, seal_id: str
) -> None:
    personal = await make_seal(http, admin, person.credential_id, clients=[rp.client_id])
    assert personal.status_code == 409
    assert personal.json()["error"] == "not_an_organization"
    assert (await make_seal(http, admin, seal_id, clients=["no-such-client"])).status_code == 404
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], hours="25:00-26:00")).status_code == 400
    assert (await make_seal(http, admin, seal_id, clients=[])).status_code == 422
    assert (await http.get(f"/api/admin/credentials/{seal_id}/seal", headers=admin.headers)).status_code == 404
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id], hours="22:00-06:00")).status_code == 200
    shown = await http.get(f"/api/admin/credentials/{seal_id}/seal", headers=admin.headers)
    assert shown.json()["hours"] == "22:00-06:00"
    listed = await http.get("/api/admin/seals", headers=admin.headers)
    assert [s["credential_id"] for s in listed.json()] == [seal_id]
    anonymous = await http.put(f"/api/admin/credentials/{seal_id}/seal", json={"clients": [rp.client_id]})
    assert anonymous.status_code == 401
    assert [e.action for e in audit_events(ctx, "seal.created")] == ["seal.created"]


async def test_a_removed_seal_needs_a_person_again(
    http: httpx.AsyncClient, admin: Integrator, rp: Integrator, seal_id: str
) -> None:
    assert (await make_seal(http, admin, seal_id, clients=[rp.client_id])).status_code == 200
    sad = (await seal_authorize(http, rp, seal_id, [h("g")])).json()["SAD"]
    removed = await http.delete(f"/api/admin/credentials/{seal_id}/seal", headers=admin.headers)
    assert removed.status_code == 204
    assert (await sign_hash(http, rp, seal_id, sad, [h("g")])).status_code == 403
    # Now an ordinary credential whose holder never authorised this relying system.
    assert (await seal_authorize(http, rp, seal_id, [h("g")])).status_code == 403


async def test_a_seal_whose_key_is_on_an_hsm_signs_a_batch_on_the_token(
    ctx: ServerContext, http: httpx.AsyncClient, admin: Integrator, rp: Integrator, tmp_path: Path
) -> None:
    token = make_softhsm_token(tmp_path, None)
    ctx.settings.pkcs11_module = token.lib_path
    ctx.settings.pkcs11_token_label = token.label
    ctx.settings.pkcs11_pin = token.user_pin
    org = users.create_user(ctx, full_name="Công ty Hóa đơn HSM", tax_code="0312345673", actor="test")
    verify_in_person(ctx, org.id, "0312345673", kind="BRN")
    seal = credentials.issue_credential(ctx, user_id=org.id, key_algorithm="rsa2048", keystore="pkcs11", actor="t")
    assert seal.keystore == "pkcs11"
    assert (await make_seal(http, admin, seal.id, clients=[rp.client_id])).status_code == 200
    digests = [h(f"hsm {i}") for i in range(20)]
    sad = (await seal_authorize(http, rp, seal.id, digests)).json()["SAD"]
    body = {
        "credentialID": seal.id,
        "SAD": sad,
        "hashes": [b64(d) for d in digests],
        "hashAlgorithmOID": SHA256,
        "signAlgo": "1.2.840.113549.1.1.11",
    }
    signed = await csc_post(http, rp, "signatures/signHash", body)
    assert signed.status_code == 200, signed.text
    public = x509.load_der_x509_certificate(seal.certificate_der or b"").public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    for digest, signature in zip(digests, signed.json()["signatures"], strict=True):
        public.verify(base64.b64decode(signature), digest, padding.PKCS1v15(), Prehashed(crypto_hashes.SHA256()))
