"""Attachment encoding of edXML: each file in a ZIP, the ZIP in base64 (``ContentTransferEncoded``).

Both directions stream through temporary files in fixed-size chunks, so the memory an attachment
costs does not grow with its size (beyond the base64 text an already parsed package holds).
Reading is bounded: the ZIP must hold exactly one file, and what it unpacks to is capped
(``max_size``), so a small package cannot unpack into gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from esign.errors import InvalidInput

CHUNK = 3 * 64 * 1024
"""Bytes read per step (a multiple of 3, so base64 chunks join without padding in between)."""
MAX_ATTACHMENT_SIZE = 512 * 1024 * 1024
"""Default cap on what one attachment unpacks to."""
SPOOL = 2 * 1024 * 1024
"""Temporary data up to this size stays in memory, larger goes to disk."""
_WHITESPACE = re.compile(rb"\s+")


def zip_file(name: str, source: Path | bytes, out: IO[bytes]) -> None:
    """Write a ZIP holding one file called ``name`` with the content of ``source`` (a path or bytes)."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(zipfile.ZipInfo(name, date_time=(2016, 1, 1, 0, 0, 0)), "w", force_zip64=True) as entry:
            if isinstance(source, bytes):
                entry.write(source)
            else:
                with open(source, "rb") as f:
                    shutil.copyfileobj(f, entry, CHUNK)


def encode_chunks(name: str, source: Path | bytes) -> Iterator[bytes]:
    """Base64 of the ZIP of ``source``, in chunks (no line breaks)."""
    with tempfile.SpooledTemporaryFile(SPOOL) as spool:
        zip_file(name, source, spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield base64.b64encode(chunk)


def encode(name: str, source: Path | bytes) -> bytes:
    """Base64 of the ZIP of ``source`` in one piece (small files; :func:`encode_chunks` streams)."""
    return b"".join(encode_chunks(name, source))


def _decode_into(encoded: bytes, out: IO[bytes]) -> None:
    pending = b""
    view = memoryview(encoded)
    for start in range(0, len(encoded), 4 * CHUNK // 3):
        pending += _WHITESPACE.sub(b"", bytes(view[start : start + 4 * CHUNK // 3]))
        usable = len(pending) - len(pending) % 4
        try:
            out.write(base64.b64decode(pending[:usable], validate=True))
        except binascii.Error as exc:
            raise InvalidInput(f"ContentTransferEncoded is not base64: {exc}") from None
        pending = pending[usable:]
    if pending:
        raise InvalidInput("ContentTransferEncoded is not base64: its length is not a multiple of 4")


def open_zip_member(encoded: bytes, name: str, out: IO[bytes], *, max_size: int = MAX_ATTACHMENT_SIZE) -> int:
    """Decode ``encoded`` (base64 of a ZIP) and write the file it holds to ``out``; return its size.

    The ZIP must hold exactly one file (its name in the archive is not trusted for anything, so a
    ``../`` in it is harmless). Raises :class:`InvalidInput` for bad base64, a bad or multi-file ZIP,
    or content over ``max_size`` bytes.
    """
    with tempfile.SpooledTemporaryFile(SPOOL) as spool:
        _decode_into(encoded, spool)
        spool.seek(0)
        try:
            with zipfile.ZipFile(spool) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise InvalidInput(f"attachment {name!r}: the ZIP holds {len(members)} files, one is expected")
                member = members[0]
                if member.file_size > max_size:
                    raise InvalidInput(f"attachment {name!r}: {member.file_size} bytes unpacked, over {max_size}")
                written = 0
                with archive.open(member) as entry:
                    while chunk := entry.read(CHUNK):
                        written += len(chunk)
                        if written > max_size:  # the header's size is the sender's word: count what comes out
                            raise InvalidInput(f"attachment {name!r}: unpacks to more than {max_size} bytes")
                        out.write(chunk)
                return written
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise InvalidInput(f"attachment {name!r}: not a readable ZIP ({exc})") from None


def unpack(encoded: bytes, name: str, *, max_size: int = MAX_ATTACHMENT_SIZE) -> bytes:
    """The file inside ``encoded`` as bytes (see :func:`open_zip_member`)."""
    with tempfile.SpooledTemporaryFile(SPOOL) as out:
        open_zip_member(encoded, name, out, max_size=max_size)
        out.seek(0)
        return out.read()


def safe_file_name(name: str, fallback: str) -> str:
    """A file name for writing ``name`` to disk: no directories, no control characters, never empty."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base or fallback


__all__ = [
    "MAX_ATTACHMENT_SIZE",
    "encode",
    "encode_chunks",
    "open_zip_member",
    "safe_file_name",
    "unpack",
    "zip_file",
]
