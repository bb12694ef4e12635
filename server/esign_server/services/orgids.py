"""The organization identifier registry: issue, amend and close codes; search; import and export.

Rules kept here (and backed by the database):

* a code is issued under an **active** parent that is in the registry, or is a new level-1 code;
* a code once issued is never given to another organization: rows are never deleted (the code is
  the primary key and a trigger refuses DELETE), so a closed code can never be issued again;
* every change bumps the code's ``version`` and appends a history row (``org_code_events``) and an
  audit event, in the same transaction;
* the next child code under a parent is allocated while the parent row is locked
  (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite write transactions are serialised by
  ``BEGIN IMMEDIATE``), and the primary key catches anything that slips past: concurrent issuance
  never yields one code twice;
* an import is all or nothing and names every bad row with its line number.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Connection, Table, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from esign.orgid import OrgIdentifier, OrgIdError, detect_form, fold_vietnamese, load_level1
from esign.orgid.code import QCVN_WIDTHS
from esign_server.db import utcnow
from esign_server.models import OrgCode, OrgCodeEvent
from esign_server.services import audit
from esign_server.services.errors import Conflict, NotFound, ServiceError

if TYPE_CHECKING:
    from esign_server.context import ServerContext
    from esign_server.db import Database

ACTIVE = "active"
CLOSED = "closed"
STATUSES = (ACTIVE, CLOSED)
COLUMNS = ("code", "name", "address", "status", "closed_reason", "successor", "details")
"""Columns of the CSV form (and keys of the JSON form) of import and export."""
MAX_NAME = 300
MAX_ADDRESS = 500
MAX_REASON = 500
MAX_DETAILS = 4000
"""Longest ``details`` object, as compact JSON."""
_ALLOCATION_ATTEMPTS = 5
_CHUNK = 900  # stays under SQLite's bound-parameter limit in IN lists
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class ImportRejected(ServiceError):
    """An import was refused as a whole; ``problems`` names every bad row."""

    status = 400
    code = "import_rejected"

    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"nothing was imported: {len(problems)} bad row(s); line {first.line}: {first.reason}{more}")
        self.problems = list(problems)


@dataclass(frozen=True)
class ImportProblem:
    """One reason an import row was refused."""

    line: int
    """Line of the file the row starts on (the CSV header is line 1)."""
    code: str | None
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """What an accepted import did."""

    created: int
    unchanged: int
    """Rows naming a code already in the registry with the same name, address, status and details."""


@dataclass(frozen=True)
class SearchPage:
    """One page of search results and how many match in all."""

    items: list[OrgCode]
    total: int


@dataclass(frozen=True)
class RegistryStatus:
    """What the registry says about a code, for verification reports and relying systems."""

    code: str
    known: bool
    status: str | None = None
    active: bool = False
    name: str | None = None
    successor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "code": self.code,
            "known": self.known,
            "status": self.status,
            "active": self.active,
            "name": self.name,
            "successor": self.successor,
        }


# --- parsing and checks ----------------------------------------------------------------------


def parse_code(text: str) -> OrgIdentifier:
    """A code in either written form, or a 400 ``invalid_orgid`` naming the rule and position."""
    try:
        return OrgIdentifier.parse(text)
    except OrgIdError as exc:
        extra: dict[str, Any] = {"rule": str(exc.rule)}
        if exc.position is not None:
            extra["position"] = exc.position + 1
        raise ServiceError(exc.message, code="invalid_orgid", **extra) from None


def _no_controls(text: str, what: str) -> str:
    # NUL cannot be stored in PostgreSQL text and no name needs a control character.
    if _CONTROL.search(text):
        raise ServiceError(f"{what} holds a control character", code=f"invalid_{what}")
    return text


def _clean_name(name: str) -> str:
    cleaned = _no_controls(" ".join(name.split()), "name")
    if not cleaned:
        raise ServiceError("name must not be empty", code="invalid_name")
    if len(cleaned) > MAX_NAME:
        raise ServiceError(f"name is {len(cleaned)} characters, at most {MAX_NAME}", code="invalid_name")
    return cleaned


def _clean_address(address: str) -> str:
    cleaned = _no_controls(" ".join(address.split()), "address")
    if len(cleaned) > MAX_ADDRESS:
        raise ServiceError(f"address is {len(cleaned)} characters, at most {MAX_ADDRESS}", code="invalid_address")
    return cleaned


def _clean_details(details: Any) -> dict[str, Any]:
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise ServiceError("details must be a JSON object", code="invalid_details")
    for key, value in details.items():
        if not isinstance(key, str) or not key:
            raise ServiceError("details keys must be non-empty strings", code="invalid_details")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ServiceError(f"details[{key!r}] must be a string, number, boolean or null", code="invalid_details")
        _no_controls(key, "details")
        if isinstance(value, str):
            _no_controls(value, "details")
    if len(json.dumps(details, ensure_ascii=False)) > MAX_DETAILS:
        raise ServiceError(f"details is longer than {MAX_DETAILS} characters as JSON", code="invalid_details")
    return dict(details)


def _check_group(group: str) -> None:
    if group and set(group) == {"0"}:
        raise ServiceError(
            f"group {group!r} is all zeros, which means 'no such level' in QCVN 102:2016", code="invalid_orgid"
        )


def _child_width(level: int) -> int:
    """Digits of an allocated group at ``level``: the QCVN 102 width for levels 2-4, so codes convert."""
    widths = {2: QCVN_WIDTHS[2], 3: QCVN_WIDTHS[1], 4: QCVN_WIDTHS[0]}
    return widths.get(level, 2)


def _number(group: str) -> int | None:
    return int(group) if group.isascii() and group.isdigit() else None


def snapshot(row: OrgCode) -> dict[str, Any]:
    """The fields a history row records."""
    return {
        "name": row.name,
        "address": row.address,
        "details": row.details,
        "status": row.status,
        "closed_reason": row.closed_reason,
        "successor": row.successor_code,
    }


def _event(session: Session, row: OrgCode, action: str, actor: str, changes: dict[str, Any]) -> None:
    session.add(
        OrgCodeEvent(code=row.code, version=row.version, action=action, at=row.updated_at, actor=actor, changes=changes)
    )


def _as_new(row: OrgCode) -> dict[str, Any]:
    """History changes of a new code: every field set, as ``[None, value]``."""
    return {k: [None, v] for k, v in snapshot(row).items() if v not in (None, "", {})}


def _lock(session: Session, code: str) -> OrgCode | None:
    return session.exec(select(OrgCode).where(OrgCode.code == code).with_for_update()).first()


def _taken(existing: OrgCode) -> Conflict:
    return Conflict(
        f"{existing.code} was issued to {existing.name!r} ({existing.status}); "
        "a code is never given to another organization, closed codes are never reissued",
        code="code_taken",
    )


# --- changes (admin) -------------------------------------------------------------------------


def issue_code(
    ctx: ServerContext,
    *,
    name: str,
    code: str | None = None,
    parent: str | None = None,
    group: str | None = None,
    address: str = "",
    details: dict[str, Any] | None = None,
    actor: str,
) -> OrgCode:
    """Issue a code to a new organization.

    Give ``code`` (a new level-1 code like ``H56``, or a full lower code whose parent is active),
    or ``parent`` with an optional ``group``: without ``group`` the next free number is allocated
    (``H49`` -> ``H49.01``, ``H49.02``, ... as wide as the QCVN 102 slot of that level).
    """
    name = _clean_name(name)
    address = _clean_address(address)
    details = _clean_details(details)
    if (code is None) == (parent is None):
        raise ServiceError("give either code or parent (with an optional group)", code="invalid_request")
    wanted: OrgIdentifier | None = None
    parent_id: OrgIdentifier | None
    if code is not None:
        if group is not None:
            raise ServiceError("group goes with parent, not with a full code", code="invalid_request")
        wanted = parse_code(code)
        parent_id = wanted.parent
        _check_group(wanted.groups[-1] if wanted.level > 1 else "")
    else:
        assert parent is not None
        parent_id = parse_code(parent)
        if group is not None:
            _check_group(group)
            try:
                wanted = parent_id.child(group.strip())
            except OrgIdError as exc:
                raise ServiceError(exc.message, code="invalid_orgid", rule=str(exc.rule)) from None
    for attempt in range(_ALLOCATION_ATTEMPTS):
        try:
            return _issue_once(ctx, name, address, details, wanted, parent_id, actor)
        except IntegrityError:
            # Only an allocated code can collide here (another worker won the race): try the next.
            if wanted is not None or attempt == _ALLOCATION_ATTEMPTS - 1:
                raise Conflict("the code was issued by someone else at the same time; try again") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _issue_once(
    ctx: ServerContext,
    name: str,
    address: str,
    details: dict[str, Any],
    wanted: OrgIdentifier | None,
    parent_id: OrgIdentifier | None,
    actor: str,
) -> OrgCode:
    with ctx.db.write() as session:
        parent_row: OrgCode | None = None
        if parent_id is not None:
            parent_row = _lock(session, str(parent_id))
            if parent_row is None:
                raise NotFound(f"parent {parent_id} is not in the registry; issue it first", code="parent_not_found")
            if parent_row.status != ACTIVE:
                raise Conflict(
                    f"parent {parent_id} is closed"
                    + (f" (successor {parent_row.successor_code})" if parent_row.successor_code else "")
                    + "; codes are issued only under an active parent",
                    code="parent_closed",
                )
        if wanted is None:
            assert parent_row is not None and parent_id is not None
            wanted = _allocate(session, parent_row, parent_id)
        existing = session.get(OrgCode, str(wanted))
        if existing is not None:
            raise _taken(existing)
        if parent_row is not None:
            number = _number(wanted.groups[-1])
            if number is not None and number > parent_row.last_child_number:
                parent_row.last_child_number = number
                session.add(parent_row)
        now = utcnow()
        row = OrgCode(
            code=str(wanted),
            parent_code=str(parent_id) if parent_id else None,
            level=wanted.level,
            name=name,
            name_folded=fold_vietnamese(name),
            address=address,
            details=details,
            status=ACTIVE,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _event(session, row, "issued", actor, _as_new(row))
        audit.record(session, actor=actor, action="orgid.issued", target=f"orgid:{row.code}", name=name)
    return row


def _allocate(session: Session, parent_row: OrgCode, parent_id: OrgIdentifier) -> OrgIdentifier:
    """The next free child code (the parent row is locked by the caller)."""
    number = parent_row.last_child_number
    width = _child_width(parent_id.level + 1)
    while True:
        number += 1
        try:
            candidate = parent_id.child(str(number).zfill(width))
        except OrgIdError as exc:
            raise ServiceError(f"no room for another child code under {parent_id}: {exc.reason}") from None
        if session.get(OrgCode, str(candidate)) is None:
            return candidate


def amend_code(
    ctx: ServerContext,
    *,
    code: str,
    name: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
    actor: str,
) -> OrgCode:
    """Change an active code's name, address or details; the history keeps the old values."""
    key = str(parse_code(code))
    updates: dict[str, Any] = {}
    if name is not None:
        updates["name"] = _clean_name(name)
    if address is not None:
        updates["address"] = _clean_address(address)
    if details is not None:
        updates["details"] = _clean_details(details)
    with ctx.db.write() as session:
        row = _lock(session, key)
        if row is None:
            raise NotFound(f"no code {key} in the registry")
        if row.status != ACTIVE:
            raise Conflict(f"{key} is closed; a closed code's record is kept as it was", code="code_closed")
        changes = {k: [getattr(row, k), v] for k, v in updates.items() if getattr(row, k) != v}
        if not changes:
            return row
        for k, (_old, new) in changes.items():
            setattr(row, k, new)
        if "name" in changes:
            row.name_folded = fold_vietnamese(row.name)
        row.version += 1
        row.updated_at = utcnow()
        session.add(row)
        _event(session, row, "amended", actor, changes)
        audit.record(session, actor=actor, action="orgid.amended", target=f"orgid:{key}", fields=sorted(changes))
    return row


