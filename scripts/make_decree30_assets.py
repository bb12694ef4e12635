"""Build the Decree 30 assets: the serif font shipped in esign/pdf/fonts and the sample images.

Run from the repository root: ``.venv/bin/python scripts/make_decree30_assets.py``.

- ``esign/pdf/fonts/EsignSerif-upm1000.ttf``: Tinos 1.33 (Debian ``fonts-croscore``, SIL OFL 1.1),
  metric-compatible with Times New Roman and covering every Vietnamese letter, rescaled to 1000 units
  per em (pyHanko writes widths in font units, see fonts/README.md) and renamed "Esign Serif", since
  a modified font should not carry the original's name.
- ``samples/decree30/chu-ky.png``: a blue handwritten-looking signature on a transparent background.
- ``samples/decree30/con-dau.png``: a red round seal, 36 mm across at the 300 dpi the file declares.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
TINOS = Path("/usr/share/fonts/truetype/croscore/Tinos-Regular.ttf")
TINOS_BOLD = Path("/usr/share/fonts/truetype/croscore/Tinos-Bold.ttf")
OFL = Path("/usr/share/doc/fonts-croscore/copyright")
DPI = 300
BLUE = (20, 40, 160, 255)
RED = (215, 25, 32, 255)


def build_font() -> None:
    """Rescale and rename Tinos into the package's fonts folder."""
    font = TTFont(str(TINOS))
    scale_upem(font, 1000)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 4, 16):
            names.setName(
                "Esign Serif" + (" Regular" if record.nameID == 4 else ""),
                record.nameID,
                record.platformID,
                record.platEncID,
                record.langID,
            )
        elif record.nameID in (3, 6):
            names.setName("EsignSerif-Regular", record.nameID, record.platformID, record.platEncID, record.langID)
    out = ROOT / "esign/pdf/fonts/EsignSerif-upm1000.ttf"
    font.save(str(out))
    shutil.copyfile(OFL, ROOT / "esign/pdf/fonts/LICENSE-Tinos-copyright.txt")


def build_signature(path: Path) -> None:
    """Two pen strokes: a looping name-like curve and an underline flourish, 60 x 22 mm."""
    width, height = round(60 / 25.4 * DPI), round(22 / 25.4 * DPI)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = []
    for i in range(400):
        t = i / 399
        x = 0.06 * width + t * 0.78 * width
        y = (
            0.45 * height
            - 0.22 * height * math.sin(t * 5.5 * math.pi) * (1 - 0.4 * t)
            + 0.08 * height * math.cos(t * 17 * math.pi)
        )
        points.append((x, y))
    draw.line(points, fill=BLUE, width=9, joint="curve")
    flourish = [
        (0.10 * width + t * 0.85 * width, 0.78 * height - 0.10 * height * math.sin(t * math.pi))
        for t in (i / 99 for i in range(100))
    ]
    draw.line(flourish, fill=BLUE, width=7, joint="curve")
    image.save(path, dpi=(DPI, DPI))


def _ring_text(
    image: Image.Image, text: str, radius: float, size: int, start: float, end: float, *, bottom: bool = False
) -> None:
    """Letters of ``text`` along an arc from ``start`` to ``end`` degrees (clockwise from the top);
    ``bottom`` keeps them upright for a reader, as on the lower rim of a seal."""
    font = ImageFont.truetype(str(TINOS_BOLD), size)
    centre = image.width / 2
    for k, letter in enumerate(text):
        angle = start + (end - start) * (k + 0.5) / len(text)
        glyph = Image.new("RGBA", (size * 2, size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((size, size), letter, font=font, fill=RED, anchor="mm")
        glyph = glyph.rotate(-(angle - 180 if bottom else angle), resample=Image.Resampling.BICUBIC)
        rad = math.radians(angle)
        x = centre + radius * math.sin(rad) - size
        y = centre - radius * math.cos(rad) - size
        image.alpha_composite(glyph, (round(x), round(y)))


def build_seal(path: Path) -> None:
    """A round seal: two rings, the agency's name around, the province at the bottom, a star."""
    side = round(36 / 25.4 * DPI)
    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, side - 5, side - 5), outline=RED, width=10)
    draw.ellipse((side * 0.2, side * 0.2, side * 0.8, side * 0.8), outline=RED, width=5)
    _ring_text(image, "UBND TỈNH QUẢNG NINH", side * 0.39, 34, -110, 110)
    _ring_text(image, "* Q.NINH *", side * 0.39, 30, 215, 145, bottom=True)
    font = ImageFont.truetype(str(TINOS_BOLD), 40)
    draw.text((side / 2, side / 2 - 28), "SỞ", font=font, fill=RED, anchor="mm")
    draw.text((side / 2, side / 2 + 24), "TƯ PHÁP", font=font, fill=RED, anchor="mm")
    image.save(path, dpi=(DPI, DPI))


def main() -> None:
    """Write every asset."""
    build_font()
    folder = ROOT / "samples/decree30"
    folder.mkdir(parents=True, exist_ok=True)
    build_signature(folder / "chu-ky.png")
    build_seal(folder / "con-dau.png")


if __name__ == "__main__":
    main()
