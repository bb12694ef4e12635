"""Official documents signed as Decree 30/2020/NĐ-CP (Annex I) prescribes: the person, then the agency.

Five presets:

``decree30.person``
    The competent person's signature: their handwritten signature image (blue PNG with
    transparency), centred between the position line (``GIÁM ĐỐC``) and the printed full name.
``decree30.agency``
    The agency's signature, applied by the clerk after the person's: the seal image (red PNG with
    transparency) at its real size, covering about one third of the person's signature image on its
    left, with the agency's name and the signing time in ISO 8601 with the Vietnamese offset
    (``2026-12-07T09:15:30+07:00``) under it.
``decree30.attachment`` / ``decree30.copy``
    The agency's signature on an attachment in a separate file, or on an electronic copy (``SAO Y``,
    ``SAO LỤC``, ``TRÍCH SAO``): no image, at the top right of the first page, in Times New Roman
    10 pt (the metric-compatible Esign Serif, i.e. Tinos, is embedded), regular, upright, black: the
    document number (attachment) or the copy form and the copying agency (copy), and the time.
``decree30.scan``
    The agency's signature on a digitised paper document: the seal image (red PNG with
    transparency, real size) at the top right of the first page, the agency's name and the time
    (ISO 8601, ``+07:00``) under it in Times New Roman 10 pt, black. Nobody needs to have signed
    before: the paper original carries the handwritten signature.

Where the person's mark goes is found in the document: a marker string left by the drafting
system in the blank space of the signature block, the printed full name (by default the name in
the signer's certificate) with the line above it, an existing empty signature field, or an
explicit page and rectangle. Each signature is a PAdES signature in its own incremental update,
so the agency's leaves the person's valid and intact.

>>> sign_decree30("letter.pdf", "signed.pdf", person, preset="decree30.person",
...               image="chu-ky.png")  # doctest: +SKIP
>>> sign_decree30("signed.pdf", "issued.pdf", agency, preset="decree30.agency",
...               image="con-dau.png")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.layout import AxisAlignment, BoxConstraints, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import StaticStampStyle, TextStampStyle

from esign.errors import InvalidInput
from esign.identity import SignerIdentity, SignerKind
from esign.pdf.appearance import VIETNAM_TIME, StampAppearance
from esign.pdf.context import TrustSource, boundary, read_all
from esign.pdf.workspace import PdfSource, PdfTarget
from esign.report import ValidationReport
from esign.signers.base import Signer

PERSON = "decree30.person"
AGENCY = "decree30.agency"
ATTACHMENT = "decree30.attachment"
COPY = "decree30.copy"
SCAN = "decree30.scan"
PRESETS = (PERSON, AGENCY, ATTACHMENT, COPY, SCAN)
COPY_FORMS = ("SAO Y", "SAO LỤC", "TRÍCH SAO")

MM = 72 / 25.4
"""PDF points per millimetre."""
TEXT_SIZE = 10
"""Times New Roman 10 pt: the attachment and copy text (Annex I)."""
AGENCY_TEXT_SIZE = 7
"""The agency's name and time under the seal: small enough not to crowd the signature block."""
TOP_RIGHT_MARGIN = (20 * MM, 4 * MM)
"""Distance of the attachment/copy text from the right edge and from the top of the first page."""
MAX_SIGNATURE_WIDTH = 70 * MM
"""A signature image is never drawn wider than this, whatever the gap in the block."""
MAX_IMAGE_PIXELS = 4000 * 4000
MAX_IMAGE_BYTES = 5 * 1024 * 1024


def serif_font_path() -> Path:
    """The bundled Times New Roman metric-compatible font (Tinos as "Esign Serif"; SIL OFL 1.1)."""
    return Path(str(resources.files("esign.pdf") / "fonts" / "EsignSerif-upm1000.ttf"))


@dataclass(frozen=True)
class Position:
    """An explicit place: ``page`` counts from 1 (``-1`` the last), ``box`` is ``(x1, y1, x2, y2)`` in points."""

    page: int
    box: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box
        if self.page == 0 or x2 <= x1 or y2 <= y1:
            raise InvalidInput(f"a position is a page from 1 (or -1) and a box x1<x2, y1<y2, got {self}")

    @classmethod
    def parse(cls, text: str) -> Position:
        """The CLI form ``PAGE:x1,y1,x2,y2``."""
        try:
            page, _, box = text.partition(":")
            x1, y1, x2, y2 = (float(v) for v in box.split(","))
            return cls(int(page), (x1, y1, x2, y2))
        except ValueError as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(f"a position is PAGE:x1,y1,x2,y2, got {text!r}") from None


@dataclass(frozen=True)
class TextLine:
    """One line of text on a page, with its box in points (origin bottom left)."""

    page: int
    text: str
    box: tuple[float, float, float, float]
    chars: tuple[tuple[str, tuple[float, float, float, float] | None], ...] = field(repr=False, default=())


