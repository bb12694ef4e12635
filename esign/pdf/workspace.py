"""Where a PDF is updated: the original bytes stay where they are, the incremental update is in memory.

Signing appends an incremental update and hashes the byte ranges, which start with every byte of the
original file. A :class:`Workspace` writing to a path does the copy to the output *during* that hash
pass: each chunk pyHanko reads to hash is also copied to the output file (by the kernel where it
can), so a big file is read once and written once, with a 1 MiB buffer whatever its size. The
update itself (a few kilobytes: the signature dictionary, the appearance, the ``/Contents``
placeholder, later the DSS) is kept in memory and written after the original bytes when the result
is committed; the output path only appears then, atomically (a temporary file beside it is renamed
over it).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path
from typing import IO, Any

from esign.errors import InvalidInput
from esign.pdf.context import read_all

PdfSource = str | Path | bytes | bytearray | memoryview | IO[bytes]
"""A PDF: a path, its bytes, or a readable binary stream."""
PdfTarget = str | Path | IO[bytes] | None
"""Where a signed PDF goes: a path, a writable binary stream, or None to get the bytes back."""

CHUNK_SIZE = 1 << 20
"""Bytes hashed (and copied) per read when the document is a file (pyHanko's default is 4 KiB)."""

_BINARY = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class _Original:
    """The unchanged input, read by offset: an open file or bytes in memory."""

    def __init__(self, source: PdfSource) -> None:
        self._fd: int | None = None
        self._data: memoryview | None = None
        if isinstance(source, str | Path):
            try:
                self._fd = os.open(source, os.O_RDONLY | _BINARY)
                self.size = os.fstat(self._fd).st_size
            except FileNotFoundError:
                raise InvalidInput(f"no such file: {source}") from None
            except OSError as exc:
                if self._fd is not None:
                    os.close(self._fd)
                raise InvalidInput(f"cannot read {source}: {exc.strerror}") from None
        else:
            self._data = memoryview(read_all(source)).cast("B")
            self.size = len(self._data)

    def read_into(self, view: memoryview, offset: int) -> int:
        """Fill ``view`` with the bytes at ``offset``; fewer only at the end of the input."""
        if self._data is not None:
            chunk = self._data[offset : offset + len(view)]
            view[: len(chunk)] = chunk
            return len(chunk)
        assert self._fd is not None
        done = 0
        while done < len(view):
            n = _pread_into(self._fd, view[done:], offset + done)
            if n == 0:
                break
            done += n
        return done

    def copy_to(self, sink: int, offset: int, size: int) -> bool:
        """Copy ``size`` bytes at ``offset`` to the same offset of ``sink`` inside the kernel, if it can.

        The data was just read to be hashed, so it could be written from that buffer, but a kernel
        copy (as ``shutil.copyfile`` does) was steadier here: writing 100 MB from user memory in a
        fresh process sometimes cost twice the CPU time (see docs/benchmarks.md).
        """
        if self._fd is None or not hasattr(os, "copy_file_range"):
            return False
        done = 0
        try:
            while done < size:
                n = os.copy_file_range(self._fd, sink, size - done, offset + done, offset + done)
                if n == 0:
                    break
                done += n
        except OSError:  # not between these files or on this kernel: the caller writes from its buffer
            return False
        return done == size

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._data = None


class _UpdatedPdf(io.RawIOBase):
    """A seekable, writable view of *original + incremental update* that never copies the original in memory.

    Reads below the original's size come from the original (with any bytes written there since laid
    over them); writes at or after it go to the in-memory update. With a ``sink`` file descriptor,
    every original byte read in order from the first not yet copied is also written to the sink at
    the same offset, so the hash pass over the first byte range doubles as the copy.
    """

    def __init__(self, original: _Original, sink: int | None, track_sha256: bool) -> None:
        super().__init__()
        self.original = original
        self.size = original.size
        self.tail = bytearray()
        self.patches: list[tuple[int, bytes]] = []
        self.sink = sink
        self.copied = 0
        self.sha256: Any = hashlib.sha256() if track_sha256 else None
        self._pos = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self.size + len(self.tail)
        if offset < 0:
            raise OSError("negative seek position")
        self._pos = offset
        return offset

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        pos, done = self._pos, 0
        if pos < self.size:
            done = self.original.read_into(view[: min(len(view), self.size - pos)], pos)
            self._overlay(view[:done], pos)
            self._copy_through(view[:done], pos)
        end_of_original = pos + done >= self.size
        if done < len(view) and end_of_original:
            start = pos + done - self.size
            chunk = self.tail[start : start + len(view) - done]
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
        self._pos = pos + done
        return done

    def write(self, buffer: Any) -> int:
        data = bytes(memoryview(buffer).cast("B"))
        written = len(data)
        pos = self._pos
        if pos < self.size:
            head = data[: self.size - pos]
            self._patch(pos, head)
            data, pos = data[len(head) :], pos + len(head)
        if data:
            start = pos - self.size
            if start > len(self.tail):
                self.tail.extend(bytes(start - len(self.tail)))
            self.tail[start : start + len(data)] = data
        self._pos += written
        return written

    def _patch(self, pos: int, data: bytes) -> None:
        """Overwrite bytes of the original (a placeholder filled later, e.g. in staged finish)."""
        self.patches.append((pos, data))
        if self.sink is not None and pos < self.copied:
            # already copied: fix the copy too; the running whole-file hash no longer holds
            _pwrite_all(self.sink, memoryview(data)[: self.copied - pos], pos)
            self.sha256 = None

    def _overlay(self, view: memoryview, pos: int) -> None:
        end = pos + len(view)
        for at, data in self.patches:
            lo, hi = max(at, pos), min(at + len(data), end)
            if lo < hi:
                view[lo - pos : hi - pos] = data[lo - at : hi - at]

    def _patched(self, start: int, end: int) -> bool:
        return any(at < end and start < at + len(data) for at, data in self.patches)

    def _copy_through(self, view: memoryview, pos: int) -> None:
        end = pos + len(view)
        if self.sink is None or not pos <= self.copied < end:
            return
        fresh = view[self.copied - pos :]
        if self._patched(self.copied, end) or not self.original.copy_to(self.sink, self.copied, len(fresh)):
            _pwrite_all(self.sink, fresh, self.copied)
        if self.sha256 is not None:
            self.sha256.update(fresh)
        self.copied = end

    def drain(self, write: Any) -> None:
        """Copy the original bytes not copied yet, then the update, through ``write(view, offset)``."""
        buffer = memoryview(bytearray(min(CHUNK_SIZE, max(self.size - self.copied, 1))))
        while self.copied < self.size:
            view = buffer[: min(len(buffer), self.size - self.copied)]
            n = self.original.read_into(view, self.copied)
            if n == 0:
                raise InvalidInput("the input PDF shrank while it was being signed")
            self._overlay(view[:n], self.copied)
            write(view[:n], self.copied)
            if self.sha256 is not None:
                self.sha256.update(view[:n])
            self.copied += n
        write(memoryview(self.tail), self.size)
        if self.sha256 is not None:
            self.sha256.update(self.tail)

    def close(self) -> None:
        self.original.close()
        super().close()


def _preallocate(fd: int, offset: int, size: int) -> None:
    """Reserve the output's blocks before writing them.

    Besides avoiding fragmentation, this matters for the atomic rename: when a file with any
    delayed-allocation block is renamed over an existing one, ext4 (auto_da_alloc) allocates and
    starts writing back *all* its dirty pages inside ``rename()`` (about 40 ms for 100 MB here);
    with every block reserved there is nothing left to do there.
    """
    if size and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, offset, size)
        except OSError:  # not supported here, or no space: the writes will tell
            pass


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no positional I/O in the os module
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        if hasattr(os, "pwrite"):
            n = os.pwrite(fd, view, offset)
        else:
            os.lseek(fd, offset, os.SEEK_SET)
            n = os.write(fd, view)
        view, offset = view[n:], offset + n


