"""Identifiers that Vietnamese certificates carry in ``UID`` attributes (OID 0.9.2342.19200300.100.1.1).

Each is written ``PREFIX:value``:

============  ===============================================================================
``CCCD:``     citizen identity number, 12 digits: province of birth registration (3), sex and
              century of birth (1), year of birth within the century (2), serial (6)
``CMND:``     old identity card, 9 digits (or 12 for the last cards issued)
``HC:``       passport number (Vietnamese: a letter and 7 digits; foreign ones vary)
``MST:``      tax code: 10 digits (10th a check digit) or 13 written ``NNNNNNNNNN-NNN`` for a branch;
              since 1 July 2025 an individual's tax code is the 12-digit citizen number
``MNS:``      budget-relationship code (mã đơn vị có quan hệ với ngân sách), 7 digits
============  ===============================================================================

>>> ident = Identifier.parse("CCCD:001203012389")
>>> ident.kind, ident.masked(), str(ident)
(<IdentifierKind.CCCD: 'CCCD'>, 'CCCD:0012******89', 'CCCD:001203012389')
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from stdnum import exceptions as stdnum_exceptions
from stdnum.vn import mst as stdnum_mst

from esign.errors import InvalidInput

UID_OID = "0.9.2342.19200300.100.1.1"
"""The ``UID`` (userId) attribute type the identifiers are carried in."""

# Province codes of birth registration, first three digits of a CCCD number (Thông tư 07/2016/TT-BCA,
# the same numbers as the province codes of QĐ 124/2004/QĐ-TTg). Numbers already issued keep these
# codes after the 2025 province mergers, so the list is of the 63 pre-merger provinces.
CCCD_PROVINCES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

_PASSPORT = re.compile(r"[A-Z0-9]{6,20}")


class IdentifierKind(enum.StrEnum):
    """The prefix of an identifier, which says what it is."""

    CCCD = "CCCD"
    """Citizen identity number (căn cước công dân / căn cước), 12 digits."""
    CMND = "CMND"
    """Old identity card number (chứng minh nhân dân), 9 or 12 digits."""
    HC = "HC"
    """Passport number (hộ chiếu)."""
    MST = "MST"
    """Tax code (mã số thuế)."""
    MNS = "MNS"
    """Budget-relationship code (mã số đơn vị có quan hệ với ngân sách), 7 digits."""

    @property
    def label(self) -> str:
        """A readable English name."""
        return _LABELS[self]

    @property
    def personal(self) -> bool:
        """True for kinds that always name a person (masked in logs and reports)."""
        return self in (IdentifierKind.CCCD, IdentifierKind.CMND, IdentifierKind.HC)


_LABELS = {
    IdentifierKind.CCCD: "citizen identity number",
    IdentifierKind.CMND: "identity card number",
    IdentifierKind.HC: "passport number",
    IdentifierKind.MST: "tax code",
    IdentifierKind.MNS: "budget-relationship code",
}


class IdentifierError(InvalidInput):
    """An identifier is malformed; ``kind`` is what it was read as, ``rule`` the rule it breaks."""

    code = "invalid_identifier"

    def __init__(self, kind: IdentifierKind | None, rule: str, reason: str) -> None:
        what = kind.label if kind is not None else "identifier"
        super().__init__(f"invalid {what}: {reason} [rule {rule}]")
        self.kind = kind
        self.rule = rule
        self.reason = reason


class Sex(enum.StrEnum):
    """Sex as encoded in the 4th digit of a CCCD number."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True)
class CitizenNumberInfo:
    """What the structure of a 12-digit citizen identity number tells."""

    province_code: str
    """Province of birth registration, 3 digits (``001`` Hà Nội)."""
    province: str
    """That province's name (pre-2025 provinces; the codes stay valid)."""
    sex: Sex
    birth_year: int


