"""Bulk onboarding: a CSV of officials checked row by row, then registered in one transaction.

Columns (a header row, Vietnamese or English names): ``ho_ten``/``full_name``, ``cccd``,
``chuc_vu``/``position``, ``ma_dinh_danh``/``org_code``, ``email``, ``dien_thoai``/``phone``. Each row
is checked by the same rules as one user made alone (:func:`esign_server.services.users.new_user`,
which validates numbers with ``esign.identity``), the organization code against the registry (it
must be active; the person's organization becomes the registered name), and CCCDs against the
database and the rest of the file.

The file may be CSV (UTF-8) or an Excel workbook (XLSX). A workbook's first sheet is read with
openpyxl in read-only mode, cached values only (formulas are never evaluated), within limits on the
upload, the unpacked size and the number of rows, and turned into the same CSV text: from there on
both take one path (:func:`check`, :func:`run_import`), and the import step re-sends that text.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING

from sqlmodel import col, select

from esign.errors import EsignError
from esign_server.models import User
from esign_server.services import orgids, users
from esign_server.services.errors import ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_ROWS = 5000
MAX_FILE_BYTES = 10 * 1024 * 1024
"""The largest upload, CSV or XLSX."""
MAX_UNPACKED_BYTES = 16 * 1024 * 1024
"""The most a workbook's parts may unpack to, all together (a zip bomb stops here, before parsing)."""
MAX_SHEET_ROWS = 4 * MAX_ROWS
"""Sheet rows read, blank ones included, before the workbook is refused."""
MAX_SHEET_COLUMNS = 32
"""Columns read from each sheet row; cells further right are not read."""
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
_NUMBER_COLUMNS = ("cccd", "phone")
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


def read_upload(name: str, raw: bytes) -> str:
    """The uploaded file as CSV text: UTF-8 CSV as it is, an XLSX workbook's first sheet converted.

    :raises ServiceError: too large, not UTF-8 text, an old ``.xls``, or not a readable workbook.
    """
    if len(raw) > MAX_FILE_BYTES:
        raise ServiceError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB", code="invalid_file")
    if raw.startswith(_OLE_MAGIC):
        raise ServiceError("an old .xls workbook: save it as .xlsx or as CSV UTF-8", code="invalid_file")
    if raw.startswith(_ZIP_MAGIC):
        return xlsx_to_csv(raw)
    if name.lower().endswith((".xlsx", ".xlsm")):
        raise ServiceError("the file is not an XLSX workbook", code="invalid_file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServiceError("the file is not UTF-8 text (save the sheet as CSV UTF-8)", code="invalid_file") from None
    if "\x00" in text:
        raise ServiceError("the file is not UTF-8 text (save the sheet as CSV UTF-8)", code="invalid_file")
    return text


def xlsx_to_csv(raw: bytes) -> str:
    """The first sheet of an XLSX workbook as CSV text, one CSV line per sheet row (line numbers match).

    :raises ServiceError: not a workbook, unpacking too large, too many rows, or a CCCD / phone typed as a
        number (a number cell has lost its leading zeros, so the value in it is not the one on the card).
    """
    from openpyxl import load_workbook  # imported here: only an XLSX upload needs it

    bad = ServiceError("the file is not a readable XLSX workbook", code="invalid_file")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            # zipfile never unpacks more than a member's declared size, so the declared sizes bound the work.
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        raise bad from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise ServiceError(
            f"the workbook unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB", code="invalid_file"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    numbers: list[str] = []
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True, keep_links=False)
        try:
            sheet = workbook.worksheets[0]
            columns: list[str] = []
            blank_run = 0
            for index, cells in enumerate(sheet.iter_rows(max_col=MAX_SHEET_COLUMNS, values_only=True)):
                if index >= MAX_SHEET_ROWS:
                    raise ServiceError(f"more than {MAX_ROWS} rows: split the file", code="invalid_file")
                values = [_cell_text(value) for value in cells]
                if index == 0:
                    # The sheet's rows are padded to MAX_SHEET_COLUMNS: the header's last named cell ends them.
                    width = max((n + 1 for n, v in enumerate(values) if v.strip()), default=0)
                    columns = [_COLUMNS.get(v.strip().lower(), "") for v in values[:width]]
                else:
                    for position, value in enumerate(cells[: len(columns)]):
                        if columns[position] in _NUMBER_COLUMNS and isinstance(value, int | float) and len(numbers) < 5:
                            numbers.append(f"line {index + 1}: {columns[position]}")
                values = values[: len(columns)]
                if not any(values):
                    blank_run += 1
                    continue
                for _ in range(blank_run):  # blank rows between filled ones keep the line numbers right
                    writer.writerow([""])
                blank_run = 0
                writer.writerow(values)
        finally:
            workbook.close()
    except ServiceError:
        raise
    except Exception:  # openpyxl raises many kinds on a hostile file; each one is a bad upload
        raise bad from None
    if numbers:
        raise ServiceError(
            "a CCCD or phone number is a number cell and has lost its leading zeros "
            f"({'; '.join(numbers)}): format the column as Text and type the numbers again",
            code="invalid_file",
        )
    return out.getvalue()


def _cell_text(value: object) -> str:
    """A cell's cached value as the text a CSV would hold."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


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
            position=values.get("position") or None,
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
