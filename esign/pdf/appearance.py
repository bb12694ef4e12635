"""The visible signature: who signed, for which organization, when and why, in Vietnamese or English.

Text is drawn with DejaVu Sans (shipped in ``esign/pdf/fonts``, Bitstream Vera licence; rescaled to
1000 units per em, see the README there), embedded as a
subset through pyHanko's OpenType glyph accumulator, so Vietnamese diacritics (``ế``, ``ộ``, ``ữ``)
render the same in every viewer, without relying on the reader's fonts.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import BaseStampStyle, TextStampStyle

from esign.errors import InvalidInput
from esign.thirdparty import quiet_imports

if TYPE_CHECKING:
    from pyhanko.sign.fields import SigFieldSpec

# fontTools reports, per signature, that it drops a debugging table it cannot subset (FFTM).
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

ORGANIZATION_IDENTIFIER_OID = x509.ObjectIdentifier("2.5.4.97")
UID_OID = x509.ObjectIdentifier("0.9.2342.19200300.100.1.1")

LABELS = {
    "vi": {
        "signer": "Ký bởi",
        "org": "Cơ quan",
        "code": "Mã định danh",
        "tax": "MST",
        "time": "Thời gian ký",
        "reason": "Lý do",
        "location": "Nơi ký",
    },
    "en": {
        "signer": "Signed by",
        "org": "Organization",
        "code": "Identifier",
        "tax": "Tax code",
        "time": "Signing time",
        "reason": "Reason",
        "location": "Location",
    },
}
TIME_FORMAT = "%d/%m/%Y %H:%M:%S (UTC+07:00)"
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


def font_path() -> Path:
    """The bundled TrueType font that covers Vietnamese."""
    return Path(str(resources.files("esign.pdf") / "fonts" / "DejaVuSans-upm1000.ttf"))


@dataclass(frozen=True)
class VisibleSignature:
    """Where to draw a visible signature and in which language.

    ``page`` counts from 1 (``-1`` is the last page); ``box`` is ``(x1, y1, x2, y2)`` in PDF points
    from the bottom-left corner of the page.
    """

    page: int
    box: tuple[float, float, float, float]
    language: str = "vi"
    font_size: int = 8

    def __post_init__(self) -> None:
        if self.page == 0:
            raise InvalidInput("pages count from 1 (or -1 for the last page), not 0")
        x1, y1, x2, y2 = self.box
        if x2 <= x1 or y2 <= y1:
            raise InvalidInput(f"the signature box {self.box} is empty: give x1,y1,x2,y2 with x2>x1, y2>y1")
        if self.language not in LABELS:
            raise InvalidInput(f"unknown appearance language {self.language!r}; use one of {sorted(LABELS)}")

    @classmethod
    def parse(cls, text: str, *, language: str = "vi") -> VisibleSignature:
        """Parse the CLI form ``PAGE:x1,y1,x2,y2``, e.g. ``1:50,50,300,130``."""
        try:
            page_text, _, box_text = text.partition(":")
            x1, y1, x2, y2 = (float(v) for v in box_text.split(","))
            return cls(int(page_text), (x1, y1, x2, y2), language=language)
        except ValueError as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise InvalidInput(f"--visible wants PAGE:x1,y1,x2,y2 (e.g. 1:50,50,300,130), got {text!r}") from None

    def field_spec(self, field_name: str) -> SigFieldSpec:
        """The pyHanko field specification (pyHanko counts pages from 0)."""
        # Imported on use: loading this module (VisibleSignature, StampAppearance) loads no pyhanko.sign.
        with quiet_imports():
            from pyhanko.sign.fields import SigFieldSpec

        x1, y1, x2, y2 = self.box
        on_page = self.page - 1 if self.page > 0 else self.page
        return SigFieldSpec(sig_field_name=field_name, on_page=on_page, box=(int(x1), int(y1), int(x2), int(y2)))


@dataclass(frozen=True)
class StampAppearance:
    """A ready-made appearance (e.g. a Decree 30 preset, :mod:`esign.pdf.decree30`): a pyHanko stamp
    style, its text parameters, and where it goes.

    ``page`` counts from 1 (``-1`` the last page); ``box`` is ``(x1, y1, x2, y2)`` in points, or None to
    draw into an existing empty signature field (then give its ``field_name`` when signing).
    """

    page: int
    box: tuple[float, float, float, float] | None
    style: BaseStampStyle
    params: dict[str, str] = field(default_factory=dict)

    def field_spec(self, field_name: str) -> SigFieldSpec | None:
        """The pyHanko field specification of a new field, or None for an existing one."""
        if self.box is None:
            return None
        return VisibleSignature(self.page, self.box).field_spec(field_name)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in name.get_attributes_for_oid(oid)]


def describe_signer(cert: x509.Certificate) -> tuple[str, str | None, str | None, str | None]:
    """(name, organization, organization identifier code, tax code) read from ``cert``'s subject."""
    subject = cert.subject
    names = _attribute(subject, x509.NameOID.COMMON_NAME)
    orgs = _attribute(subject, x509.NameOID.ORGANIZATION_NAME)
    codes = _attribute(subject, ORGANIZATION_IDENTIFIER_OID)
    tax = [u.split(":", 1)[1] for u in _attribute(subject, UID_OID) if u.upper().startswith("MST:")]
    return (
        names[0] if names else subject.rfc4514_string(),
        orgs[0] if orgs else None,
        codes[0] if codes else None,
        tax[0] if tax else None,
    )


