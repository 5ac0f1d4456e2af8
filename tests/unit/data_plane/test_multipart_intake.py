"""The streaming multipart reader on bodies httpx builds (and hand-made hostile ones)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from data_plane.api.multipart import StreamedBatch, read_batch
from data_plane.errors import BatchTooLarge, IntakeRejected


def _body(parts: list[tuple[str, tuple[str, bytes] | str]]) -> tuple[bytes, str]:
    files = [(n, v) for n, v in parts if isinstance(v, tuple)]
    data = {n: v for n, v in parts if isinstance(v, str)}
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def _read(tmp_path: Path, body: bytes, ctype: str, *, chunk: int = 7, max_file: int = 1 << 20,
          max_batch: int = 1 << 22, max_files: int = 10) -> tuple[StreamedBatch, list[bytes]]:
    seen: list[bytes] = []
    batch = asyncio.run(read_batch(_chunks(body, chunk), ctype, tmp_path,
                                   max_file_bytes=max_file, max_batch_bytes=max_batch,
                                   max_files=max_files, on_manifest=seen.append))
    return batch, seen


MANIFEST = json.dumps({"client_ref": "r", "files": []})


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_files_are_hashed_and_written_whatever_the_chunking(tmp_path: Path, chunk: int) -> None:
    a, b = b"alpha " * 1000, bytes(range(256)) * 50
    body, ctype = _body([("manifest", MANIFEST), ("files", ("a.txt", a)),
                         ("files", ("b.bin", b))])
    batch, seen = _read(tmp_path, body, ctype, chunk=chunk)
    assert seen == [MANIFEST.encode()]
    assert [(f.name, f.size, f.sha256) for f in batch.files] == [
        ("a.txt", len(a), hashlib.sha256(a).hexdigest()),
        ("b.bin", len(b), hashlib.sha256(b).hexdigest())]
    assert batch.files[1].path.read_bytes() == b


def test_files_before_the_manifest_are_refused(tmp_path: Path) -> None:
    body, ctype = _body([("files", ("a.txt", b"x"))])
    with pytest.raises(IntakeRejected, match="must come before"):
        _read(tmp_path, body, ctype)


def test_a_file_over_the_limit_stops_being_written_but_is_counted(tmp_path: Path) -> None:
    body, ctype = _body([("manifest", MANIFEST), ("files", ("big.bin", b"x" * 5000))])
    batch, _ = _read(tmp_path, body, ctype, max_file=1000)
    assert batch.files[0].size == 5000
    assert batch.files[0].path.stat().st_size <= 1000  # never more than the limit on disk


def test_batch_limits_stop_the_upload(tmp_path: Path) -> None:
    body, ctype = _body([("manifest", MANIFEST), ("files", ("big.bin", b"x" * 5000))])
    with pytest.raises(BatchTooLarge):
        _read(tmp_path, body, ctype, max_batch=3000)
    body, ctype = _body([("manifest", MANIFEST)] + [("files", (f"{i}", b"x"))
                                                    for i in range(3)])
    with pytest.raises(BatchTooLarge):
        _read(tmp_path, body, ctype, max_files=2)


def test_a_raw_nul_in_a_filename_arrives_as_is(tmp_path: Path) -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n{}\r\n'
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="a\x00b.pdf"\r\n'
            b"\r\ndata\r\n--b--\r\n")
    batch, _ = _read(tmp_path, body, "multipart/form-data; boundary=b")
    assert batch.files[0].name == "a\x00b.pdf"


@pytest.mark.parametrize("ctype", ["application/json", "multipart/form-data", None])
def test_not_multipart_is_refused(tmp_path: Path, ctype: str | None) -> None:
    with pytest.raises(IntakeRejected):
        _read(tmp_path, b"{}", ctype)  # type: ignore[arg-type]


def test_no_manifest_is_refused(tmp_path: Path) -> None:
    body, ctype = _body([("other", ("x.txt", b"x"))])
    with pytest.raises(IntakeRejected, match="no 'manifest'"):
        _read(tmp_path, body, ctype)


def test_concurrent_batches_beyond_the_limit_get_429_with_retry_after() -> None:
    from data_plane.adapters.intake_sniff import sniff_file
    from data_plane.errors import TooManyBatches
    from data_plane.services.intake import IntakeService
    from frostbyte_common.tenant_config import IntakeConfig

    intake = IntakeService(None, None, None,  # type: ignore[arg-type]
                           IntakeConfig(max_concurrent_batches=2), sniff=sniff_file)
    with intake.batch_slot(), intake.batch_slot():
        with pytest.raises(TooManyBatches) as refused, intake.batch_slot():
            pass
        assert refused.value.retry_after > 0 and refused.value.status_code == 429
    with intake.batch_slot():  # slots are given back
        pass
