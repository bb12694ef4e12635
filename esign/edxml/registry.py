"""What a package's organization codes are checked against: a registry the caller supplies.

The registry with storage lives in the server (``esign orgid admin export`` writes it as CSV or JSON);
here a registry is anything with a :meth:`OrgRegistry.lookup`. :class:`StaticRegistry` reads the
server's export (columns ``code,name,status`` and optionally ``closed_on``/``closed_at`` and
``issued_on``), or is made from entries directly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from esign.errors import InvalidInput
from esign.orgid import OrgIdentifier, OrgIdError


@dataclass(frozen=True)
class RegistryEntry:
    """One organization code as the registry knows it."""

    code: OrgIdentifier
    name: str = ""
    status: str = "active"
    """``active`` or ``closed``."""
    closed_on: date | None = None
    """The day the code was closed; a document promulgated before it was sent while the code was open."""
    issued_on: date | None = None


class OrgRegistry(Protocol):
    """Anything that answers for an organization code (the server's registry, a file, a test's dict)."""

    def lookup(self, code: OrgIdentifier) -> RegistryEntry | None:
        """The entry for ``code``, or None when the registry does not know it."""


class StaticRegistry:
    """A registry held in memory: from entries, or from the server's CSV/JSON export (:meth:`load`)."""

    def __init__(self, entries: Iterable[RegistryEntry]) -> None:
        self._entries = {entry.code: entry for entry in entries}

    def lookup(self, code: OrgIdentifier) -> RegistryEntry | None:
        """The entry for ``code``, or None."""
        return self._entries.get(code)

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def load(cls, path: str | Path) -> StaticRegistry:
        """Read a registry export (CSV with a header row, or a JSON array of objects)."""
        text = Path(path).read_text(encoding="utf-8")
        return cls.from_text(text, label=str(path))

    @classmethod
    def from_text(cls, text: str, *, label: str = "registry") -> StaticRegistry:
        """Read a registry export given as text (CSV or JSON array)."""
        records: list[dict[str, Any]]
        if text.lstrip().startswith("["):
            try:
                loaded = json.loads(text)
            except ValueError as exc:
                raise InvalidInput(f"{label}: not JSON: {exc}") from None
            if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
                raise InvalidInput(f"{label}: expected a JSON array of objects")
            records = loaded
        else:
            records = list(csv.DictReader(io.StringIO(text)))
        return cls(_entry(record, f"{label} record {index}") for index, record in enumerate(records, 1))


def _day(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        raise InvalidInput(f"{where}: {value!r} is not a date (yyyy-mm-dd)") from None


def _entry(record: dict[str, Any], where: str) -> RegistryEntry:
    try:
        code = OrgIdentifier.parse(str(record.get("code") or ""))
    except OrgIdError as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    status = str(record.get("status") or "active").strip().lower()
    if status not in ("active", "closed"):
        raise InvalidInput(f"{where}: status {status!r} is neither active nor closed")
    return RegistryEntry(
        code=code,
        name=str(record.get("name") or ""),
        status=status,
        closed_on=_day(record.get("closed_on") or record.get("closed_at"), where),
        issued_on=_day(record.get("issued_on") or record.get("issued_at"), where),
    )


__all__ = ["OrgRegistry", "RegistryEntry", "StaticRegistry"]
