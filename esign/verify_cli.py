"""What ``esign pdf verify`` and ``esign xml verify`` share: trust, time, language, output and exit codes.

No typer, rich or pyHanko here: ``esign xml verify`` parses its options itself to start fast
(:mod:`esign.xml.commands`) and imports this module.

Exit codes (:func:`exit_code`): 0 every signature TOTAL-PASSED, 1 one is TOTAL-FAILED,
3 otherwise INDETERMINATE (intact but untrusted, no revocation data, no signature, ...), 2 refused input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from esign.errors import InvalidInput
from esign.report import Indication, ValidationReport, summarize

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_INDETERMINATE = 3

LANGUAGES = ("vi", "en")

Echo = Callable[..., Any]


def default_language(environ: dict[str, str] | None = None) -> str:
    """``vi`` when the locale is Vietnamese (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, first one set), else ``en``."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name)
        if value:
            return "vi" if value.lower().startswith("vi") else "en"
    return "en"


def language(value: str | None) -> str:
    """The report language: ``value`` checked (``vi``/``en``), or the locale's when None."""
    if value is None:
        return default_language()
    lang = value.strip().lower()
    if lang not in LANGUAGES:
        raise InvalidInput(f"--lang wants vi or en, got {value!r}")
    return lang


def parse_time(text: str | None) -> datetime | None:
    """``--at``: ISO 8601 with a zone (``2026-01-31T12:00:00+07:00``, ``...Z``), or None."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--at wants ISO 8601, e.g. 2026-01-31T12:00:00+07:00; got {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput("--at needs a time zone, e.g. +07:00 or Z")
    return moment


def trust_anchors(trust: Sequence[Path] | None, trust_only: Sequence[Path] | None) -> list[x509.Certificate]:
    """``--trust`` adds to the default store (bundled Vietnamese roots + operator's); ``--trust-only`` replaces it."""
    from esign.trust import resolve_anchors

    if trust and trust_only:
        raise InvalidInput("give --trust (add to the trust store) or --trust-only (replace it), not both")
    return resolve_anchors(trust=list(trust or []) or None, trust_only=list(trust_only) if trust_only else None)


def exit_code(reports: Sequence[ValidationReport]) -> int:
    """0 TOTAL-PASSED (all), 1 TOTAL-FAILED (any), 3 INDETERMINATE (otherwise, including no signature)."""
    bottom = summarize(list(reports))
    return {
        Indication.TOTAL_PASSED: EXIT_PASSED,
        Indication.TOTAL_FAILED: EXIT_FAILED,
        Indication.INDETERMINATE: EXIT_INDETERMINATE,
    }[bottom]


def emit(
    reports: Sequence[ValidationReport],
    *,
    source: Path,
    lang: str,
    as_json: bool,
    echo: Echo,
    report_pdf: Path | None = None,
    document: bytes | None = None,
) -> int:
    """Print ``reports`` (text or JSON, in ``lang``), write the printable report when asked; the exit code.

    ``reports`` are given as :func:`esign.verify_pdf` / :func:`esign.verify_xml` return them, the
    validation policy already applied.

    ``document`` (the verified file's bytes) gives the printable report its hash; it is read from
    ``source`` when not given.
    """
    from esign.report import render_json_document, render_text_summary

    reports = list(reports)
    if as_json:
        echo(json.dumps(render_json_document(reports, lang=lang), ensure_ascii=False, indent=2))
    else:
        echo(render_text_summary(reports, name=str(source), lang=lang))
    if report_pdf is not None:
        from esign.report_pdf import write_report_pdf

        data = document if document is not None else source.read_bytes()
        write_report_pdf(report_pdf, reports, document_name=source.name, document=data, lang=lang)
    return exit_code(reports)


__all__ = [
    "EXIT_FAILED",
    "EXIT_INDETERMINATE",
    "EXIT_PASSED",
    "EXIT_REFUSED",
    "LANGUAGES",
    "default_language",
    "emit",
    "exit_code",
    "language",
    "parse_time",
    "trust_anchors",
]