@dataclass(frozen=True)
class Plan:
    """What a preset will draw and where: the appearance and a description for previews and logs."""

    preset: str
    appearance: StampAppearance
    field_name: str | None = None
    """An existing empty field the signature goes into, if the position came from one."""
    image_box: tuple[float, float, float, float] | None = None
    """Where the image (signature or seal) lands, in page coordinates."""
    lines: tuple[str, ...] = ()
    """The text lines drawn, with the signing time as it will appear."""


# --- reading the document -------------------------------------------------------------------------


def text_lines(data: bytes, page: int | None = None) -> list[TextLine]:
    """Every text line of the PDF (or of ``page``, from 1) with its position, via pdfminer.six's
    layout analysis."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTAnno, LTChar, LTFigure, LTTextContainer, LTTextLine

    def lines_in(item: Any) -> Iterator[Any]:
        if isinstance(item, LTTextLine):
            yield item
        elif isinstance(item, LTTextContainer | LTFigure):  # drafting tools often put text in forms
            for child in item:
                yield from lines_in(child)

    result: list[TextLine] = []
    with boundary("finding text in the PDF"):
        pages = extract_pages(
            io.BytesIO(data), laparams=LAParams(all_texts=True), page_numbers=None if page is None else [page - 1]
        )
        for index, layout in enumerate(pages, start=1):
            number = index if page is None else page
            for element in layout:
                for line in lines_in(element):
                    chars: list[tuple[str, tuple[float, float, float, float] | None]] = []
                    for ch in line:
                        if isinstance(ch, LTChar):
                            chars.append((ch.get_text(), (ch.x0, ch.y0, ch.x1, ch.y1)))
                        elif isinstance(ch, LTAnno):
                            chars.append((ch.get_text(), None))
                    text = "".join(c for c, _ in chars)
                    result.append(TextLine(number, text.strip(), (line.x0, line.y0, line.x1, line.y1), tuple(chars)))
    return result


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def find_text(lines: Iterable[TextLine], needle: str) -> list[TextLine]:
    """The places ``needle`` occurs (Unicode-normalised, case and spacing ignored), each as a TextLine
    whose box is the needle's own; in document order."""
    wanted = _norm(needle)
    if not wanted:
        raise InvalidInput("the text to look for is empty")
    hits: list[TextLine] = []
    for line in lines:
        # Map each character of the normalised line back to a glyph box.
        flat: list[tuple[str, tuple[float, float, float, float] | None]] = []
        for text, box in line.chars:
            for c in unicodedata.normalize("NFC", text):
                if c.isspace():
                    if flat and flat[-1][0] != " ":
                        flat.append((" ", None))
                elif unicodedata.combining(c) and flat and flat[-1][1] is not None:
                    # A mark drawn as its own glyph (decomposed text): fold it into its letter.
                    letter, letter_box = flat[-1]
                    composed = unicodedata.normalize("NFC", letter + c)
                    if len(composed) == 1:
                        flat[-1] = (composed.casefold(), letter_box)
                else:
                    flat.append((c.casefold(), box))
        haystack = "".join(c for c, _ in flat)
        start = haystack.find(wanted)
        while start >= 0:
            boxes = [b for _, b in flat[start : start + len(wanted)] if b is not None]
            if boxes:
                box = (
                    min(b[0] for b in boxes),
                    min(b[1] for b in boxes),
                    max(b[2] for b in boxes),
                    max(b[3] for b in boxes),
                )
                hits.append(TextLine(line.page, needle, box))
            start = haystack.find(wanted, start + 1)
    return hits


def _gap(lines: list[TextLine], anchor: TextLine, *, below_anchor: bool) -> tuple[float, float]:
    """The free vertical span around ``anchor`` in its column: from the nearest line below (or the
    anchor itself when ``below_anchor``) up to the nearest line above."""
    ax1, ay1, ax2, ay2 = anchor.box
    centre = (ax1 + ax2) / 2

    def same_column(line: TextLine) -> bool:
        return line.page == anchor.page and line.box[0] <= centre <= line.box[2] and line.text != ""

    above = [ln.box[1] for ln in lines if same_column(ln) and ln.box[1] >= ay2 - 0.5]
    top = min(above) if above else ay2 + 60
    if below_anchor:
        return ay2, top
    below = [ln.box[3] for ln in lines if same_column(ln) and ln.box[3] <= ay1 + 0.5]
    bottom = max(below) if below else ay1 - 60
    return bottom, top


def _page_sizes(reader: PdfFileReader) -> list[tuple[float, float]]:
    sizes = []
    count = int(reader.root["/Pages"]["/Count"])
    for index in range(count):
        page_ref, _ = reader.find_page_for_modification(index)
        box = page_ref.get_object()["/MediaBox"]
        sizes.append((float(box[2]) - float(box[0]), float(box[3]) - float(box[1])))
    return sizes