@dataclass(frozen=True)
class CarryingCertificate:
    """A live certificate whose subject names an organization code (``organizationIdentifier=VN:<code>``)."""

    credential_id: str
    user_id: str
    status: str
    serial: str | None
    subject: str
    not_after: datetime


def certificates_carrying(ctx: ServerContext, code: str) -> list[CarryingCertificate]:
    """The active or suspended credentials whose certificate carries ``code``: closing the code does not
    change them, so the admin is told which ones to reissue or revoke."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from esign_server.models import Credential

    wanted = f"VN:{parse_code(code)}"
    with ctx.db.read() as session:
        rows = session.exec(select(Credential).where(col(Credential.status).in_(("active", "suspended")))).all()
    found = []
    for row in rows:
        if not row.certificate_der:
            continue
        certificate = x509.load_der_x509_certificate(row.certificate_der)
        carried = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)]
        if wanted in carried:
            found.append(
                CarryingCertificate(
                    credential_id=row.id,
                    user_id=row.user_id,
                    status=row.status,
                    serial=row.serial,
                    subject=certificate.subject.rfc4514_string(),
                    not_after=certificate.not_valid_after_utc,
                )
            )
    return found


def close_code(ctx: ServerContext, *, code: str, reason: str, successor: str | None = None, actor: str) -> OrgCode:
    """Close a code for good, saying why; ``successor`` names the active code it merged into.

    A code with active children is not closed: close (or re-issue elsewhere) the children first,
    so no active code is left under a closed one.
    """
    key = str(parse_code(code))
    reason = _no_controls(" ".join(reason.split()), "reason")
    if not reason:
        raise ServiceError("say why the code is closed (reason)", code="invalid_reason")
    if len(reason) > MAX_REASON:
        raise ServiceError(f"reason is longer than {MAX_REASON} characters", code="invalid_reason")
    successor_id = parse_code(successor) if successor else None
    if successor_id is not None and str(successor_id) == key:
        raise ServiceError("a code cannot be its own successor", code="invalid_successor")
    if successor_id is not None and successor_id.is_descendant_of(OrgIdentifier.parse(key)):
        raise ServiceError("the successor cannot be below the closed code", code="invalid_successor")
    with ctx.db.write() as session:
        row = _lock(session, key)
        if row is None:
            raise NotFound(f"no code {key} in the registry")
        if row.status != ACTIVE:
            raise Conflict(f"{key} is already closed", code="code_closed")
        active_children = session.exec(
            select(func.count()).select_from(OrgCode).where(OrgCode.parent_code == key, OrgCode.status == ACTIVE)
        ).one()
        if active_children:
            raise Conflict(
                f"{key} has {active_children} active child code(s); close them first", code="has_active_children"
            )
        if successor_id is not None:
            heir = session.get(OrgCode, str(successor_id))
            if heir is None or heir.status != ACTIVE:
                raise Conflict(
                    f"successor {successor_id} is not an active code in the registry", code="invalid_successor"
                )
        before = snapshot(row)
        row.status = CLOSED
        row.closed_reason = reason
        row.successor_code = str(successor_id) if successor_id else None
        row.closed_at = row.updated_at = utcnow()
        row.version += 1
        session.add(row)
        after = snapshot(row)
        _event(session, row, "closed", actor, {k: [before[k], after[k]] for k in after if before[k] != after[k]})
        audit.record(
            session,
            actor=actor,
            action="orgid.closed",
            target=f"orgid:{key}",
            reason=reason,
            successor=row.successor_code,
        )
    return row


def seed_level1(db: Database, *, actor: str = "system") -> int:
    """Add the shipped level-1 codes (:func:`esign.orgid.load_level1`) that the registry lacks.

    Safe to run on every ``esign server init``: codes already present are left as they are.
    Returns how many were added.
    """
    entries = load_level1()
    with db.write() as session:
        present = set(
            session.exec(select(OrgCode.code).where(col(OrgCode.code).in_([str(e.code) for e in entries]))).all()
        )
        added = 0
        now = utcnow()
        for entry in entries:
            if str(entry.code) in present:
                continue
            closed = entry.status.value == CLOSED
            row = OrgCode(
                code=str(entry.code),
                level=1,
                name=entry.name,
                name_folded=fold_vietnamese(entry.name),
                details={"kind": entry.kind.value, "source": entry.source},
                status=entry.status.value,
                closed_reason="closed in the shipped level-1 seed list (details.source says why)" if closed else None,
                closed_at=now if closed else None,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            _event(session, row, "seeded", actor, _as_new(row))
            added += 1
        if added:
            audit.record(session, actor=actor, action="orgid.seeded", target="orgid:level1", added=added)
    return added


# --- lookups (public) ------------------------------------------------------------------------


def get_code(ctx: ServerContext, code: str) -> OrgCode:
    """One code (either written form)."""
    key = str(parse_code(code))
    with ctx.db.read() as session:
        row = session.get(OrgCode, key)
    if row is None:
        raise NotFound(f"no code {key} in the registry")
    return row


def history(ctx: ServerContext, code: str) -> list[OrgCodeEvent]:
    """Every change to a code, oldest first."""
    key = str(parse_code(code))
    with ctx.db.read() as session:
        if session.get(OrgCode, key) is None:
            raise NotFound(f"no code {key} in the registry")
        return list(
            session.exec(select(OrgCodeEvent).where(OrgCodeEvent.code == key).order_by(col(OrgCodeEvent.id))).all()
        )


def registry_status(db: Database, code: str | OrgIdentifier) -> RegistryStatus:
    """Whether the registry knows ``code`` and as what; an unknown or malformed code is ``known=False``."""
    try:
        key = str(code if isinstance(code, OrgIdentifier) else OrgIdentifier.parse(code))
    except OrgIdError:
        return RegistryStatus(code=str(code), known=False)
    with db.read() as session:
        row = session.get(OrgCode, key)
    if row is None:
        return RegistryStatus(code=key, known=False)
    return RegistryStatus(
        code=key,
        known=True,
        status=row.status,
        active=row.status == ACTIVE,
        name=row.name,
        successor=row.successor_code,
    )


def active_code(db: Database, code: str) -> str:
    """``code`` in the QĐ 20 form when the registry knows it as active; else a 4xx saying why."""
    key = parse_code(code)
    found = registry_status(db, key)
    if not found.known:
        raise NotFound(f"organization code {key} is not in the registry", code="org_code_unknown")
    if not found.active:
        heir = f"; its successor is {found.successor}" if found.successor else ""
        raise Conflict(f"organization code {key} is closed{heir}", code="org_code_closed")
    return found.code


def annotate_report(db: Database, report: dict[str, Any]) -> dict[str, Any]:
    """Add ``agency_registry`` (a :class:`RegistryStatus` dict) beside the signer's agency code.

    ``report`` is a :meth:`esign.report.ValidationReport.to_dict`; it is changed in place and
    returned. Reports without an agency code are returned unchanged.
    """
    identity = (report.get("signer") or {}).get("identity") or {}
    agency = identity.get("agency_code")
    if agency:
        identity["agency_registry"] = registry_status(db, agency).to_dict()
    return report


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(text: str) -> str:
    text = text.strip().upper()
    if detect_form(text).value == "qcvn102":
        try:
            return str(OrgIdentifier.parse(text))
        except OrgIdError:
            pass
    bad = [ch for ch in text if not (ch.isascii() and (ch.isalnum() or ch == "."))]
    if bad:
        raise ServiceError(f"code prefix may hold only 0-9, A-Z and '.', not {bad[0]!r}", code="invalid_orgid")
    return text


def search(
    ctx: ServerContext,
    *,
    prefix: str | None = None,
    name: str | None = None,
    level: int | None = None,
    status: str | None = None,
    parent: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SearchPage:
    """Codes matching every filter given, ordered by code.

    ``name`` matches with or without diacritics and in any word order: ``quang ninh``,
    ``Quảng Ninh`` and ``ninh quảng`` all find ``UBND tỉnh Quảng Ninh``.
    """
    conditions: list[Any] = []
    if prefix:
        conditions.append(col(OrgCode.code).like(_escape_like(_prefix(prefix)) + "%", escape="\\"))
    if name:
        for word in fold_vietnamese(name).split():
            conditions.append(col(OrgCode.name_folded).like("%" + _escape_like(word) + "%", escape="\\"))
    if level is not None:
        conditions.append(OrgCode.level == level)
    if status is not None:
        if status not in STATUSES:
            raise ServiceError(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")
        conditions.append(OrgCode.status == status)
    if parent is not None:
        conditions.append(OrgCode.parent_code == str(parse_code(parent)))
    with ctx.db.read() as session:
        total = session.exec(select(func.count()).select_from(OrgCode).where(*conditions)).one()
        items = session.exec(
            select(OrgCode).where(*conditions).order_by(col(OrgCode.code)).offset(offset).limit(limit)
        ).all()
    return SearchPage(list(items), int(total))


def children(ctx: ServerContext, code: str, *, status: str | None = None) -> list[OrgCode]:
    """The codes one level below ``code`` (which must be in the registry), ordered naturally."""
    parent = get_code(ctx, code)
    page = search(ctx, parent=parent.code, status=status, limit=1_000_000)
    return sorted(page.items, key=lambda r: (len(r.code), r.code))


# --- import and export -----------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    code: str
    parent: str | None
    level: int
    name: str
    address: str
    status: str
    closed_reason: str | None
    successor: str | None
    details: dict[str, Any] = field(default_factory=dict)

    def same_as(self, row: OrgCode) -> bool:
        return (self.name, self.address, self.status, self.details) == (row.name, row.address, row.status, row.details)


def read_csv(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[ImportProblem]]:
    """Records of a CSV import with the line each starts on, and the problems of its shape."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return [], []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[ImportProblem] = []
    try:
        _read_rows(reader, records, problems)
    except csv.Error as exc:
        # A NUL byte or an over-long field: the rest of the file cannot be read reliably.
        problems.append(ImportProblem(reader.line_num or 1, None, f"not valid CSV: {exc}"))
    return records, problems


