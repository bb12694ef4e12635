"""The phone's new server work against a peer measured in the same run (issue 26).

    .venv/bin/python bench/phone_bench.py [--runs 15] [--assertions 500]

Prints medians and ratios:
- a document page for the preview: PDFium (pypdfium2, what the server uses, 720 px wide + PNG) against
  Poppler's ``pdftoppm`` rendering the same page at the same width to PNG (a process per page, as the
  Decree 30 region preview does);
- a confirmation check: py_webauthn ``verify_authentication_response`` (P-256, user verification
  required) against pyotp ``TOTP.verify``, per second, one core; the two take turns in rounds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cbor2
import pyotp
import pypdfium2
from webauthn import verify_authentication_response
from webauthn.helpers import bytes_to_base64url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from webauthn_soft import SoftAuthenticator  # noqa: E402  (the tests' software authenticator)

LETTER = ROOT / "samples" / "cong-van.pdf"
WIDTH = 720


def render_pdfium(data: bytes) -> int:
    """Page 1 at WIDTH px with its form fields, to PNG; the PNG's size."""
    pdf = pypdfium2.PdfDocument(data)
    pdf.init_forms()
    page = pdf[0]
    width, _height = page.get_size()
    out = io.BytesIO()
    page.render(scale=WIDTH / width).to_pil().save(out, format="PNG", optimize=True)
    pdf.close()
    return len(out.getvalue())


def render_pdftoppm(path: Path, target: Path) -> int:
    """Page 1 at WIDTH px by Poppler, to PNG; the PNG's size."""
    command = ["pdftoppm", "-q", "-png", "-singlefile", "-f", "1", "-l", "1", "-scale-to-x", str(WIDTH)]
    subprocess.run([*command, "-scale-to-y", "-1", str(path), str(target)], check=True)
    return target.with_suffix(".png").stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--assertions", type=int, default=500)
    args = parser.parse_args()

    data = LETTER.read_bytes()
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "page"
        for n in range(args.runs):
            for which in (0, 1) if n % 2 else (1, 0):  # alternate who goes first
                started = time.perf_counter()
                if which == 0:
                    size_ours = render_pdfium(data)
                    ours.append(time.perf_counter() - started)
                else:
                    size_peer = render_pdftoppm(LETTER, target)
                    peer.append(time.perf_counter() - started)
    a, b = statistics.median(ours), statistics.median(peer)
    print(
        f"page preview, {LETTER.name} p.1 at {WIDTH} px: pypdfium2 {a * 1000:.1f} ms ({size_ours} B PNG), "
        f"pdftoppm {b * 1000:.1f} ms ({size_peer} B); pypdfium2 / pdftoppm time = {a / b:.2f}"
    )

    authenticator = SoftAuthenticator("localhost", "http://localhost")
    numbers = authenticator.key.public_key().public_numbers()
    cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
    challenge = bytes(32)
    answers = [authenticator.assertion(bytes_to_base64url(challenge)) for _ in range(args.assertions)]
    totp = pyotp.TOTP(pyotp.random_base32())
    code = totp.now()
    passkey_rates, totp_rates = [], []
    for _round in range(5):
        started = time.perf_counter()
        for count, answer in enumerate(answers):
            verify_authentication_response(
                credential=answer,
                expected_challenge=challenge,
                expected_rp_id="localhost",
                expected_origin="http://localhost",
                credential_public_key=cose,
                credential_current_sign_count=count,
                require_user_verification=True,
            )
        passkey_rates.append(len(answers) / (time.perf_counter() - started))
        started = time.perf_counter()
        for _ in range(len(answers)):
            totp.verify(code, valid_window=1)
        totp_rates.append(len(answers) / (time.perf_counter() - started))
    p, t = statistics.median(passkey_rates), statistics.median(totp_rates)
    print(f"confirmation check: passkey assertion {p:,.0f}/s, TOTP {t:,.0f}/s; passkey / TOTP = {p / t:.3f}")


if __name__ == "__main__":
    main()