def appearance_text(
    cert: x509.Certificate,
    *,
    reason: str | None,
    location: str | None,
    language: str = "vi",
    signing_time: datetime | None = None,
) -> tuple[str, dict[str, str]]:
    """The stamp template and its parameters; the time is shown in Vietnam time (UTC+07:00).

    Values travel as parameters, never inside the template, so a ``%`` in a reason cannot break it.
    """
    labels = LABELS[language]
    name, org, code, tax = describe_signer(cert)
    params: dict[str, str] = {"signer_name": name}
    lines = [f"{labels['signer']}: %(signer_name)s"]
    if org and org != name:  # an organization's own certificate repeats its name as CN
        params["org"] = org
        lines.append(f"{labels['org']}: %(org)s")
    if code:
        params["org_code"] = code
        lines.append(f"{labels['code']}: %(org_code)s")
    elif tax:
        params["tax_code"] = tax
        lines.append(f"{labels['tax']}: %(tax_code)s")
    params["signing_time"] = (signing_time or datetime.now(UTC)).astimezone(VIETNAM_TIME).strftime(TIME_FORMAT)
    lines.append(f"{labels['time']}: %(signing_time)s")
    if reason:
        params["reason"] = reason
        lines.append(f"{labels['reason']}: %(reason)s")
    if location:
        params["location"] = location
        lines.append(f"{labels['location']}: %(location)s")
    # Precomposed forms: DejaVu Sans has a glyph for each Vietnamese letter with its marks.
    params = {k: unicodedata.normalize("NFC", v) for k, v in params.items()}
    return "\n".join(lines), params


def stamp_style(template: str, *, font_size: int = 8) -> TextStampStyle:
    """A bordered text stamp in the bundled font."""
    from esign.pdf.font_engine import BundledFont

    font = BundledFont(str(font_path()), font_size=font_size)
    return TextStampStyle(
        stamp_text=template,
        timestamp_format=TIME_FORMAT,
        text_box_style=TextBoxStyle(font=font, font_size=font_size, leading=font_size + 3),
        border_width=1,
        background=None,
        # Long Vietnamese agency names must shrink into the box rather than be cut off.
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins.uniform(4),
            inner_content_scaling=InnerScaling.SHRINK_TO_FIT,
        ),
    )
