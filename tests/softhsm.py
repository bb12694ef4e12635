"""Real SoftHSM2 tokens for tests, in a private directory of this test process.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the library is first initialised in a process, and
does not see tokens that ``softhsm2-util`` creates afterwards. So every test of one process shares
one SoftHSM2 home (made on first use, ``SOFTHSM2_CONF`` pointing at it, removed at exit), and
tokens are initialised *inside* the process (``C_InitToken`` on the free slot, then ``C_InitPIN``),
which the already-loaded library sees at once. Subprocesses (a server, ``pkcs11-tool``) inherit
``SOFTHSM2_CONF`` and see the same tokens.

Use::

    from tests.softhsm import make_softhsm_token

    token = make_softhsm_token(tmp_path, "esign-test")   # tmp_path only roots the home on first use
    with token.ref.session(rw=True) as session:
        generate_keypair(session, "signer", kind="p256")
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pkcs11
from pkcs11 import TokenFlag

from esign.signers.pkcs11 import PKCS11Token, default_library_path

_CKR_OK = 0
_home: Path | None = None


@dataclass(frozen=True)
class SoftHSMToken:
    """An initialised SoftHSM2 token: its label, PINs, library and configuration."""

    label: str
    so_pin: str
    user_pin: str
    lib_path: str
    conf_path: Path

    @property
    def ref(self) -> PKCS11Token:
        """The token as :mod:`esign.signers.pkcs11` addresses it (label, user PIN, library)."""
        return PKCS11Token(label=self.label, pin=self.user_pin, lib_path=self.lib_path)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess that must see this token (``SOFTHSM2_CONF``)."""
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf_path)}


def softhsm_home(root: Path | None = None) -> Path:
    """This process's SoftHSM2 home, made under ``root`` (or a temp dir) on first call.

    Sets ``SOFTHSM2_CONF`` so the library, and every subprocess, reads this home.
    """
    global _home
    if _home is not None:
        return _home
    base = Path(tempfile.mkdtemp(prefix="esign-softhsm-", dir=root))
    if root is None:
        atexit.register(shutil.rmtree, base, True)
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\n"
        "objectstore.backend = file\n"
        "log.level = ERROR\n"
        "slots.removable = false\n"
        "slots.mechanisms = ALL\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(conf)
    lib_path = default_library_path()
    if lib_path in pkcs11._loaded:
        # Loaded earlier with another configuration: read ours (drops sessions opened before).
        pkcs11._loaded[lib_path].reinitialize()
    _home = base
    return base


def make_softhsm_token(
    tmp_dir: Path | None,
    label: str | None = None,
    so_pin: str = "12345678",
    user_pin: str = "1234",
) -> SoftHSMToken:
    """Initialise a new SoftHSM2 token labelled ``label`` (unique by default) with the given PINs.

    ``tmp_dir`` roots the process-wide SoftHSM2 home if this is the first token of the process
    (pass None for a temp dir removed at exit); later calls reuse that home.
    """
    home = softhsm_home(tmp_dir)
    label = label or f"esign-{uuid.uuid4().hex[:12]}"
    if len(label.encode()) > 32:
        raise ValueError("a PKCS#11 token label is at most 32 bytes")
    lib_path = default_library_path()
    lib = pkcs11.lib(lib_path)
    if any(token.label == label for token in lib.get_tokens()):
        raise ValueError(f"a SoftHSM2 token labelled {label!r} already exists")
    free = [
        slot for slot in lib.get_slots(token_present=True) if not slot.get_token().flags & TokenFlag.TOKEN_INITIALIZED
    ]
    if not free:
        raise RuntimeError("SoftHSM2 offers no free slot")
    # python-pkcs11 has no C_InitToken; dlopen hands ctypes the very library instance it loaded.
    native = ctypes.CDLL(lib_path)
    native.C_InitToken.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    native.C_InitToken.restype = ctypes.c_ulong
    so = so_pin.encode()
    rv = native.C_InitToken(free[0].slot_id, so, len(so), label.encode().ljust(32))
    if rv != _CKR_OK:
        raise RuntimeError(f"C_InitToken failed with CKR 0x{rv:x}")
    token = lib.get_token(token_label=label)
    with token.open(rw=True, so_pin=so_pin) as session:
        session.init_pin(user_pin)
    return SoftHSMToken(
        label=label, so_pin=so_pin, user_pin=user_pin, lib_path=lib_path, conf_path=home / "softhsm2.conf"
    )


__all__ = ["SoftHSMToken", "make_softhsm_token", "softhsm_home"]