def _read_rows(
    reader: csv.DictReader[str], records: list[tuple[int, dict[str, Any]]], problems: list[ImportProblem]
) -> None:
    header = reader.fieldnames or []
    unknown = [h for h in header if h not in COLUMNS]
    missing = [h for h in ("code", "name") if h not in header]
    if unknown or missing or len(set(header)) != len(header):
        reason = "header must name columns from " + ",".join(COLUMNS) + " (code and name required)"
        if unknown:
            reason += f"; unknown: {','.join(unknown)}"
        if missing:
            reason += f"; missing: {','.join(missing)}"
        problems.append(ImportProblem(1, None, reason))
        return
    line = reader.line_num + 1
    for raw in reader:
        if None in raw:
            problems.append(ImportProblem(line, raw.get("code"), f"more fields than the {len(header)} columns"))
        elif any(v is None for v in raw.values()):
            problems.append(ImportProblem(line, raw.get("code"), f"fewer fields than the {len(header)} columns"))
        elif any((v or "").strip() for v in raw.values()):
            record: dict[str, Any] = dict(raw)
            details = (record.get("details") or "").strip()
            record["details"] = details or None
            records.append((line, record))
        line = reader.line_num + 1


def read_json(text: str) -> tuple[list[tuple[int, dict[str, Any]]], list[ImportProblem]]:
    """Records of a JSON import (an array of objects) with the line each object starts on."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        return [], [ImportProblem(text.count("\n", 0, pos) + 1, None, "a JSON import is an array of objects")]
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[ImportProblem] = []
    line, counted = 1, 0
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        return records, problems
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            return records, [*problems, ImportProblem(exc.lineno, None, f"not valid JSON: {exc.msg}")]
        except RecursionError:
            return records, [*problems, ImportProblem(line, None, "JSON nested too deeply")]
        if not isinstance(value, dict):
            problems.append(ImportProblem(line, None, "each item must be a JSON object"))
        else:
            unknown = sorted(k for k in value if k not in COLUMNS)
            if unknown:
                problems.append(ImportProblem(line, _text(value.get("code")), f"unknown keys: {', '.join(unknown)}"))
            else:
                records.append((line, value))
        pos = _skip_ws(text, pos)
        if text.startswith(",", pos):
            pos = _skip_ws(text, pos + 1)
            continue
        if text.startswith("]", pos) and not text[_skip_ws(text, pos + 1) :]:
            return records, problems
        where = text.count("\n", 0, pos) + 1
        return records, [*problems, ImportProblem(where, None, "expected ',' or the closing ']' of the array")]


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _check_record(line: int, record: dict[str, Any], problems: list[ImportProblem]) -> _Row | None:
    raw_code = record.get("code")
    if not isinstance(raw_code, str) or not raw_code.strip():
        problems.append(ImportProblem(line, None, "code is missing (or not a string)"))
        return None
    try:
        code = OrgIdentifier.parse(raw_code)
    except OrgIdError as exc:
        problems.append(ImportProblem(line, raw_code.strip(), f"{exc.reason} [rule {exc.rule}]"))
        return None
    key = str(code)
    try:
        if code.level > 1:
            _check_group(code.groups[-1])
        for name_of in ("name", "address", "status", "closed_reason", "successor"):
            value = record.get(name_of)
            if value is not None and not isinstance(value, str):
                raise ServiceError(f"{name_of} must be a string")
        name = _clean_name(record.get("name") or "")
        address = _clean_address(record.get("address") or "")
        status = (record.get("status") or ACTIVE).strip().lower()
        if status not in STATUSES:
            raise ServiceError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        details_value = record.get("details")
        if isinstance(details_value, str):
            try:
                details_value = json.loads(details_value)
            except json.JSONDecodeError:
                raise ServiceError("details must be a JSON object") from None
        details = _clean_details(details_value)
        reason = _no_controls(" ".join((record.get("closed_reason") or "").split()), "closed_reason") or None
        if reason is not None and len(reason) > MAX_REASON:
            raise ServiceError(f"closed_reason is longer than {MAX_REASON} characters")
        successor_text = (record.get("successor") or "").strip()
        successor = str(parse_code(successor_text)) if successor_text else None
        if status == ACTIVE and (reason or successor):
            raise ServiceError("closed_reason and successor are for closed codes only")
        if successor == key:
            raise ServiceError("a code cannot be its own successor")
    except ServiceError as exc:
        problems.append(ImportProblem(line, key, exc.message))
        return None
    parent_key = key.rpartition(".")[0] or None  # the parent of a valid code, without parsing it again
    return _Row(line, key, parent_key, code.level, name, address, status, reason, successor, details)


def _existing(session: Session, codes: Iterable[str]) -> dict[str, OrgCode]:
    found: dict[str, OrgCode] = {}
    batch: list[str] = []
    for code in codes:
        batch.append(code)
        if len(batch) == _CHUNK:
            found.update((r.code, r) for r in session.exec(select(OrgCode).where(col(OrgCode.code).in_(batch))))
            batch = []
    if batch:
        found.update((r.code, r) for r in session.exec(select(OrgCode).where(col(OrgCode.code).in_(batch))))
    return found


def import_records(
    ctx: ServerContext,
    records: Sequence[tuple[int, dict[str, Any]]],
    *,
    problems: Sequence[ImportProblem] = (),
    actor: str,
    source: str = "import",
) -> ImportResult:
    """Add every record to the registry in one transaction, or none and :class:`ImportRejected`.

    Each record is a dict with the keys of :data:`COLUMNS` (``code`` and ``name`` required) and the
    line it starts on. Parents may come later in the file than their children. A record naming a
    code already in the registry is accepted only when it says the same thing (``unchanged``).
    """
    found = list(problems)
    rows: dict[str, _Row] = {}
    for line, record in records:
        row = _check_record(line, record, found)
        if row is None:
            continue
        if row.code in rows:
            found.append(ImportProblem(line, row.code, f"code {row.code} is also on line {rows[row.code].line}"))
            continue
        rows[row.code] = row
    with ctx.db.write() as session:
        wanted = set(rows)
        for row in rows.values():
            if row.parent:
                wanted.add(row.parent)
            if row.successor:
                wanted.add(row.successor)
        in_db = _existing(session, sorted(wanted))
        new: list[_Row] = []
        unchanged = 0
        for row in rows.values():
            stored = in_db.get(row.code)
            if stored is not None:
                if row.same_as(stored):
                    unchanged += 1
                else:
                    found.append(
                        ImportProblem(
                            row.line,
                            row.code,
                            f"{row.code} is already issued to {stored.name!r} ({stored.status}); "
                            "a code is never given to another organization",
                        )
                    )
                continue
            problem = _relations_problem(row, rows, in_db)
            if problem:
                found.append(ImportProblem(row.line, row.code, problem))
                continue
            new.append(row)
        if found:
            raise ImportRejected(sorted(found, key=lambda p: p.line))
        if new:
            _insert(session, new, in_db, actor)
            audit.record(
                session,
                actor=actor,
                action="orgid.imported",
                target="orgid:import",
                source=source,
                created=len(new),
                unchanged=unchanged,
            )
    return ImportResult(created=len(new), unchanged=unchanged)


def _relations_problem(row: _Row, rows: dict[str, _Row], in_db: dict[str, OrgCode]) -> str | None:
    if row.parent:
        parent_status = rows[row.parent].status if row.parent in rows else None
        if parent_status is None and row.parent in in_db:
            parent_status = in_db[row.parent].status
        if parent_status is None:
            return f"parent {row.parent} is neither in the registry nor in this file"
        if row.status == ACTIVE and parent_status != ACTIVE:
            return f"parent {row.parent} is closed; an active code needs an active parent"
    if row.successor and row.successor not in rows and row.successor not in in_db:
        return f"successor {row.successor} is neither in the registry nor in this file"
    return None


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _json_text(value: Any) -> str:
    return "{}" if value == {} else json.dumps(value, ensure_ascii=False)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *, batch: int = 5000) -> None:
    """Insert many rows by the database's bulk path, converting each distinct value once.

    PostgreSQL gets ``COPY ... FROM STDIN``; SQLite the driver's ``executemany``. SQLAlchemy's own
    executemany runs every bind processor on every row; here each column's processor (JSON text,
    UTC timestamps) runs only where the value differs from the row before, so a timestamp shared by
    100,000 rows is converted once. Identifiers come from the table definition and every value is
    bound, so nothing from the input reaches the SQL text.
    """
    if not rows:
        return
    names = list(rows[0])
    columns = [table.c[name] for name in names]
    # The dialect's own conversions (SQLite keeps timestamps as text in its own format); JSON goes
    # as text on both databases, since psycopg adapts JSON only in SQLAlchemy's own path.
    processors = [
        _json_text if isinstance(c.type, JSON) else c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        for c in columns
    ]
    quote = conn.dialect.identifier_preparer.quote
    target = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY {target} FROM STDIN") as stream:
            for row in _converted(rows, names, processors):
                stream.write_row(row)
        return
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {target} VALUES ({', '.join([marker] * len(names))})"  # noqa: S608
    params: list[tuple[Any, ...]] = []
    for row in _converted(rows, names, processors):
        params.append(row)
        if len(params) == batch:
            conn.exec_driver_sql(sql, params)
            params = []
    if params:
        conn.exec_driver_sql(sql, params)


def _converted(rows: list[dict[str, Any]], names: list[str], processors: list[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows as tuples of database values, each processor run once per distinct value object."""
    last: list[tuple[Any, Any]] = [(object(), None)] * len(names)
    for row in rows:
        out = []
        for i, name in enumerate(names):
            value = row[name]
            process = processors[i]
            if process is None or value is None:
                out.append(value)
                continue
            seen, converted = last[i]
            if value is not seen:
                converted = process(value)
                last[i] = (value, converted)
            out.append(converted)
        yield tuple(out)