def _annotation_pages(reader: PdfFileReader) -> dict[tuple[int, int], int]:
    """Each annotation reference on a page's /Annots, with its page (from 1): where viewers draw it."""
    pages: dict[tuple[int, int], int] = {}
    count = int(reader.root["/Pages"]["/Count"])
    for index in range(count):
        page_ref, _ = reader.find_page_for_modification(index)
        annots = page_ref.get_object().get("/Annots", generic.ArrayObject())
        for i in range(len(annots)):
            ref = annots.raw_get(i)
            if isinstance(ref, generic.IndirectObject):
                pages.setdefault((ref.idnum, ref.generation), index + 1)
    return pages


@dataclass(frozen=True)
class SignatureWidget:
    """A signature field as drawn: its name, page, rectangle, whether it is signed."""

    name: str
    page: int
    box: tuple[float, float, float, float]
    signed: bool
    has_image: bool


def signature_widgets(data: bytes) -> list[SignatureWidget]:
    """Every signature field with a visible widget, in the order of the form's field list."""
    from pyhanko.sign.fields import enumerate_sig_fields

    found: list[SignatureWidget] = []
    with boundary("reading the signature fields"):
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        on_page = _annotation_pages(reader)
        for name, value, ref in enumerate_sig_fields(reader, filled_status=None):
            obj = ref.get_object()
            widget_ref = ref if "/Rect" in obj else obj["/Kids"].raw_get(0) if "/Kids" in obj else None
            if not isinstance(widget_ref, generic.IndirectObject):
                continue
            page = on_page.get((widget_ref.idnum, widget_ref.generation))
            widget = widget_ref.get_object()
            if page is None or "/Rect" not in widget:
                continue  # drawn nowhere
            x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
            box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            found.append(SignatureWidget(str(name), page, box, value is not None, _has_image(widget)))
    return found


def _has_image(widget: generic.DictionaryObject) -> bool:
    """Whether the widget's normal appearance draws an image XObject (at any depth of forms)."""
    try:
        appearance = widget["/AP"]["/N"].get_object()
    except KeyError:
        return False
    seen: set[int] = set()

    def walk(xobject: Any, depth: int) -> bool:
        if depth > 8 or id(xobject) in seen:
            return False
        seen.add(id(xobject))
        if xobject.get("/Subtype") == "/Image":
            return True
        children = xobject.get("/Resources", generic.DictionaryObject()).get("/XObject", generic.DictionaryObject())
        return any(walk(child.get_object(), depth + 1) for child in children.values())

    return walk(appearance, 0)


# --- images ---------------------------------------------------------------------------------------


def load_image(source: str | Path | bytes, *, what: str) -> Image.Image:
    """An RGBA image from a PNG file or bytes, refused when it is not a reasonable transparent PNG."""
    data = source if isinstance(source, bytes) else _read_file(Path(source), what)
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"the {what} image is over {MAX_IMAGE_BYTES // 1024 // 1024} MB")
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InvalidInput(f"the {what} image must be a PNG (Decree 30: .png with a transparent background)")
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_IMAGE_PIXELS:
            raise InvalidInput(f"the {what} image is too large ({image.width}x{image.height} pixels)")
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"the {what} image cannot be read: {exc}") from None
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        raise InvalidInput(f"the {what} image has no transparency (Decree 30 asks for a transparent background)")
    rgba = image.convert("RGBA")
    rgba.info["dpi"] = image.info.get("dpi")
    return rgba


def _read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} image {path}: {exc.strerror}") from None


def real_size(image: Image.Image, width_mm: float | None) -> tuple[float, float]:
    """The image's size in points: ``width_mm`` wide if given, else from the DPI the PNG declares."""
    if width_mm is not None:
        if not 5 <= width_mm <= 100:
            raise InvalidInput(f"a seal {width_mm} mm wide is not plausible (5 to 100 mm)")
        width = width_mm * MM
        return width, width * image.height / image.width
    dpi = image.info.get("dpi")
    if not dpi or not dpi[0] or not dpi[1]:
        raise InvalidInput("the seal image declares no resolution (pHYs): give its real width in mm")
    return image.width * 72 / float(dpi[0]), image.height * 72 / float(dpi[1])


# --- fonts and text -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _advances() -> tuple[dict[int, str], dict[str, int]]:
    # fontTools is imported where text is measured or drawn: `esign pdf verify` reads this module to
    # name presets and should not load the font code (issue 21, item 24; tests/esign/test_startup.py).
    from fontTools.ttLib import TTFont

    font = TTFont(str(serif_font_path()))
    return font.getBestCmap(), {name: adv for name, (adv, _lsb) in font["hmtx"].metrics.items()}