class Workspace:
    """The document being updated, as one seekable stream (:attr:`stream`), and where the result goes.

    - output path: the original is copied into a temporary file beside it while it is hashed, the
      update is appended on :meth:`commit`, and the file is renamed into place;
    - output stream: the original is copied into it on :meth:`commit`, then the update;
    - no output: an in-memory buffer whose bytes :meth:`commit` returns.

    With ``track_sha256`` the SHA-256 of the whole result is computed on the way
    (:attr:`document_sha256` after :meth:`commit`).
    """

    def __init__(self, source: PdfSource, target: PdfTarget, *, track_sha256: bool = False) -> None:
        self.target = target
        self.document_sha256: bytes | None = None
        self._temp: Path | None = None
        self._sink: int | None = None
        self._updated: _UpdatedPdf | None = None
        self._track = track_sha256
        if target is None:
            self.stream: IO[bytes] = io.BytesIO(read_all(source))
            return
        original = _Original(source)
        try:
            if isinstance(target, str | Path):
                out = Path(target)
                self._temp = out.with_name(f".{out.name}.esign-{os.getpid()}-{secrets.token_hex(4)}.tmp")
                self._sink = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
                _preallocate(self._sink, 0, original.size)
        except OSError as exc:
            original.close()
            raise InvalidInput(f"cannot write beside {target}: {exc.strerror}") from None
        self._updated = _UpdatedPdf(original, self._sink, track_sha256)
        self.stream = io.BufferedRandom(self._updated)  # closed by commit() or abort()

    def commit(self) -> bytes | None:
        """Deliver the result: move the file into place, write to the stream, or return the bytes."""
        if self._updated is None:
            assert isinstance(self.stream, io.BytesIO)
            if self._track:
                self.document_sha256 = hashlib.sha256(self.stream.getbuffer()).digest()
            return self.stream.getvalue()
        self.stream.flush()
        updated = self._updated
        try:
            if self._sink is not None:
                sink = self._sink
                _preallocate(sink, updated.size, len(updated.tail))
                updated.drain(lambda view, offset: _pwrite_all(sink, view, offset))
            else:
                target = self.target
                updated.drain(lambda view, offset: target.write(view))  # type: ignore[union-attr]
            if self._track:
                self.document_sha256 = updated.sha256.digest() if updated.sha256 is not None else None
        except BaseException:
            self.abort()
            raise
        self.stream.close()
        if self._sink is not None:
            os.close(self._sink)
            self._sink = None
            assert self._temp is not None
            os.replace(self._temp, Path(self.target))  # type: ignore[arg-type]
            if self._track and self.document_sha256 is None:
                self.document_sha256 = _sha256_file(Path(self.target))  # type: ignore[arg-type]
        return None

    def abort(self) -> None:
        """Drop the partial result."""
        self.stream.close()
        if self._sink is not None:
            os.close(self._sink)
            self._sink = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)


def _sha256_file(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            h.update(chunk)
    return h.digest()
