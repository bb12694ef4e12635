"""QR codes for enrollment: PNG (pure Python, pypng) and SVG."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.pure
import qrcode.image.svg


def qr_png(text: str) -> bytes:
    """A PNG image of ``text`` as a QR code."""
    image = qrcode.make(text, image_factory=qrcode.image.pure.PyPNGImage, box_size=6, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_svg(text: str) -> str:
    """An SVG image of ``text`` as a QR code."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()
