"""Organization electronic identifier codes (mã định danh điện tử của cơ quan, tổ chức).

Two written forms name the same hierarchy:

* **QĐ 20/2020/QĐ-TTg** (amended by QĐ 09/2025/QĐ-TTg): at most 35 characters from ``0-9``, ``A-Z``
  and ``.``; dot-separated groups grow from left to right, the leftmost being the level-1 code (a
  letter and two digits), each further group one level down: ``G09.20``, ``H49.22``, ``H55.242``.
* **QCVN 102:2016/BTTTT** (the edXML document exchange axis): ``V1V2V3.Z1Z2.Y1Y2.X1X2X3`` =
  level 4 . level 3 . level 2 . level 1, zeros meaning "no lower level": ``000.00.00.H49`` is the
  province itself, ``000.00.18.G12`` is unit 18 under G12.

:class:`OrgIdentifier` holds the groups (level 1 first) and reads and writes both forms. Converting
to the QCVN form is defined only when every group is all digits and exactly fits its QCVN width
(2, 2, 3): padding ``G09.5`` to ``000.00.05.G09`` would name a different code, so it is refused.

>>> code = OrgIdentifier.parse("H49.22")
>>> code.level, str(code.parent), code.to_qcvn()
(2, 'H49', '000.00.22.H49')
>>> OrgIdentifier.parse("000.00.18.G12")
OrgIdentifier('G12.18')
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from esign.errors import InvalidInput

MAX_LENGTH = 35
"""Longest code the decision allows, dots included."""

QCVN_WIDTHS = (3, 2, 2, 3)
"""Widths of the QCVN 102:2016 groups as written, left to right (level 4, 3, 2, 1)."""

# Width of levels 2, 3 and 4 in the QCVN form (level 1 is the letter and two digits).
_QCVN_LOWER_WIDTHS = (2, 2, 3)
_ALLOWED = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.")
_LEVEL1 = re.compile(r"[A-Z][0-9]{2}")


class Level1Kind(enum.StrEnum):
    """What the letter of a level-1 code says about the body it names."""

    GOVERNMENT = "government"
    """``G``: ministries, ministry-level agencies and government bodies."""
    PROVINCIAL_COMMITTEE = "provincial-committee"
    """``H``: People's Committees of provinces and centrally run cities."""
    PROVINCIAL_COUNCIL = "provincial-council"
    """``K``: People's Councils of provinces, numbered like the province."""


LEVEL1_LETTERS: dict[str, Level1Kind] = {
    "G": Level1Kind.GOVERNMENT,
    "H": Level1Kind.PROVINCIAL_COMMITTEE,
    "K": Level1Kind.PROVINCIAL_COUNCIL,
}
"""Level-1 letters accepted: only those whose meaning we could document (QĐ 20/2020, QĐ 09/2025).

Other letters are refused rather than guessed; add them here with their source when confirmed.
"""


class OrgIdForm(enum.StrEnum):
    """The written form of a code."""

    DECISION = "qd20"
    """QĐ 20/2020/QĐ-TTg: level 1 first, ``H49.22``."""
    QCVN = "qcvn102"
    """QCVN 102:2016/BTTTT: ``000.00.22.H49``."""


class OrgIdRule(enum.StrEnum):
    """The rule a code breaks; stable names for programs, shown in messages."""

    EMPTY = "empty"
    LENGTH = "max-length"
    CHARSET = "charset"
    EMPTY_GROUP = "empty-group"
    LEVEL1_FORMAT = "level1-format"
    LEVEL1_LETTER = "level1-letter"
    QCVN_GROUPS = "qcvn-groups"
    QCVN_WIDTH = "qcvn-width"
    QCVN_DIGITS = "qcvn-digits"
    QCVN_GAP = "qcvn-gap"
    NOT_CONVERTIBLE = "not-convertible"


class OrgIdError(InvalidInput):
    """A code breaks a rule of QĐ 20/2020 or QCVN 102:2016.

    ``rule`` names the rule (an :class:`OrgIdRule`), ``position`` is the 0-based index in ``text``
    where the problem starts (``None`` when it concerns the whole code).
    """

    code = "invalid_orgid"

    def __init__(self, text: str, rule: OrgIdRule, reason: str, position: int | None = None) -> None:
        where = f" at position {position + 1}" if position is not None else ""
        super().__init__(f"invalid organization code {text!r}{where}: {reason} [rule {rule}]")
        self.text = text
        self.rule = rule
        self.reason = reason
        self.position = position


def _group_key(group: str) -> tuple[int, str]:
    # Shorter numeric groups first so that 9 < 10 < 242, as people read them.
    return (len(group), group)


