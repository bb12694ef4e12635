"""The seed list of level-1 codes shipped with the project (``esign/orgid/data/level1.csv``).

Columns: ``code,name,kind,status,source``. Only codes whose meaning has a named source are listed;
unknown ones are left out rather than guessed. ``status`` is ``active`` or ``closed`` (a province
merged away on 1 July 2025: its code is closed and never reused).
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from esign.errors import InvalidInput
from esign.orgid.code import Level1Kind, OrgIdentifier, OrgIdError

COLUMNS = ("code", "name", "kind", "status", "source")


class CodeStatus(enum.StrEnum):
    """Whether a code is in use; a closed code is never given to another organization."""

    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class Level1Entry:
    """One row of the seed list."""

    code: OrgIdentifier
    name: str
    kind: Level1Kind
    status: CodeStatus
    source: str
    """Where the code and its meaning come from."""


def load_level1(path: str | Path | None = None) -> list[Level1Entry]:
    """Read the seed list (the shipped one by default), sorted by code.

    Every row is checked: the code is a valid level-1 code, its letter matches ``kind``, ``status``
    is known, ``source`` is not empty, and no code appears twice. Raises :class:`InvalidInput`
    naming the row on the first problem.
    """
    if path is None:
        text = resources.files("esign.orgid").joinpath("data/level1.csv").read_text(encoding="utf-8")
        label = "level1.csv"
    else:
        text = Path(path).read_text(encoding="utf-8")
        label = str(path)
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise InvalidInput(f"{label}: header must be {','.join(COLUMNS)}, found {reader.fieldnames}")
    entries: dict[OrgIdentifier, Level1Entry] = {}
    for line, row in enumerate(reader, start=2):
        entry = _entry(label, line, row)
        if entry.code in entries:
            raise InvalidInput(f"{label} line {line}: code {entry.code} appears twice")
        entries[entry.code] = entry
    return sorted(entries.values(), key=lambda e: e.code)


def _entry(label: str, line: int, row: dict[str, str]) -> Level1Entry:
    where = f"{label} line {line}"
    try:
        code = OrgIdentifier.parse(row["code"])
    except OrgIdError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    if code.level != 1:
        raise InvalidInput(f"{where}: {code} is a level-{code.level} code, the seed list holds level 1 only")
    try:
        kind = Level1Kind(row["kind"])
        status = CodeStatus(row["status"])
    except ValueError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    if kind is not code.kind:
        raise InvalidInput(f"{where}: {code} has letter {code.level1[0]} ({code.kind}) but kind says {kind}")
    name, source = row["name"].strip(), row["source"].strip()
    if not name or not source:
        raise InvalidInput(f"{where}: name and source must not be empty")
    return Level1Entry(code, name, kind, status, source)
