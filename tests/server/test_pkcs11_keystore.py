"""The PKCS#11 keystore on a real SoftHSM2 token: a credential's key is made on the token and signs there."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from esign_server.context import ServerContext
from esign_server.services import credentials, devices
from pkcs11 import Attribute, ObjectClass

from tests.softhsm import make_softhsm_token

from .conftest import Integrator, grant_all, oath, verify_in_person


async def test_pkcs11_credentials_sign_sessions_and_keys_stay_on_the_token(
    http: httpx.AsyncClient, ctx: ServerContext, integrator: Integrator, tmp_path: Path
) -> None:
    token = make_softhsm_token(tmp_path, None)
    ctx.settings.pkcs11_module = token.lib_path
    ctx.settings.pkcs11_token_label = token.label
    ctx.settings.pkcs11_pin = token.user_pin
    from esign_server.services import users

    user = users.create_user(ctx, full_name="Võ Thị Hoa", cccd="048190000123", actor="test")
    verify_in_person(ctx, user.id, "048190000123")
    grant_all(ctx, user_id=user.id)
    for n, kind in enumerate(("p256", "rsa2048")):
        cred = credentials.issue_credential(ctx, user_id=user.id, key_algorithm=kind, keystore="pkcs11", actor="t")
        assert cred.keystore == "pkcs11" and cred.key_ref == cred.id.encode()
        enrollment = devices.start_enrollment(ctx, user_id=user.id, actor="test")
        _device, device_token = devices.activate(
            ctx, enrollment_token=enrollment.enrollment_token, code=oath(enrollment.secret_b32), actor="test"
        )
        digest = bytes([n + 1]) * 32
        created = await http.post(
            "/api/sessions",
            headers=integrator.headers,
            json={"credential_id": cred.id, "items": [{"digest": base64.b64encode(digest).decode()}]},
        )
        assert created.status_code == 201, created.text
        confirmed = await http.post(
            f"/api/mobile/sessions/{created.json()['id']}/confirm",
            json={"code": oath(enrollment.secret_b32, step_offset=1)},
            headers={"Authorization": f"Bearer {device_token}"},
        )
        assert confirmed.status_code == 200, confirmed.text
        signature = base64.b64decode(
            (await http.get(f"/api/sessions/{created.json()['id']}", headers=integrator.headers)).json()["signatures"][
                0
            ]
        )
        key = x509.load_der_x509_certificate(cred.certificate_der or b"").public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        with token.ref.session() as session:
            private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=cred.id)
            assert private[Attribute.EXTRACTABLE] is False
            assert private[Attribute.SENSITIVE] is True
