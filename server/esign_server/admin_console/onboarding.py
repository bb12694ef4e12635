"""Bulk onboarding: a CSV of officials checked row by row, then registered in one transaction.

Columns (a header row, Vietnamese or English names): ``ho_ten``/``full_name``, ``cccd``,
``chuc_vu``/``position``, ``ma_dinh_danh``/``org_code``, ``email``, ``dien_thoai``/``phone``. Each row
is checked by the same rules as one user made alone (:func:`esign_server.services.users.new_user`,
which validates numbers with ``esign.identity``), the organization code against the registry (it
must be active; the person's organization becomes the registered name), and CCCDs against the
database and the rest of the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import col, select

from esign.errors import EsignError
from esign_server.models import User
from esign_server.services import orgids, users

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_ROWS = 5000
_COLUMNS = {
    "ho_ten": "full_name",
    "full_name": "full_name",
    "cccd": "cccd",
    "chuc_vu": "position",
    "position": "position",
    "ma_dinh_danh": "org_code",
    "org_code": "org_code",
    "email": "email",
    "dien_thoai": "phone",
    "phone": "phone",
}


@dataclass
class Row:
    """One line of the file: what it says, the user it makes, or why not."""

    line: int
    values: dict[str, str]
    user: User | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class Preview:
    """The file checked: every row, and problems that concern the file as a whole."""

    rows: list[Row]
    problems: list[str]

    @property
    def ok(self) -> bool:
        """Nothing wrong anywhere: the import may go ahead."""
        return not self.problems and all(not r.problems for r in self.rows)


def check(ctx: ServerContext, text: str) -> Preview:
    """Read and check the CSV; nothing is written."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    unknown = [name for name in header if name not in _COLUMNS]
    named = {_COLUMNS[name] for name in header if name in _COLUMNS}
    problems: list[str] = []
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    for needed in ("full_name", "cccd", "org_code"):
        if needed not in named:
            problems.append(f"missing column {needed}")
    if problems:
        return Preview([], problems)
    rows: list[Row] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            return Preview([], [f"more than {MAX_ROWS} rows: split the file"])
        values = {_COLUMNS[k.strip().lower()]: (v or "").strip() for k, v in record.items() if k and v is not None}
        if not any(values.values()):
            continue
        rows.append(_check_row(ctx, number, values))
    if not rows:
        return Preview([], ["the file has no rows"])
    _mark_duplicates(ctx, rows)
    return Preview(rows, [])


def _check_row(ctx: ServerContext, line: int, values: dict[str, str]) -> Row:
    row = Row(line, values)
    organization = None
    code = values.get("org_code", "")
    if not code:
        row.problems.append("no organization code")
    else:
        status = orgids.registry_status(ctx.db, code)
        if not status.known:
            row.problems.append(f"organization code {code} is not in the registry")
        elif not status.active:
            row.problems.append(f"organization code {status.code} is closed")
        else:
            organization = status.name
            values["org_code"] = status.code
    try:
        row.user = users.new_user(
            full_name=values.get("full_name", ""),
            cccd=values.get("cccd") or None,
            email=values.get("email") or None,
            phone=values.get("phone") or None,
            organization=organization,
        )
    except EsignError as exc:
        row.problems.append(exc.message)
    return row


def _mark_duplicates(ctx: ServerContext, rows: list[Row]) -> None:
    seen: dict[str, int] = {}
    for row in rows:
        if row.user is None or row.user.cccd is None:
            continue
        first = seen.setdefault(row.user.cccd, row.line)
        if first != row.line:
            row.problems.append(f"the same CCCD as line {first}")
    with ctx.db.read() as session:
        taken = set(session.exec(select(User.cccd).where(col(User.cccd).in_(list(seen)))).all())
    for row in rows:
        if row.user is not None and row.user.cccd in taken:
            row.problems.append("a person with this CCCD is already registered")


def run_import(ctx: ServerContext, text: str, *, actor: str) -> Preview:
    """Check the file again and, when every row is good, register everyone in one transaction."""
    preview = check(ctx, text)
    if preview.ok:
        users.create_users(ctx, [row.user for row in preview.rows if row.user is not None], actor=actor)
    return preview
