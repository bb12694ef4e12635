"""SoftHSM2 signatures per second: one session kept open (PKCS11Signer) vs a session per signature.

Run: ``.venv/bin/python bench/signers_pkcs11.py [seconds-per-case]``. Makes its own SoftHSM2
token in a temp directory (``softhsm2-util``), then measures, for RSA-2048 and ECDSA P-256:

- ``kept open``: :class:`esign.signers.pkcs11.PKCS11Signer`, its one session and key handle reused
  (the blocking call; the async ``sign_digest`` offloaded to a worker thread, and inline);
- ``per signature``: what a naive backend does each time: open a session, log in, find the key,
  sign, log out, close.

Prints signatures/s for each and the ratio kept-open / per-signature.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

LABEL, SO_PIN, PIN = "bench", "12345678", "1234"


def make_token(home: Path) -> None:
    """A SoftHSM2 home with one token; must run before the library is first loaded."""
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", LABEL, "--so-pin", SO_PIN, "--pin", PIN],
        check=True,
        capture_output=True,
    )


def rate(action: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``action`` over about ``seconds`` (after a short warm-up)."""
    for _ in range(20):
        action()
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            action()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


async def async_rate(signer: object, digest: bytes, seconds: float) -> float:
    sign = signer.sign_digest  # type: ignore[attr-defined]
    for _ in range(20):
        await sign(digest)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            await sign(digest)
        count += 50
    return count / (time.perf_counter() - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    with tempfile.TemporaryDirectory(prefix="esign-bench-softhsm-") as tmp:
        make_token(Path(tmp))
        # Imported only now: SoftHSM2 reads SOFTHSM2_CONF when the library is first initialised.
        import pkcs11
        from pkcs11 import ObjectClass

        from esign.algorithms import DigestAlgorithm
        from esign.signers.pkcs11 import PKCS11Signer, PKCS11Token, _mechanism, generate_keypair

        token = PKCS11Token(label=LABEL, pin=PIN)
        lib = pkcs11.lib(token.lib_path)
        digest = DigestAlgorithm.SHA256.digest(b"benchmark")
        print(f"SoftHSM2 via python-pkcs11, one thread, {seconds:g} s per case")
        print(
            f"{'key':<10}{'kept open':>12}{'async, thread':>16}{'async, inline':>16}{'per signature':>16}{'ratio':>8}"
        )
        for kind in ("rsa2048", "p256"):
            public_key = generate_keypair(token, kind, kind=kind)  # type: ignore[arg-type]
            certificate = _self_signed(public_key)
            signer = PKCS11Signer(token_label=LABEL, pin=PIN, key_label=kind, certificate=certificate)
            algorithm = signer.algorithm()
            kept = rate(lambda s=signer, a=algorithm: s.sign_digest_blocking(digest, a), seconds)
            kept_async = asyncio.run(async_rate(signer, digest, seconds))
            signer.offload = False
            kept_inline = asyncio.run(async_rate(signer, digest, seconds))
            signer.close()
            mechanism, param, data = _mechanism(algorithm, digest)

            def per_signature(
                kind: str = kind, mechanism: object = mechanism, param: object = param, data: bytes = data
            ) -> bytes:
                with lib.get_token(token_label=LABEL).open(user_pin=PIN) as session:
                    key = session.get_key(ObjectClass.PRIVATE_KEY, label=kind)
                    return key.sign(data, mechanism=mechanism, mechanism_param=param)  # type: ignore[no-any-return]

            per = rate(per_signature, seconds)
            print(
                f"{kind:<10}{kept:>10,.0f}/s{kept_async:>14,.0f}/s{kept_inline:>14,.0f}/s"
                f"{per:>14,.0f}/s{kept / per:>7.1f}x"
            )


def _self_signed(public_key: object) -> object:
    """A throwaway certificate over ``public_key`` (signed by a software key: the bench needs no chain)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    issuer = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(issuer, hashes.SHA256())
    )


if __name__ == "__main__":
    main()
