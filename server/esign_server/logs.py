"""Structured logs: one JSON object per line (or plain text with ``ESIGN_LOG_JSON=0``).

Every line is passed through :func:`esign.identity.mask_personal_numbers` last, whatever wrote it (a
message, an ``extra`` field, a traceback with SQL parameters): logs never carry a whole citizen or
identity card number.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from esign.identity import mask_personal_numbers

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with its ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return mask_personal_numbers(json.dumps(entry, default=str, ensure_ascii=False))


class MaskingFormatter(logging.Formatter):
    """The plain-text format, with personal numbers masked."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal_numbers(super().format(record))


def configure_logging(*, json_lines: bool = True, level: str = "INFO") -> None:
    """Send the service's logs to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else MaskingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger("esign_server")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