def citizen_number_info(number: str, *, today: dt.date | None = None) -> CitizenNumberInfo:
    """Check a 12-digit citizen identity number's structure and return what it encodes.

    The 4th digit gives sex and century: 0/1 male/female born 1900-1999, 2/3 born 2000-2099, 4/5
    2100-2199 and so on; digits 5-6 give the year within the century, which must not be in the
    future (``today`` defaults to the current date).
    """
    kind = IdentifierKind.CCCD
    if len(number) != 12 or not (number.isascii() and number.isdigit()):
        raise IdentifierError(kind, "format", f"{len(number)} characters; a citizen number is 12 digits")
    province = CCCD_PROVINCES.get(number[:3])
    if province is None:
        raise IdentifierError(kind, "province", f"first three digits {number[:3]} are not a province code")
    century_digit = int(number[3])
    birth_year = 1900 + 100 * (century_digit // 2) + int(number[4:6])
    year_now = (today or dt.date.today()).year
    if birth_year > year_now:
        raise IdentifierError(
            kind,
            "birth-year",
            f"4th digit {century_digit} and year digits {number[4:6]} give birth year {birth_year}, "
            "which is in the future",
        )
    return CitizenNumberInfo(number[:3], province, Sex.FEMALE if century_digit % 2 else Sex.MALE, birth_year)


def _normalize(kind: IdentifierKind, value: str, today: dt.date | None) -> str:
    """Return the canonical value for ``kind`` or raise :class:`IdentifierError`."""
    raw = value.strip()
    if kind is IdentifierKind.CCCD:
        citizen_number_info(raw, today=today)
        return raw
    if kind is IdentifierKind.CMND:
        if not (raw.isascii() and raw.isdigit()) or len(raw) not in (9, 12):
            raise IdentifierError(kind, "format", "an identity card number is 9 or 12 digits")
        return raw
    if kind is IdentifierKind.HC:
        upper = raw.upper()
        if not _PASSPORT.fullmatch(upper):
            raise IdentifierError(kind, "format", "a passport number is 6 to 20 letters A-Z and digits")
        return upper
    if kind is IdentifierKind.MNS:
        if not (raw.isascii() and raw.isdigit()) or len(raw) != 7:
            raise IdentifierError(kind, "format", "a budget-relationship code is 7 digits")
        return raw
    return _normalize_tax_code(raw, today)


def _normalize_tax_code(raw: str, today: dt.date | None) -> str:
    kind = IdentifierKind.MST
    if len(raw) == 12 and raw.isascii() and raw.isdigit():
        # Individuals' tax code since 1 July 2025: the citizen identity number itself.
        try:
            citizen_number_info(raw, today=today)
        except IdentifierError as exc:
            reason = f"12-digit tax code is a citizen number: {exc.reason}"
            raise IdentifierError(kind, exc.rule, reason) from None
        return raw
    if not re.fullmatch(r"[0-9]{10}(-?[0-9]{3})?", raw):
        raise IdentifierError(
            kind, "format", "a tax code is 10 digits, 13 written NNNNNNNNNN-NNN, or a 12-digit citizen number"
        )
    try:
        compact = stdnum_mst.validate(raw)
    except stdnum_exceptions.InvalidChecksum:
        reason = f"check digit {raw[9]} does not match the first nine digits"
        raise IdentifierError(kind, "check-digit", reason) from None
    except stdnum_exceptions.ValidationError:
        # stdnum refuses a zero sequence number (digits 3-9) or a zero branch (-000).
        reason = "the sequence number (digits 3-9) or the branch number (after the dash) is all zeros"
        raise IdentifierError(kind, "component", reason) from None
    return stdnum_mst.format(compact)


def _mask(value: str, keep_start: int, keep_end: int) -> str:
    hidden = len(value) - keep_start - keep_end
    if hidden <= 0:
        return "*" * len(value)
    return value[:keep_start] + "*" * hidden + value[len(value) - keep_end :]


def mask_number(value: str) -> str:
    """Mask a personal number: 12 digits keep the first 4 and last 2 (``0010******89``),
    9 and 10 digits the first 2 and last 2, anything else its first and last 2 characters."""
    if len(value) == 12:
        return _mask(value, 4, 2)
    if len(value) in (9, 10):
        return _mask(value, 2, 2)
    return _mask(value, 1, 2) if len(value) > 4 else "*" * len(value)


@dataclass(frozen=True)
class Identifier:
    """One identifier: its kind and canonical value (``MST`` values keep the branch dash).

    Make one with :meth:`parse` (``"CCCD:001203012389"``) or :meth:`of`; the constructor validates
    too, so an :class:`Identifier` is always well formed.
    """

    kind: IdentifierKind
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.kind))
        canonical = _normalize(self.kind, self.value, None)
        if canonical != self.value:
            object.__setattr__(self, "value", canonical)

    @classmethod
    def of(cls, kind: IdentifierKind | str, value: str, *, today: dt.date | None = None) -> Identifier:
        """Validate ``value`` as ``kind`` (``today`` fixes the date for the birth-year check)."""
        kind = _kind(kind)
        # Built without __post_init__, which would re-check the birth year against the real date.
        made = object.__new__(cls)
        object.__setattr__(made, "kind", kind)
        object.__setattr__(made, "value", _normalize(kind, value, today))
        return made

    @classmethod
    def parse(cls, text: str, *, today: dt.date | None = None) -> Identifier:
        """Read the UID form ``PREFIX:value`` (prefix case-insensitive, spaces around ignored)."""
        prefix, sep, value = text.strip().partition(":")
        if not sep:
            raise IdentifierError(None, "prefix", f"{_shown(text)} has no prefix such as CCCD:, MST:")
        return cls.of(prefix, value, today=today)

    @property
    def personal(self) -> bool:
        """True when the value names a person: CCCD, CMND, passport, or a 12-digit tax code."""
        return self.kind.personal or (self.kind is IdentifierKind.MST and len(self.value) == 12)

    def masked(self, *, always: bool = False) -> str:
        """The UID form with personal numbers masked (``CCCD:0010******89``).

        Organizations' tax codes and budget codes are public and shown whole unless ``always`` is
        set (a person's 10-digit tax code is masked by :class:`SignerIdentity` that way).
        """
        if not (self.personal or always):
            return str(self)
        if self.kind is IdentifierKind.MST and len(self.value) == 14:
            return f"{self.kind}:{_mask(self.value[:10], 2, 2)}{self.value[10:]}"
        return f"{self.kind}:{mask_number(self.value)}"

    @property
    def citizen_info(self) -> CitizenNumberInfo | None:
        """Province, sex and birth year for a 12-digit citizen number (CCCD, or MST since 2025)."""
        if len(self.value) == 12 and self.kind in (IdentifierKind.CCCD, IdentifierKind.MST):
            return citizen_number_info(self.value)
        return None

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def __repr__(self) -> str:
        # repr ends up in logs and tracebacks: never the whole personal number.
        return f"Identifier({self.masked()!r})"


