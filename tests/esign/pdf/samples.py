"""Small PDFs written from scratch (no tool of ours involved), for signing tests and the bench."""

from __future__ import annotations


def make_pdf(pages: int = 1, *, text: str = "Hello", blob_size: int = 0) -> bytes:
    """A valid PDF with ``pages`` pages of text and, if ``blob_size``, an embedded stream that big.

    The blob is an embedded file stream referenced from the catalog, the usual way a large PDF
    carries attachments or scans.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for n in range(pages):
        content = f"BT /F1 24 Tf 72 720 Td ({text} {n + 1}) Tj ET".encode()
        stream = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, stream, font)
            )
        )
    extra = b""
    if blob_size:
        blob = (bytes(range(256)) * (blob_size // 256 + 1))[:blob_size]
        blob_id = add(b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(blob) + blob + b"\nendstream")
        spec = add(b"<< /Type /Filespec /F (data.bin) /UF (data.bin) /EF << /F %d 0 R >> >>" % blob_id)
        extra = b" /Names << /EmbeddedFiles << /Names [(data.bin) %d 0 R] >> >>" % spec
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_id, extra)
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