def text_width(text: str, size: float) -> float:
    """The width of ``text`` in points in the bundled serif font (1000 units per em)."""
    cmap, advances = _advances()
    units = sum(advances.get(cmap.get(ord(c), ".notdef"), 500) for c in unicodedata.normalize("NFC", text))
    return units * size / 1000


def iso_time(moment: datetime) -> str:
    """ISO 8601 in Vietnam time, to the second: ``2026-12-07T09:15:30+07:00``."""
    if moment.tzinfo is None:
        raise InvalidInput("the signing time needs a time zone")
    return moment.astimezone(VIETNAM_TIME).isoformat(timespec="seconds")


def _text_style(template: str, size: int, *, layout: SimpleBoxLayoutRule, **kwargs: Any) -> TextStampStyle:
    from esign.pdf.font_engine import BundledFont

    font = BundledFont(str(serif_font_path()), font_size=size)
    return TextStampStyle(
        stamp_text=template,
        # No inner margin: the box is measured to the text (pyHanko's default adds 10 pt and shrinks).
        text_box_style=TextBoxStyle(
            font=font,
            font_size=size,
            leading=round(size * 1.2),
            box_layout_rule=SimpleBoxLayoutRule(
                x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MAX, margins=Margins()
            ),
        ),
        border_width=0,
        inner_content_layout=layout,
        **kwargs,
    )


def _seal_style(template: str, size: int, seal: Image.Image, width: float, height: float) -> TextStampStyle:
    """The agency seal and the scan stamp: the seal at ``width`` x ``height`` pt, unscaled, centred at
    the top of the box, and the text lines centred under it."""
    return _text_style(
        template,
        size,
        layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MIN,
            margins=Margins(bottom=2),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
        ),
        background=PdfImage(seal, box=BoxConstraints(width=width, height=height)),
        background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(),
            inner_content_scaling=InnerScaling.NO_SCALING,
        ),
    )


def _params(lines: list[str]) -> tuple[str, dict[str, str]]:
    """A pyHanko template whose values travel as parameters (a ``%`` in a name cannot break it)."""
    params = {f"line{i}": unicodedata.normalize("NFC", text) for i, text in enumerate(lines)}
    return "\n".join(f"%(line{i})s" for i in range(len(lines))), params


# --- the presets ----------------------------------------------------------------------------------