_HISTORY_FIELDS = (
    ("name", "name"),
    ("address", "address"),
    ("details", "details"),
    ("status", "status"),
    ("closed_reason", "closed_reason"),
    ("successor", "successor_code"),
)


def _insert(session: Session, new: list[_Row], in_db: dict[str, OrgCode], actor: str) -> None:
    """Bulk-insert the new rows (parents first, for the foreign key) with one history row each."""
    now = utcnow()
    highest: dict[str, int] = {}
    for row in new:
        number = _number(row.code.rsplit(".", 1)[-1]) if row.parent else None
        if row.parent and number is not None and number > highest.get(row.parent, 0):
            highest[row.parent] = number
    new.sort(key=lambda r: r.level)
    values = [
        {
            "code": r.code,
            "parent_code": r.parent,
            "level": r.level,
            "name": r.name,
            "name_folded": fold_vietnamese(r.name),
            "address": r.address,
            "details": r.details,
            "status": r.status,
            "closed_reason": r.closed_reason if r.status == CLOSED else None,
            "successor_code": r.successor,
            "closed_at": now if r.status == CLOSED else None,
            "last_child_number": highest.get(r.code, 0),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for r in new
    ]
    events = [
        {
            "code": v["code"],
            "version": 1,
            "action": "imported",
            "at": now,
            "actor": actor,
            "changes": {
                field: [None, v[column]]
                for field, column in _HISTORY_FIELDS
                if v[column] or field in ("name", "status")
            },
        }
        for v in values
    ]
    try:
        conn = session.connection()
        bulk_insert(conn, _table(OrgCode), values)
        bulk_insert(conn, _table(OrgCodeEvent), events)
        for parent, number in highest.items():
            if parent in in_db:
                session.execute(
                    update(OrgCode)
                    .where(col(OrgCode.code) == parent, col(OrgCode.last_child_number) < number)
                    .values(last_child_number=number)
                )
        session.flush()
    except IntegrityError:
        raise Conflict(
            "the registry changed while importing (a code in the file was issued meanwhile); nothing was "
            "imported, run the import again",
            code="import_conflict",
        ) from None


def import_text(ctx: ServerContext, text: str, *, fmt: str, actor: str) -> ImportResult:
    """Import a CSV or JSON document (``fmt`` is ``csv`` or ``json``); all or nothing."""
    if fmt == "csv":
        records, problems = read_csv(text)
    elif fmt == "json":
        records, problems = read_json(text)
    else:
        raise ServiceError(f"unknown import format {fmt!r}; use csv or json", code="invalid_format")
    if not records and not problems:
        raise ServiceError("the file holds no rows", code="empty_import")
    if problems and not records:
        raise ImportRejected(problems)
    return import_records(ctx, records, problems=problems, actor=actor, source=fmt)


def export_records(ctx: ServerContext, *, batch: int = 10_000) -> Iterator[dict[str, Any]]:
    """Every code as a record with the keys of :data:`COLUMNS`, ordered by code (parents first)."""
    table = _table(OrgCode)
    c = table.c
    after = ""
    while True:
        with ctx.db.read() as session:
            # Plain rows, not ORM objects: an export of the whole registry is a bulk read.
            rows = (
                session.connection()
                .execute(
                    sa_select(c.code, c.name, c.address, c.status, c.closed_reason, c.successor_code, c.details)
                    .where(c.code > after)
                    .order_by(c.code)
                    .limit(batch)
                )
                .all()
            )
        if not rows:
            return
        for code, name, address, status, reason, successor, details in rows:
            yield {
                "code": code,
                "name": name,
                "address": address,
                "status": status,
                "closed_reason": reason or "",
                "successor": successor or "",
                "details": details,
            }
        after = rows[-1][0]


def export_csv(ctx: ServerContext) -> str:
    """The whole registry as CSV (``details`` as a JSON object text); importable as it is."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in export_records(ctx):
        details = record["details"]
        writer.writerow({**record, "details": json.dumps(details, ensure_ascii=False) if details else ""})
    return out.getvalue()


def export_json(ctx: ServerContext) -> str:
    """The whole registry as a JSON array, one object per line; importable as it is."""
    lines = [json.dumps(record, ensure_ascii=False) for record in export_records(ctx)]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"
