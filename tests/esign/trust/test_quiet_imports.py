"""Using the trust engine on its own prints no CryptographyDeprecationWarning (issue 21, trust follow-up).

pyHanko's signing package warns "DSA is deprecated" when first imported; esign.trust imports it only
when a time-stamp is asked for or checked, each time inside :func:`esign.thirdparty.quiet_imports`.
Each check runs in a fresh interpreter (an import happens once per process) with warnings shown.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

from esign.pki import DevPKI


def stderr_of(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_time_stamp_asked_and_checked_through_esign_trust_prints_no_warning(dev_pki: DevPKI) -> None:
    stderr = stderr_of(f"""
        import esign.trust
        message = b"esign"
        stamp = esign.trust.http_timestamper({dev_pki.tsa_url!r})  # loads pyhanko.sign.timestamps
        token = esign.trust.token_bytes(stamp(__import__("hashlib").sha256(message).digest(), "sha256"))
        anchors = esign.trust.load_certificates({str(dev_pki.root_pem_path)!r})
        info = esign.trust.check_timestamp_token(token, esign.trust.imprint_of(message), anchors=anchors)
        assert info.valid, info
    """)
    assert "DSA is deprecated" not in stderr, stderr
    assert "Warning" not in stderr, stderr


def test_checking_a_token_first_prints_no_warning(dev_pki: DevPKI) -> None:
    # Here pyhanko.sign is first imported by check_timestamp_token (esign.trust.timestamps).
    from esign.trust import http_timestamper, token_bytes

    message = b"esign"
    token = token_bytes(http_timestamper(dev_pki.tsa_url)(hashlib.sha256(message).digest(), "sha256"))
    stderr = stderr_of(f"""
        import sys
        from esign.trust import check_timestamp_token, imprint_of
        info = check_timestamp_token({token!r}, imprint_of({message!r}))
        assert info.valid, info
        assert "pyhanko.sign" in sys.modules
    """)
    assert "DSA is deprecated" not in stderr, stderr
    assert "Warning" not in stderr, stderr