@functools.total_ordering
@dataclass(frozen=True, eq=True)
class OrgIdentifier:
    """An organization electronic identifier code, held as its groups with level 1 first.

    Build one with :meth:`parse` (either written form) or :meth:`from_groups`; ``str()`` gives the
    QĐ 20 form. Codes order parents before their children, siblings in natural order.
    """

    groups: tuple[str, ...]
    """The groups, level 1 first: ``("H49", "22")``."""

    def __post_init__(self) -> None:
        # Validate however the object was made, so an OrgIdentifier is always well formed (and hashable).
        object.__setattr__(self, "groups", tuple(self.groups))
        _validate_decision(".".join(self.groups))

    @classmethod
    def from_groups(cls, *groups: str) -> OrgIdentifier:
        """Make a code from its groups, level 1 first: ``OrgIdentifier.from_groups("H49", "22")``."""
        return cls(tuple(groups))

    @classmethod
    def parse(cls, text: str, form: OrgIdForm | None = None) -> OrgIdentifier:
        """Read a code in either form; ``form`` forces one, otherwise it is recognised.

        A code whose first group starts with a letter is in the QĐ 20 form; one whose last group
        does and whose first does not is in the QCVN form. Surrounding spaces are ignored; case is
        not folded (codes are upper case by rule). Raises :class:`OrgIdError` naming the rule.
        """
        text = text.strip()
        if form is None:
            form = detect_form(text)
        if form is OrgIdForm.QCVN:
            return cls(_parse_qcvn(text))
        return cls(_validate_decision(text))

    @property
    def level(self) -> int:
        """1 for a level-1 code (``H49``), 2 for ``H49.22``, and so on."""
        return len(self.groups)

    @property
    def level1(self) -> str:
        """The level-1 group: ``H49``."""
        return self.groups[0]

    @property
    def kind(self) -> Level1Kind:
        """What kind of body heads this code's tree (from the level-1 letter)."""
        return LEVEL1_LETTERS[self.groups[0][0]]

    @property
    def parent(self) -> OrgIdentifier | None:
        """The code one level up, or ``None`` for a level-1 code."""
        if len(self.groups) == 1:
            return None
        return OrgIdentifier(self.groups[:-1])

    @property
    def ancestors(self) -> tuple[OrgIdentifier, ...]:
        """Every code above this one, level 1 first."""
        return tuple(OrgIdentifier(self.groups[:n]) for n in range(1, len(self.groups)))

    def child(self, group: str) -> OrgIdentifier:
        """The code one level down with the given group: ``H49`` -> ``H49.22``."""
        return OrgIdentifier((*self.groups, group))

    def is_child_of(self, other: OrgIdentifier) -> bool:
        """True when ``other`` is exactly one level up (this code's parent)."""
        return self.parent == other

    def is_descendant_of(self, other: OrgIdentifier) -> bool:
        """True when ``other`` is above this code at any distance (not the code itself)."""
        n = len(other.groups)
        return len(self.groups) > n and self.groups[:n] == other.groups

    def format(self, form: OrgIdForm = OrgIdForm.DECISION) -> str:
        """Write the code in the given form; the QCVN form may raise :class:`OrgIdError`."""
        if form is OrgIdForm.QCVN:
            return self.to_qcvn()
        return ".".join(self.groups)

    @property
    def qcvn_convertible(self) -> bool:
        """True when :meth:`to_qcvn` is defined for this code."""
        return _qcvn_problem(self.groups) is None

    def to_qcvn(self) -> str:
        """Write the QCVN 102:2016 form: ``H49.22`` -> ``000.00.22.H49``.

        Defined only up to level 4 with every lower group all digits, not all zeros, and exactly
        as wide as its QCVN slot (2, 2, 3 digits for levels 2, 3, 4); otherwise :class:`OrgIdError`
        with rule ``not-convertible`` says which group does not fit.
        """
        problem = _qcvn_problem(self.groups)
        if problem is not None:
            position, reason = problem
            raise OrgIdError(str(self), OrgIdRule.NOT_CONVERTIBLE, reason, position)
        lower = [g for g in self.groups[1:]]
        padded = [lower[i] if i < len(lower) else "0" * w for i, w in enumerate(_QCVN_LOWER_WIDTHS)]
        return ".".join([padded[2], padded[1], padded[0], self.groups[0]])

    def sort_key(self) -> tuple[tuple[int, str], ...]:
        """Key that orders parents before children and siblings naturally (``9`` < ``10``)."""
        return tuple(_group_key(g) for g in self.groups)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, OrgIdentifier):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __str__(self) -> str:
        return ".".join(self.groups)

    def __repr__(self) -> str:
        return f"OrgIdentifier({str(self)!r})"


def detect_form(text: str) -> OrgIdForm:
    """Tell which written form ``text`` is meant to be in (without validating it fully)."""
    groups = text.split(".")
    first, last = groups[0], groups[-1]
    if len(groups) > 1 and first[:1].isdigit() and last[:1].isalpha():
        return OrgIdForm.QCVN
    return OrgIdForm.DECISION