def plan(
    data: bytes,
    certificate: x509.Certificate,
    *,
    preset: str,
    image: str | Path | bytes | None = None,
    marker: str | None = None,
    field_name: str | None = None,
    position: Position | None = None,
    signer_name: str | None = None,
    over_field: str | None = None,
    seal_width_mm: float | None = None,
    agency_name: str | None = None,
    document_number: str | None = None,
    copy_form: str | None = None,
    signing_time: datetime | None = None,
) -> Plan:
    """Work out what ``preset`` draws on the PDF ``data`` for ``certificate``, without signing.

    :param image: the signature (person) or seal (agency, scan) PNG, a path or bytes.
    :param marker: person: a placeholder string left in the blank space of the signature block.
    :param field_name: person: an existing empty signature field to sign into.
    :param position: an explicit page and rectangle (person: the image's box; agency: the seal's box).
    :param signer_name: person: the printed full name to look for (default: the certificate's CN).
    :param over_field: agency: the signed field whose image the seal covers (default: the last signed
        field that draws an image).
    :param seal_width_mm: agency/scan: the seal's real width, when the PNG declares no resolution.
    :param agency_name: agency/copy/scan: the name shown (default: the certificate's organization).
    :param document_number: attachment: the number and notation of the document it belongs to.
    :param copy_form: copy: ``SAO Y``, ``SAO LỤC`` or ``TRÍCH SAO``.
    :param signing_time: the time shown (default: now); shown in ISO 8601 with +07:00.
    :raises InvalidInput: an unknown preset, a missing or bad image, a position not found.
    """
    if preset not in PRESETS:
        raise InvalidInput(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    moment = iso_time(signing_time or datetime.now(VIETNAM_TIME))
    if preset == PERSON:
        if image is None:
            raise InvalidInput("decree30.person needs the signer's signature image (PNG)")
        return _plan_person(
            data,
            certificate,
            load_image(image, what="signature"),
            marker=marker,
            field_name=field_name,
            position=position,
            signer_name=signer_name,
        )
    identity = SignerIdentity.from_certificate(certificate)
    agency = agency_name or identity.organization or identity.name
    if preset == AGENCY:
        if image is None:
            raise InvalidInput("decree30.agency needs the agency's seal image (PNG)")
        return _plan_agency(
            data,
            load_image(image, what="seal"),
            agency,
            moment,
            position=position,
            over_field=over_field,
            seal_width_mm=seal_width_mm,
        )
    if preset == SCAN:
        if image is None:
            raise InvalidInput("decree30.scan needs the agency's seal image (PNG)")
        return _plan_scan(data, load_image(image, what="seal"), agency, moment, seal_width_mm=seal_width_mm)
    if preset == ATTACHMENT:
        if not document_number:
            raise InvalidInput("decree30.attachment needs the number and notation of the document it belongs to")
        lines = [document_number, moment]
    else:
        form = unicodedata.normalize("NFC", (copy_form or "").strip()).upper()
        if form not in COPY_FORMS:
            raise InvalidInput(f"decree30.copy needs a copy form: one of {', '.join(COPY_FORMS)}")
        lines = [form, agency, moment]
    return _plan_top_right(data, preset, lines)


def _plan_person(
    data: bytes,
    certificate: x509.Certificate,
    image: Image.Image,
    *,
    marker: str | None,
    field_name: str | None,
    position: Position | None,
    signer_name: str | None,
) -> Plan:
    aspect = image.width / image.height
    if field_name is not None:
        widget = next((w for w in signature_widgets(data) if w.name == field_name), None)
        if widget is None or widget.signed:
            raise InvalidInput(f"no empty visible signature field named {field_name!r} in the document")
        page, target = widget.page, widget.box
    elif position is not None:
        page, target = position.page, position.box
    else:
        needle = marker if marker is not None else signer_name or SignerIdentity.from_certificate(certificate).name
        lines, hits = _last_page_with(data, needle)
        if not hits:
            if marker is not None:
                raise InvalidInput(f"the marker {marker!r} is not in the document")
            raise InvalidInput(
                f"the signer's printed name {needle!r} is not in the document: give a marker, a field or a position"
            )
        anchor = hits[-1]  # the signature block closes the document
        if marker is not None:
            others = [ln for ln in lines if _norm(marker) not in _norm(ln.text)]
            bottom, top = _gap(others, anchor, below_anchor=False)
        else:
            bottom, top = _gap(lines, anchor, below_anchor=True)
        centre = (anchor.box[0] + anchor.box[2]) / 2
        page = anchor.page
        height = (top - bottom) * 0.9
        width = min(height * aspect, MAX_SIGNATURE_WIDTH)
        height = width / aspect
        if height < 8:
            raise InvalidInput("the signature block leaves no room for the signature image")
        middle = (top + bottom) / 2
        target = (centre - width / 2, middle - height / 2, centre + width / 2, middle + height / 2)
    box = _fit(target, aspect) if field_name is None else target
    style = StaticStampStyle(
        background=PdfImage(image, box=BoxConstraints(width=image.width, height=image.height)),
        background_opacity=1.0,
        border_width=0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
        ),
    )
    appearance = StampAppearance(page, None if field_name else box, style)
    return Plan(PERSON, appearance, field_name=field_name, image_box=_fit(box, aspect))


def _last_page_with(data: bytes, needle: str) -> tuple[list[TextLine], list[TextLine]]:
    """The lines of the last page where ``needle`` occurs and its occurrences there, searching from the
    end (the signature block closes a document; most searches read one page)."""
    with boundary("reading the PDF"):
        count = len(_page_sizes(PdfFileReader(io.BytesIO(data), strict=False)))
    for number in range(count, 0, -1):
        lines = text_lines(data, number)
        hits = find_text(lines, needle)
        if hits:
            return lines, hits
    return [], []


