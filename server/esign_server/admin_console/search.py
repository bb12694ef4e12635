"""Finding people: by name with or without Vietnamese diacritics, CCCD, tax code or organization."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from esign.orgid import fold_vietnamese
from esign_server.models import User

if TYPE_CHECKING:
    from esign_server.context import ServerContext

MAX_RESULTS = 100


def _matches(user: User, words: list[str], digits: str | None) -> bool:
    if digits is not None:
        return any(number and number.startswith(digits) for number in (user.cccd, user.tax_code))
    haystack = fold_vietnamese(f"{user.full_name} {user.organization or ''} {user.email or ''}")
    return all(word in haystack for word in words)


def search_people(ctx: ServerContext, query: str, *, limit: int = MAX_RESULTS) -> list[User]:
    """People whose name, organization or e-mail holds every word of ``query`` (diacritics and case
    ignored), or whose CCCD or tax code starts with it when it is a number (``-`` of a branch tax code
    allowed). An empty query lists the newest people."""
    query = " ".join(query.split())
    with ctx.db.read() as session:
        if not query:
            return list(session.exec(select(User).order_by(col(User.created_at).desc()).limit(limit)).all())
        compact = query.replace(" ", "")
        digits = compact if compact.replace("-", "").isdigit() and len(compact) >= 3 else None
        if digits is not None:
            statement = select(User).where(col(User.cccd).startswith(digits) | col(User.tax_code).startswith(digits))
            return list(session.exec(statement.order_by(col(User.full_name)).limit(limit)).all())
        # Diacritics-insensitive matching happens here rather than in SQL: SQLite and PostgreSQL fold
        # Vietnamese differently (unaccent is an extension), and a province's officials are thousands.
        words = fold_vietnamese(query).split()
        found: list[User] = []
        for user in session.exec(select(User).order_by(col(User.full_name))):
            if _matches(user, words, None):
                found.append(user)
                if len(found) >= limit:
                    break
        return found
