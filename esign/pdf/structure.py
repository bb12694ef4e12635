"""Every byte counts: account for each byte of a signed PDF after its first signed revision.

pyHanko analyses the revisions that its cross-reference chain reaches. A repairing reader (Poppler,
qpdf, browsers) also uses what that chain does not reach: objects appended after the last
``%%EOF`` (with ``startxref 0`` or no ``%%EOF`` at all), a second body without a cross-reference
section, an object body hidden between two objects of an update. Such bytes are where a forged
"signed" document hides its changes, so they are found here and reported as problems:

* the last revision must end the file: after its cross-reference section come its trailer,
  ``startxref``, the offset and ``%%EOF``; only whitespace may follow;
* each cross-reference section must be where its ``startxref`` (or ``/Prev``) says, not found by
  pyHanko's off-by-some-bytes correction;
* after the end of the earliest signed revision, every byte belongs to an object that some
  revision's cross-reference section lists, to a cross-reference section with its trailer, or is
  whitespace or a comment. Anything else is an unreferenced body a repairing reader could pick up.

Only public pyHanko reader APIs are used (``reader.xrefs``: ``total_revisions``,
``get_xref_container_info``, ``explicit_refs_in_revision``, ``get_historical_ref``) and its object
parser (``generic.read_object``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.xref import XRefSectionType

_WS = b"\x00\t\n\x0c\r "
_HEADER = re.compile(rb"(\d{1,10})[\x00\t\n\x0c\r ]+(\d{1,5})[\x00\t\n\x0c\r ]+obj")
"""An object header exactly at its cross-reference offset: pyHanko forgives offsets that are off by some
whitespace, a reader that then rebuilds the table would scan for bodies (stream data included)."""
_TAIL = re.compile(rb"[\x00\t\n\x0c\r ]*startxref[\x00\t\n\x0c\r ]+(\d{1,20})[\x00\t\n\x0c\r ]*%%EOF(\r\n|\r|\n)?")
_FILLER = re.compile(rb"(?:[\x00\t\n\x0c\r ]+|%[^\r\n]*)*")
MAX_TAIL_OBJECTS = 10_000
"""Objects after the first signed revision beyond this are not walked one by one (reported instead)."""


@dataclass(frozen=True)
class StructureProblem:
    """Bytes of the file that no analysed revision accounts for."""

    offset: int
    """Where the unaccounted bytes start."""
    message: str


def check_structure(reader: PdfFileReader, stream: IO[bytes], *, signed_end: int) -> list[StructureProblem]:
    """What in the file is not accounted for by the revisions pyHanko analysed.

    ``stream`` is the stream ``reader`` reads; ``signed_end`` is where the earliest signed revision
    ends (from there on every byte is checked). An empty list means the file holds nothing else.
    """
    size = stream.seek(0, 2)
    xrefs = reader.xrefs
    problems: list[StructureProblem] = []
    extents: list[tuple[int, int]] = []
    last = xrefs.total_revisions - 1
    objects = 0
    for revision in range(xrefs.total_revisions):
        meta = xrefs.get_xref_container_info(revision)
        misplaced = _misplaced_xref(stream, meta.declared_startxref, meta.start_location, meta.xref_section_type)
        if misplaced:
            problems.append(StructureProblem(meta.declared_startxref, f"revision {revision + 1}: {misplaced}"))
        end = _revision_end(reader, stream, meta.end_location, meta.xref_section_type)
        if end is None:
            if revision == last or meta.declared_startxref >= signed_end:
                problems.append(
                    StructureProblem(
                        meta.end_location,
                        f"revision {revision + 1}: its cross-reference section is not followed by a trailer, "
                        "startxref and %%EOF",
                    )
                )
            continue
        if revision == last and stream_tail_is_data(stream, end, size):
            problems.append(
                StructureProblem(
                    end,
                    f"{size - end} byte(s) after the end of the last revision (offset {end}) that no "
                    "cross-reference section accounts for; a repairing reader would display them",
                )
            )
        if meta.declared_startxref < signed_end:
            continue
        extents.append((meta.declared_startxref, end))
        for ref in xrefs.explicit_refs_in_revision(revision):
            location = xrefs.get_historical_ref(ref, revision)
            if not isinstance(location, int):
                continue
            if location < signed_end:
                # An update may list an unchanged object at its old offset; the header must be there.
                if not _header_at(stream, location, ref.idnum, ref.generation):
                    problems.append(
                        StructureProblem(
                            meta.declared_startxref,
                            f"object {ref.idnum} {ref.generation} listed by revision "
                            f"{revision + 1} is not where its cross-reference entry says ({location})",
                        )
                    )
                continue
            objects += 1
            if objects > MAX_TAIL_OBJECTS:
                problems.append(StructureProblem(location, "too many objects after signing to account for"))
                return problems
            obj_end = _object_end(reader, stream, location, ref.idnum, ref.generation)
            if obj_end is None:
                problems.append(
                    StructureProblem(
                        location,
                        f"object {ref.idnum} {ref.generation} listed by revision {revision + 1} "
                        "is not where its cross-reference entry says",
                    )
                )
                continue
            extents.append((location, obj_end))
    if extents:
        problems += _gaps(stream, extents, signed_end, min(size, max(e for _, e in extents)))
    return sorted(problems, key=lambda p: p.offset)


def stream_tail_is_data(stream: IO[bytes], start: int, size: int) -> bool:
    """True when anything but whitespace lies between ``start`` and ``size``."""
    stream.seek(start)
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            return False
        if chunk.strip(_WS):
            return True


def _misplaced_xref(stream: IO[bytes], declared: int, found: int, kind: XRefSectionType) -> str | None:
    if kind in (XRefSectionType.STREAM, XRefSectionType.HYBRID_STREAM):
        if found == declared:
            return None
    else:
        stream.seek(declared)
        head = stream.read(max(0, found - declared) + 1)[: max(0, found - declared)]
        if head.startswith(b"xref") and not head[4:].strip(_WS):
            return None
    return (
        f"its cross-reference section is not at the offset startxref or /Prev gives ({declared}); "
        "it was found by guessing, as a repairing reader would"
    )


def _revision_end(reader: PdfFileReader, stream: IO[bytes], xref_end: int, kind: XRefSectionType) -> int | None:
    """The offset just after the ``%%EOF`` (and its end of line) that closes a revision."""
    try:
        stream.seek(xref_end)
        if kind in (XRefSectionType.STREAM, XRefSectionType.HYBRID_STREAM):
            generic.read_non_whitespace(stream, seek_back=True)
            if stream.read(6) != b"endobj":
                return None
        else:
            generic.read_non_whitespace(stream, seek_back=True)
            if stream.read(7) != b"trailer":
                stream.seek(-7, 1)
            generic.read_non_whitespace(stream, seek_back=True)
            trailer = generic.read_object(stream, generic.TrailerReference(reader))
            if not isinstance(trailer, generic.DictionaryObject):
                return None
        here = stream.tell()
        match = _TAIL.match(stream.read(64))
    except Exception:  # a damaged trailer is reported as such by the caller
        return None
    return here + match.end() if match else None


def _header_at(stream: IO[bytes], offset: int, idnum: int, generation: int) -> bool:
    stream.seek(offset)
    match = _HEADER.match(stream.read(40))
    return match is not None and (int(match.group(1)), int(match.group(2))) == (idnum, generation)


def _object_end(reader: PdfFileReader, stream: IO[bytes], offset: int, idnum: int, generation: int) -> int | None:
    """The offset just after ``endobj`` of the object whose header is at ``offset``."""
    try:
        stream.seek(offset)
        match = _HEADER.match(stream.read(40))
        if not match or (int(match.group(1)), int(match.group(2))) != (idnum, generation):
            return None
        stream.seek(offset + match.end())
        generic.read_non_whitespace(stream, seek_back=True)
        generic.read_object(stream, generic.Reference(idnum, generation, reader))
        generic.read_non_whitespace(stream, seek_back=True)
        if stream.read(6) != b"endobj":
            return None
        return stream.tell()
    except Exception:  # unreadable: the caller reports the object as not accounted for
        return None


def _gaps(stream: IO[bytes], extents: list[tuple[int, int]], start: int, end: int) -> list[StructureProblem]:
    """Bytes between the accounted extents that are not whitespace or comments."""
    problems = []
    cursor = start
    for begin, finish in [*sorted(extents), (end, end)]:
        if begin > cursor:
            stream.seek(cursor)
            gap = stream.read(begin - cursor)
            filler = _FILLER.match(gap)
            if filler is None or filler.end() != len(gap) or b"obj" in gap:
                problems.append(
                    StructureProblem(
                        cursor,
                        f"{begin - cursor} byte(s) at offset {cursor} belong to no object that a "
                        "cross-reference section lists (an unreferenced body a repairing reader could use)",
                    )
                )
        cursor = max(cursor, finish)
    return problems