def _fit(box: tuple[float, float, float, float], aspect: float) -> tuple[float, float, float, float]:
    """The largest box of ``aspect`` (width/height) centred in ``box``, on whole points (pyHanko's
    field rectangles are integers)."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    if width / height > aspect:
        width = height * aspect
    else:
        height = width / aspect
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return (round(cx - width / 2), round(cy - height / 2), round(cx + width / 2), round(cy + height / 2))


def _plan_agency(
    data: bytes,
    seal: Image.Image,
    agency: str,
    moment: str,
    *,
    position: Position | None,
    over_field: str | None,
    seal_width_mm: float | None,
) -> Plan:
    widgets = signature_widgets(data)
    signed = [w for w in widgets if w.signed]
    if not signed:
        raise InvalidInput(
            "decree30.agency signs a document the competent person has already signed: this one has no signature"
        )
    people = _signed_by_a_person(data)
    signed = [w for w in signed if w.name in people]
    if not signed:
        raise InvalidInput(
            "decree30.agency seals what the competent person signed: no intact signature by a person "
            "(a CCCD/CMND/passport certificate) is in this document"
        )
    width, height = real_size(seal, seal_width_mm)
    if position is not None:
        page = position.page
        x1, y1, x2, y2 = position.box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    else:
        if over_field is not None:
            target = next((w for w in signed if w.name == over_field), None)
            if target is None:
                raise InvalidInput(f"no signed visible field named {over_field!r} for the seal to cover")
        else:
            with_image = [w for w in signed if w.has_image]
            if not with_image:
                raise InvalidInput("no signed field shows a signature image for the seal to cover: give a position")
            target = with_image[-1]
        page = target.page
        sx1, sy1, sx2, sy2 = target.box
        # Annex I: the seal covers about one third of the signature image, on its left.
        right = sx1 + (sx2 - sx1) / 3
        cx, cy = right - width / 2, (sy1 + sy2) / 2
    lines = [agency, moment]
    leading = round(AGENCY_TEXT_SIZE * 1.2)
    text_height = leading * len(lines) + 4
    text_width_pt = max(text_width(line, AGENCY_TEXT_SIZE) for line in lines) + 6
    half = max(width, min(text_width_pt, width * 2.2)) / 2
    box = (round(cx - half), round(cy - height / 2 - text_height), round(cx + half), round(cy + height / 2))
    template, params = _params(lines)
    style = _seal_style(template, AGENCY_TEXT_SIZE, seal, width, height)
    image_box = (
        box[0] + (box[2] - box[0] - width) / 2,
        box[3] - height,
        box[0] + (box[2] - box[0] + width) / 2,
        box[3],
    )
    return Plan(AGENCY, StampAppearance(page, box, style, params), image_box=image_box, lines=tuple(lines))


def _signed_by_a_person(data: bytes) -> set[str]:
    """Fields whose signature is intact and cryptographically valid (no trust decision: that is the
    verifier's) and whose signer's certificate names a person."""
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    from esign.pdf.adapter import from_asn1

    names: set[str] = set()
    with boundary("reading the signatures"):
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        for sig in reader.embedded_regular_signatures:
            try:
                cert = sig.signer_cert
                intact, valid = validate_sig_integrity(sig.signer_info, cert, "data", sig.compute_digest())
            except (ValueError, KeyError, TypeError, AttributeError):  # pyHanko's SignatureValidationError too
                continue  # a damaged or forged signature is simply not a person's signature
            if intact and valid and role_of(from_asn1(cert)) == "person":
                names.add(sig.field_name)
    return names


def _plan_top_right(data: bytes, preset: str, lines: list[str]) -> Plan:
    with boundary("reading the PDF"):
        page_width, page_height = _page_sizes(PdfFileReader(io.BytesIO(data), strict=False))[0]
    leading = round(TEXT_SIZE * 1.2)
    width = max(text_width(line, TEXT_SIZE) for line in lines) + 4
    height = leading * len(lines) + 4
    right, top = page_width - TOP_RIGHT_MARGIN[0], page_height - TOP_RIGHT_MARGIN[1]
    box = (round(right - width), round(top - height), round(right), round(top))
    template, params = _params(lines)
    style = _text_style(
        template,
        TEXT_SIZE,
        layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(left=2, top=2),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
        ),
    )
    return Plan(preset, StampAppearance(1, box, style, params), lines=tuple(lines))


def _plan_scan(data: bytes, seal: Image.Image, agency: str, moment: str, *, seal_width_mm: float | None) -> Plan:
    """The seal at its real size at the top right of page 1, the agency and the time under it (10 pt)."""
    with boundary("reading the PDF"):
        page_width, page_height = _page_sizes(PdfFileReader(io.BytesIO(data), strict=False))[0]
    width, height = real_size(seal, seal_width_mm)
    lines = [agency, moment]
    leading = round(TEXT_SIZE * 1.2)
    text_height = leading * len(lines) + 4
    box_width = max(width, max(text_width(line, TEXT_SIZE) for line in lines) + 6)
    right, top = page_width - TOP_RIGHT_MARGIN[0], page_height - TOP_RIGHT_MARGIN[1]
    if box_width > right or height + text_height > top:
        raise InvalidInput("the seal and its text do not fit at the top right of the first page")
    box = (round(right - box_width), round(top - height - text_height), round(right), round(top))
    template, params = _params(lines)
    style = _seal_style(template, TEXT_SIZE, seal, width, height)
    middle = (box[0] + box[2]) / 2
    image_box = (middle - width / 2, box[3] - height, middle + width / 2, box[3])
    return Plan(SCAN, StampAppearance(1, box, style, params), image_box=image_box, lines=tuple(lines))


def sign_decree30(
    input: PdfSource,
    output: PdfTarget = None,
    signer: Signer | None = None,
    *,
    preset: str,
    image: str | Path | bytes | None = None,
    marker: str | None = None,
    field_name: str | None = None,
    position: Position | None = None,
    signer_name: str | None = None,
    over_field: str | None = None,
    seal_width_mm: float | None = None,
    agency_name: str | None = None,
    document_number: str | None = None,
    copy_form: str | None = None,
    level: str = "B-B",
    tsa_url: str | None = None,
    reason: str | None = None,
    location: str | None = None,
    trust: Iterable[TrustSource] | TrustSource | None = None,
    allow_fetching: bool = True,
) -> bytes | None:
    """Sign ``input`` with a Decree 30 preset (see the module docstring and :func:`plan`).

    The signature is a PAdES signature (``level`` as in :func:`esign.pdf.sign_pdf`) in a new
    incremental update; return the signed bytes when ``output`` is None.
    """
    from esign.pdf.signing import sign_pdf

    if signer is None:
        raise InvalidInput("sign_decree30 needs a signer (an esign.signers.Signer)")
    with boundary("reading the PDF to sign"):
        data = read_all(input)
    chosen = plan(
        data,
        signer.certificate,
        preset=preset,
        image=image,
        marker=marker,
        field_name=field_name,
        position=position,
        signer_name=signer_name,
        over_field=over_field,
        seal_width_mm=seal_width_mm,
        agency_name=agency_name,
        document_number=document_number,
        copy_form=copy_form,
    )
    return sign_pdf(
        data,
        output,
        signer,
        level=level,
        tsa_url=tsa_url,
        reason=reason,
        location=location,
        field_name=chosen.field_name,
        appearance=chosen.appearance,
        trust=trust,
        allow_fetching=allow_fetching,
    )


PREVIEW_TIMEOUT = 30
"""Seconds Poppler may take to render a preview."""


def preview(data: bytes, chosen: Plan, *, dpi: int = 100, margin: float = 40) -> bytes:
    """A PNG of the page region where ``chosen`` will draw, as it will look: for the phone to show
    where each mark goes before the signer confirms.

    The mark is stamped onto a throwaway copy (pyHanko's stamp API; the document is not changed and
    nothing is signed) and the region, ``margin`` points around the mark, is rendered with Poppler's
    ``pdftoppm``.

    :raises InvalidInput: the PDF cannot be read, or Poppler is missing or does not render in time.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.layout import BoxConstraints as Box

    if not 36 <= dpi <= 300:
        raise InvalidInput("a preview is rendered at 36 to 300 dpi")
    appearance = chosen.appearance
    box = appearance.box or chosen.image_box
    if box is None:
        raise InvalidInput("the plan has no box to preview")
    x1, y1, x2, y2 = box
    with boundary("drawing the preview"):
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        sizes = _page_sizes(writer.prev)
        page = appearance.page if appearance.page > 0 else len(sizes) + appearance.page + 1
        if not 1 <= page <= len(sizes):
            raise InvalidInput(f"the document has no page {appearance.page}")
        stamp = appearance.style.create_stamp(writer, Box(width=x2 - x1, height=y2 - y1), appearance.params)
        if stamp is None:
            raise InvalidInput("the plan's style draws nothing")
        stamp.apply(page - 1, round(x1), round(y1))
        drawn = io.BytesIO()
        writer.write(drawn)
    return render_region(drawn.getvalue(), page, box, dpi=dpi, margin=margin)


def render_region(
    data: bytes, page: int, box: tuple[float, float, float, float], *, dpi: int = 100, margin: float = 40
) -> bytes:
    """A PNG of ``box`` (points, page from 1) and ``margin`` points around it, rendered with Poppler's
    ``pdftoppm``: e.g. the signature area of a document prepared for signing, as it will be signed.

    :raises InvalidInput: no such page, a bad resolution, or Poppler missing or not rendering in time.
    """
    import subprocess
    import tempfile

    if not 36 <= dpi <= 300:
        raise InvalidInput("a preview is rendered at 36 to 300 dpi")
    with boundary("reading the PDF"):
        sizes = _page_sizes(PdfFileReader(io.BytesIO(data), strict=False))
    if not 1 <= page <= len(sizes):
        raise InvalidInput(f"the document has no page {page}")
    x1, y1, x2, y2 = box
    width, height = sizes[page - 1]
    scale = dpi / 72
    left, top = max(0.0, x1 - margin), max(0.0, height - y2 - margin)
    right, bottom = min(width, x2 + margin), min(height, height - y1 + margin)
    with tempfile.TemporaryDirectory(prefix="esign-preview-") as tmp:
        source, target = Path(tmp) / "in.pdf", Path(tmp) / "out"
        source.write_bytes(data)
        command = [
            "pdftoppm", "-q", "-png", "-singlefile", "-r", str(dpi), "-f", str(page), "-l", str(page),
            "-x", str(round(left * scale)), "-y", str(round(top * scale)),
            "-W", str(round((right - left) * scale)), "-H", str(round((bottom - top) * scale)),
            str(source), str(target),
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PREVIEW_TIMEOUT)
            return target.with_suffix(".png").read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            raise InvalidInput(f"cannot render the preview with pdftoppm: {exc}") from None


# --- what a signed document shows -----------------------------------------------------------------


@dataclass(frozen=True)
class Decree30Signature:
    """One signature of a document as Decree 30 sees it."""

    field_name: str
    role: str
    """``person`` (a CCCD/CMND/passport holder) or ``agency`` (an organization: MST or agency code)."""
    preset: str | None
    """The preset its appearance matches, if any."""
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"field": self.field_name, "role": self.role, "preset": self.preset, "page": self.page}