def _kind(kind: IdentifierKind | str) -> IdentifierKind:
    if isinstance(kind, IdentifierKind):
        return kind
    try:
        return IdentifierKind(kind.strip().upper())
    except ValueError:
        known = ", ".join(k.value + ":" for k in IdentifierKind)
        raise IdentifierError(None, "prefix", f"unknown prefix {kind[:10]!r}; known: {known}") from None


def _shown(text: str) -> str:
    # Error messages may be logged: show the shape of a bad value, not its digits.
    return repr(re.sub(r"[0-9]", "#", text.strip()[:40]))


@dataclass(frozen=True)
class Guess:
    """One reading of a bare value: the identifier, or why that reading fails."""

    kind: IdentifierKind
    identifier: Identifier | None
    error: IdentifierError | None


def guess_identifier(text: str, *, today: dt.date | None = None) -> list[Guess]:
    """Every plausible reading of ``text``, most likely first.

    With a prefix, that kind only. Bare: 12 digits -> CCCD, then a 12-digit tax code, then CMND;
    9 digits -> CMND; 10 or 13 digits (or with a dash) -> MST; 7 digits -> MNS; letters and digits
    -> passport. Each reading carries its identifier or its validation error.
    """
    stripped = text.strip()
    kinds: list[IdentifierKind]
    value = stripped
    if ":" in stripped:
        prefix, _, value = stripped.partition(":")
        kinds = [_kind(prefix)]
    elif re.fullmatch(r"[0-9]{12}", stripped):
        kinds = [IdentifierKind.CCCD, IdentifierKind.MST, IdentifierKind.CMND]
    elif re.fullmatch(r"[0-9]{9}", stripped):
        kinds = [IdentifierKind.CMND]
    elif re.fullmatch(r"[0-9]{10}(-?[0-9]{3})?", stripped):
        kinds = [IdentifierKind.MST]
    elif re.fullmatch(r"[0-9]{7}", stripped):
        kinds = [IdentifierKind.MNS]
    elif re.fullmatch(r"[A-Za-z0-9]+", stripped) and not stripped.isdigit():
        kinds = [IdentifierKind.HC]
    else:
        raise IdentifierError(
            None,
            "unrecognised",
            f"{_shown(text)} looks like none of CCCD (12 digits), CMND (9), MST (10/13), MNS (7), passport",
        )
    guesses = []
    for kind in kinds:
        try:
            guesses.append(Guess(kind, Identifier.of(kind, value, today=today), None))
        except IdentifierError as exc:
            guesses.append(Guess(kind, None, exc))
    # Valid readings first, keeping the order of likelihood among each group.
    return sorted(guesses, key=lambda g: g.identifier is None)
