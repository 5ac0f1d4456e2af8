"""Streaming reader of a ``POST /v1/batches`` body (python-multipart's push parser, fed
chunk by chunk from the ASGI stream): the ``manifest`` part must come first; each ``files``
part goes straight to a scratch file while its sha256 and size are computed. Memory stays
bounded by one network chunk, whatever the file sizes.

Limits are enforced as the bytes arrive: a body over the batch byte limit or with more file
parts than allowed stops with ``BatchTooLarge`` (413) at once; a file over the per-file
limit stops being written (it is rejected with ``SIZE_LIMIT``, its size still counted).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from data_plane.errors import BatchTooLarge, IntakeRejected

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
#: Bytes gathered from the network before they are parsed, hashed and written at once.
FEED_BYTES = 1024 * 1024


@dataclass
class StreamedFile:
    """One ``files`` part as received: where its bytes are and what they hash to."""

    name: str
    path: Path
    size: int = 0
    written: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return str(self.digest.hexdigest())


@dataclass
class StreamedBatch:
    manifest: bytes | None = None
    files: list[StreamedFile] = field(default_factory=list)


def boundary_of(content_type: str | None) -> bytes:
    ctype, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise IntakeRejected("send the batch as multipart/form-data with a boundary",
                             code="INVALID_MANIFEST")
    return boundary


class _Reader:
    def __init__(self, scratch: Path, *, max_file_bytes: int, max_batch_bytes: int,
                 max_files: int, on_manifest: Callable[[bytes], None]) -> None:
        self.batch = StreamedBatch()
        self._scratch = scratch
        self._max_file = max_file_bytes
        self._max_batch = max_batch_bytes
        self._max_files = max_files
        self._on_manifest = on_manifest
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._kind: str | None = None
        self._manifest = bytearray()
        self._file: StreamedFile | None = None
        self._out: IO[bytes] | None = None
        self._total = 0

    # python-multipart callbacks (data arrives as buf[start:end])
    def part_begin(self) -> None:
        self._headers, self._kind, self._header_bytes = {}, None, 0

    def header_field(self, buf: bytes, start: int, end: int) -> None:
        self._field += buf[start:end]
        self._header_bytes += end - start

    def header_value(self, buf: bytes, start: int, end: int) -> None:
        self._value += buf[start:end]
        self._header_bytes += end - start
        if self._header_bytes > MAX_HEADER_BYTES:
            raise IntakeRejected("a part's headers are too long", code="INVALID_MANIFEST")

    def header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"")
        if name == b"manifest":
            if self.batch.manifest is not None:
                raise IntakeRejected("the body has two 'manifest' parts",
                                     code="INVALID_MANIFEST")
            self._kind = "manifest"
        elif name == b"files":
            if self.batch.manifest is None:
                raise IntakeRejected("the 'manifest' part must come before the files",
                                     code="INVALID_MANIFEST")
            if len(self.batch.files) >= self._max_files:
                raise BatchTooLarge(f"more than {self._max_files} file parts")
            filename = options.get(b"filename", b"").decode("utf-8", "surrogateescape")
            # Unpaired surrogates cannot be stored: show them escaped (UNSAFE_NAME later).
            filename = filename.encode("utf-8", "backslashreplace").decode("utf-8")
            path = self._scratch / f"part-{len(self.batch.files)}"
            self._file = StreamedFile(name=filename, path=path)
            self._out = path.open("wb")
            self.batch.files.append(self._file)
            self._kind = "file"
        else:
            self._kind = "ignored"

    def part_data(self, buf: bytes, start: int, end: int) -> None:
        n = end - start
        self._total += n
        if self._total > self._max_batch:
            raise BatchTooLarge(f"the body exceeds the batch limit of {self._max_batch} bytes")
        if self._kind == "manifest":
            self._manifest += buf[start:end]
            if len(self._manifest) > MAX_MANIFEST_BYTES:
                raise IntakeRejected("the manifest part is larger than 4 MiB",
                                     code="INVALID_MANIFEST")
        elif self._kind == "file" and self._file is not None and self._out is not None:
            f = self._file
            f.size += n
            if f.size <= self._max_file:
                block = buf[start:end]
                f.digest.update(block)
                self._out.write(block)
                f.written += n

    def part_end(self) -> None:
        if self._kind == "manifest":
            self.batch.manifest = bytes(self._manifest)
            self._on_manifest(self.batch.manifest)
        elif self._kind == "file" and self._out is not None:
            self._out.close()
            self._out = None
        self._kind = None

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


async def read_batch(stream: AsyncIterator[bytes], content_type: str | None, scratch: Path,
                     *, max_file_bytes: int, max_batch_bytes: int, max_files: int,
                     on_manifest: Callable[[bytes], None]) -> StreamedBatch:
    """Read the whole body into ``scratch``; ``on_manifest`` runs as soon as the manifest
    part is complete (it validates and may refuse the batch before any file is read)."""
    reader = _Reader(scratch, max_file_bytes=max_file_bytes, max_batch_bytes=max_batch_bytes,
                     max_files=max_files, on_manifest=on_manifest)
    parser = MultipartParser(boundary_of(content_type), callbacks={
        "on_part_begin": reader.part_begin, "on_header_field": reader.header_field,
        "on_header_value": reader.header_value, "on_header_end": reader.header_end,
        "on_headers_finished": reader.headers_finished, "on_part_data": reader.part_data,
        "on_part_end": reader.part_end})
    # Network chunks (typically 64 KiB) are gathered into blocks of FEED_BYTES and each block
    # is parsed, hashed and written in a worker thread: the event loop keeps serving other
    # requests while a large file streams in, and hashlib and file writes release the GIL, so
    # the next block is read from the socket while the previous one is hashed and written.
    pending = bytearray()
    try:
        async for chunk in stream:
            pending += chunk
            if len(pending) >= FEED_BYTES:
                block, pending = bytes(pending), bytearray()
                await anyio.to_thread.run_sync(parser.write, block)
        if pending:
            await anyio.to_thread.run_sync(parser.write, bytes(pending))
        parser.finalize()
    except MultipartParseError as exc:
        raise IntakeRejected(f"the multipart body is malformed: {exc}",
                             code="INVALID_MANIFEST") from exc
    finally:
        reader.close()
    if reader.batch.manifest is None:
        raise IntakeRejected("the multipart body has no 'manifest' part",
                             code="INVALID_MANIFEST")
    return reader.batch