def role_of(certificate: x509.Certificate) -> str:
    """``person`` or ``agency``, from the certificate's identifiers (CCCD vs MST / agency code)."""
    kind = SignerIdentity.from_certificate(certificate).kind
    return "person" if kind is SignerKind.PERSON else "agency"


def describe_signatures(input: PdfSource) -> list[Decree30Signature]:
    """Each signed field of a PDF: the signer's role and the Decree 30 preset its appearance matches.

    Matching is by geometry: a person's signature with an image; an agency's image covering the left
    part of an earlier signature's image (``decree30.agency``); an agency's image at the top right of
    page 1 covering no signature (``decree30.scan``); an agency's mark without an image at the top
    right of page 1 (``decree30.copy`` when three lines high, ``decree30.attachment`` when two).
    This says what the document looks like, not
    whether it is valid: read it beside :func:`esign.pdf.verify_pdf`'s reports.
    """
    from esign.pdf.adapter import from_asn1

    with boundary("reading the PDF"):
        data = read_all(input)
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        sizes = _page_sizes(reader)
        certs = {s.field_name: from_asn1(s.signer_cert) for s in reader.embedded_regular_signatures}
        widgets = {w.name: w for w in signature_widgets(data)}
    result: list[Decree30Signature] = []
    earlier: list[SignatureWidget] = []
    for name, cert in certs.items():
        role = role_of(cert)
        widget = widgets.get(name)
        preset = _match(role, widget, earlier, sizes) if widget else None
        result.append(Decree30Signature(name, role, preset, widget.page if widget else None))
        if widget is not None:
            earlier.append(widget)
    return result


