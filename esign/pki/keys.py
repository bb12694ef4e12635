"""Key generation and PEM storage for PKI material."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from esign.errors import InvalidInput, KeyAccessError

KeyKind = Literal["rsa2048", "rsa3072", "rsa4096", "p256", "p384"]
CAPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_key(kind: KeyKind | str) -> CAPrivateKey:
    """Generate a private key: ``rsa2048``, ``rsa3072``, ``rsa4096``, ``p256`` or ``p384``."""
    if kind in ("rsa2048", "rsa3072", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise InvalidInput(f"unknown key kind {kind!r}; use rsa2048, rsa3072, rsa4096, p256 or p384")


def save_private_key(key: CAPrivateKey, path: Path, password: str) -> None:
    """Write ``key`` as password-encrypted PKCS#8 PEM, readable by the owner only."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(data)


def load_private_key(path: Path, password: str) -> CAPrivateKey:
    """Read a key written by :func:`save_private_key`."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password.encode())
    except FileNotFoundError:
        raise KeyAccessError(f"key file not found: {path}") from None
    except ValueError:
        raise KeyAccessError(f"cannot decrypt {path}: wrong PKI password?") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput(f"{path} holds an unsupported key type")
    return key
