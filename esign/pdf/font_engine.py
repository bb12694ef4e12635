"""pyHanko font engines over a bundled font's bytes, read once per process, with no file left open.

pyHanko's ``GlyphAccumulatorFactory`` opens the font file for every engine it creates (each visible
signature, each printed report) and never closes it. :class:`BundledFont` is the same factory through
pyHanko's public ``FontEngineFactory`` interface, over the bytes instead of an open file.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyhanko.pdf_utils.font.api import FontEngineFactory

if TYPE_CHECKING:
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
    from pyhanko.pdf_utils.writer import BasePdfFileWriter


@functools.cache
def font_bytes(path: str) -> bytes:
    """The bytes of the font file at ``path`` (read once; the bundled fonts never change while running)."""
    return Path(path).read_bytes()


@dataclass(frozen=True)
class BundledFont(FontEngineFactory):
    """A TrueType/OpenType font for pyHanko text boxes, subset and embedded into each PDF it writes."""

    font_file: str
    """Path to the font (one of the fonts shipped in ``esign/pdf/fonts``)."""
    font_size: int = 10

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> GlyphAccumulator:
        """A glyph accumulator for ``writer`` (in an object stream when the writer uses them, as pyHanko does)."""
        # fontTools' subsetter (~90 ms to import) loads only when a visible signature or a report is drawn
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulator

        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(font_bytes(self.font_file)),
            font_size=self.font_size,
            obj_stream=obj_stream,
        )