def _match(
    role: str, widget: SignatureWidget, earlier: list[SignatureWidget], sizes: list[tuple[float, float]]
) -> str | None:
    if role == "person":
        return PERSON if widget.has_image else None
    if widget.has_image:
        x1, y1, x2, y2 = widget.box
        for person in earlier:
            px1, py1, px2, py2 = person.box
            covers = person.page == widget.page and x1 < px1 < x2 and y1 < (py1 + py2) / 2 < y2
            if person.has_image and covers and (x1 + x2) / 2 < px1 + (px2 - px1) / 3:
                return AGENCY
    width, height = sizes[widget.page - 1]
    if widget.page == 1 and widget.box[0] > width / 2 and widget.box[1] > height * 3 / 4:
        if widget.has_image:
            return SCAN
        return COPY if _text_lines_drawn(widget) == 3 else ATTACHMENT
    return None


def _text_lines_drawn(widget: SignatureWidget) -> int:
    """How many lines of 10 pt text a top-right mark is high: the copy preset draws three (form,
    agency, time), the attachment preset two (number, time)."""
    return round((widget.box[3] - widget.box[1] - 4) / round(TEXT_SIZE * 1.2))


@dataclass(frozen=True)
class Decree30Check:
    """A validation report read as Decree 30 reads it: role, preset, and the order rule."""

    signature_id: str
    role: str | None
    preset: str | None
    passed: bool
    problems: tuple[str, ...] = ()
    """Why the document does not follow the two-step order (empty when it does, or for a person)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "signature_id": self.signature_id,
            "role": self.role,
            "preset": self.preset,
            "passed": self.passed,
            "problems": list(self.problems),
        }


def check_reports(reports: Iterable[ValidationReport], input: PdfSource) -> list[Decree30Check]:
    """Pair :func:`esign.pdf.verify_pdf`'s reports with :func:`describe_signatures`, and check the order.

    An agency's signature (``decree30.agency``) must come after a person's signature that is valid
    (TOTAL-PASSED) and was left intact by what followed it (modifications allowed). Document
    time-stamps are skipped.
    """
    described = {d.field_name: d for d in describe_signatures(input)}
    checks: list[Decree30Check] = []
    people: list[ValidationReport] = []
    for report in reports:
        if report.kind != "signature":
            continue
        found = described.get(report.signature_id)
        role = found.role if found else None
        preset = found.preset if found else None
        problems: list[str] = []
        if preset == AGENCY:
            if not people:
                problems.append("the agency's signature comes before any person's signature")
            elif not any(p.passed and p.modifications_allowed is not False for p in people):
                problems.append("no earlier person's signature is valid and intact")
        if role == "person":
            people.append(report)
        checks.append(Decree30Check(report.signature_id, role, preset, report.passed, tuple(problems)))
    return checks