def is_valid(text: str) -> bool:
    """True when ``text`` is a well-formed code in either form."""
    try:
        OrgIdentifier.parse(text)
    except OrgIdError:
        return False
    return True


def _validate_decision(text: str) -> tuple[str, ...]:
    """Check the QĐ 20 rules and return the groups; raise :class:`OrgIdError` on the first broken."""
    if not text:
        raise OrgIdError(text, OrgIdRule.EMPTY, "the code is empty")
    for i, ch in enumerate(text):
        if ch not in _ALLOWED:
            hint = " (codes are upper case)" if ch.isalpha() and ch.upper() in _ALLOWED else ""
            raise OrgIdError(text, OrgIdRule.CHARSET, f"{ch!r} is not one of 0-9, A-Z or '.'{hint}", i)
    if len(text) > MAX_LENGTH:
        raise OrgIdError(text, OrgIdRule.LENGTH, f"{len(text)} characters, at most {MAX_LENGTH} allowed", MAX_LENGTH)
    groups = tuple(text.split("."))
    offset = 0
    for group in groups:
        if not group:
            raise OrgIdError(
                text,
                OrgIdRule.EMPTY_GROUP,
                "empty group (a leading, trailing or double dot)",
                offset if offset < len(text) else len(text) - 1,
            )
        offset += len(group) + 1
    _check_level1(text, groups[0], 0)
    return groups


def _check_level1(text: str, group: str, position: int) -> None:
    if not _LEVEL1.fullmatch(group):
        raise OrgIdError(
            text,
            OrgIdRule.LEVEL1_FORMAT,
            f"level-1 code {group!r} must be a letter and two digits (like H49)",
            position,
        )
    if group[0] not in LEVEL1_LETTERS:
        known = ", ".join(f"{k} ({v})" for k, v in LEVEL1_LETTERS.items())
        raise OrgIdError(
            text, OrgIdRule.LEVEL1_LETTER, f"unknown level-1 letter {group[0]!r}; known: {known}", position
        )


def _parse_qcvn(text: str) -> tuple[str, ...]:
    """Check the QCVN 102:2016 rules and return the groups level 1 first."""
    if not text:
        raise OrgIdError(text, OrgIdRule.EMPTY, "the code is empty")
    for i, ch in enumerate(text):
        if ch not in _ALLOWED:
            raise OrgIdError(text, OrgIdRule.CHARSET, f"{ch!r} is not one of 0-9, A-Z or '.'", i)
    parts = text.split(".")
    if len(parts) != 4:
        raise OrgIdError(
            text, OrgIdRule.QCVN_GROUPS, f"the QCVN 102 form has 4 groups (V1V2V3.Z1Z2.Y1Y2.X1X2X3), found {len(parts)}"
        )
    starts = []
    offset = 0
    for part, width in zip(parts, QCVN_WIDTHS, strict=True):
        starts.append(offset)
        if len(part) != width:
            raise OrgIdError(text, OrgIdRule.QCVN_WIDTH, f"group {part!r} must be {width} characters wide", offset)
        offset += len(part) + 1
    for part, start in zip(parts[:3], starts[:3], strict=True):
        for j, ch in enumerate(part):
            if not ch.isdigit():
                raise OrgIdError(
                    text, OrgIdRule.QCVN_DIGITS, "levels 2 to 4 are digits in the QCVN 102 form", start + j
                )
    _check_level1(text, parts[3], starts[3])
    # Level 2, 3, 4 as written right to left; all zeros means "no such level".
    lower = [(parts[2], starts[2]), (parts[1], starts[1]), (parts[0], starts[0])]
    groups = [parts[3]]
    ended = False
    for part, start in lower:
        if set(part) == {"0"}:
            ended = True
        elif ended:
            raise OrgIdError(
                text, OrgIdRule.QCVN_GAP, f"group {part!r} names a level below one that is all zeros", start
            )
        else:
            groups.append(part)
    return tuple(groups)


def _qcvn_problem(groups: tuple[str, ...]) -> tuple[int | None, str] | None:
    """Why these groups have no QCVN 102 form (position in the QĐ 20 text and reason), or None."""
    if len(groups) > 4:
        return None, f"level {len(groups)} is deeper than the 4 levels of the QCVN 102 form"
    offset = len(groups[0]) + 1
    for level, (group, width) in enumerate(zip(groups[1:], _QCVN_LOWER_WIDTHS, strict=False), start=2):
        if not group.isdigit() or not group.isascii():
            return offset, f"level-{level} group {group!r} is not all digits"
        if len(group) != width:
            return offset, f"level-{level} group {group!r} is not {width} digits wide"
        if set(group) == {"0"}:
            return offset, f"level-{level} group {group!r} is all zeros, which means 'no level' in QCVN 102"
        offset += len(group) + 1
    return None
