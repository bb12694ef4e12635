"""Regenerate tests/interop/pdf/data with stock pyHanko (no esign code), an openssl-made key and the
project's sample PDF writer. Kept for provenance; the committed files are what the tests read.

    openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 36500 \
        -subj "/CN=pyHanko CLI interop signer/O=Interop/C=VN" \
        -addext "keyUsage=critical,digitalSignature,nonRepudiation"
    python tests/interop/pdf/make_samples.py key.pem cert.pem
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "esign" / "pdf"))
from samples import make_pdf

DATA = Path(__file__).parent / "data"


def main(key: str, cert: str) -> None:
    signer = signers.SimpleSigner.load(key, cert)
    assert signer is not None
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(make_pdf(1, text="Interop"))),
        signers.PdfSignatureMetadata(field_name="Sig1", subfilter=SigSeedSubFilter.PADES),
        signer=signer,
    )
    signed = out.getvalue()
    (DATA / "pyhanko-pades-bb.pdf").write_bytes(signed)
    tampered = bytearray(signed)
    tampered[signed.index(b"Interop 1")] = ord("X")  # inside the first signed byte range
    (DATA / "pyhanko-pades-bb-tampered.pdf").write_bytes(bytes(tampered))
    (DATA / "pyhanko-signer.pem").write_bytes(Path(cert).read_bytes())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
