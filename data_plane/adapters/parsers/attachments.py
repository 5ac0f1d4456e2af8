"""Attachments of an e-mail (RFC 822 ``.eml`` or Outlook ``.msg``): what becomes a child
document of its own (SPEC §5.2).

Inside the parser sandbox the router writes each attachment to a file beside the e-mail's
scratch folder (``extract_attachments``: ``<folder>/NNN``); the worker then puts
every one through the intake checks an uploaded file gets, under the sender's file name
(judged, not cleaned: an unsafe name is ``UNSAFE_NAME``), and queues the accepted ones.

A part is an attachment when it has a file name or ``Content-Disposition: attachment``. An
attached e-mail (``message/rfc822``) is walked into: its text is already part of the body as
the e-mail parsers read it (docling renders forwarded messages inline), and the files it
carries are attachments like any other. An Outlook ``.msg`` (an OLE2 compound file) is read
with python-oxmsg (the reader unstructured's ``msg`` extra installs): its by-value attachments
are the files; attachments by reference (links) and embedded Outlook items carry no file.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import Message
from pathlib import Path, PurePath

from data_plane.domain.processing import MAX_NESTING, attachment_path

MAX_ATTACHMENTS = 100


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str  # the sender's file name, reduced to its last path component
    mime_type: str
    data: bytes
    raw_name: str = ""  # the sender's file name as sent


def extract_attachments(source: Path, folder: Path | None,
                        limit: int = MAX_ATTACHMENTS) -> list[Attachment]:
    """The attachments of the e-mail at ``source`` in message order; with a ``folder``,
    each is also written to ``attachment_path(folder, n)``."""
    found = (msg_attachments(source, limit) if _is_ole2(source)
             else email_attachments(source, limit))
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for number, att in enumerate(found, start=1):
            attachment_path(folder, number).write_bytes(att.data)
    return found


def email_attachments(path: Path, limit: int = MAX_ATTACHMENTS) -> list[Attachment]:
    """The attachments of the e-mail at ``path`` in message order (at most ``limit``)."""
    with path.open("rb") as fh:
        msg = email.message_from_binary_file(fh, policy=email.policy.default)
    found: list[Attachment] = []
    _collect(msg, found, limit, top=True)
    return found


_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_ole2(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(_OLE2_MAGIC)) == _OLE2_MAGIC


def msg_attachments(path: Path, limit: int = MAX_ATTACHMENTS) -> list[Attachment]:
    """The by-value attachments of the Outlook message at ``path`` (at most ``limit``)."""
    from oxmsg import Message as OutlookMessage

    found: list[Attachment] = []
    for att in OutlookMessage.load(str(path)).attachments:
        if len(found) >= limit:
            break
        if not att.attached_by_value:
            continue  # a link or an embedded Outlook item: no file to admit
        raw = att.file_name or f"attachment-{len(found) + 1}"
        found.append(Attachment(_safe_name(raw), att.mime_type or "application/octet-stream",
                                att.file_bytes or b"", raw))
    return found


def _collect(part: Message, found: list[Attachment], limit: int, *, top: bool = False) -> None:
    if len(found) >= limit:
        return
    disposition = part.get_content_disposition()
    filename = part.get_filename()
    if part.is_multipart():
        payload = part.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if isinstance(sub, Message):
                _collect(sub, found, limit)
        return
    if top or (filename is None and disposition != "attachment"):
        return  # a body part
    decoded = part.get_payload(decode=True)
    data = decoded if isinstance(decoded, bytes) else b""
    raw = filename or f"attachment-{len(found) + 1}"
    found.append(Attachment(_safe_name(raw), part.get_content_type(), data, raw))


def _safe_name(name: str) -> str:
    base = PurePath(name.replace("\\", "/")).name.strip() or "attachment"
    return "".join(ch if ch.isprintable() else "_" for ch in base)[:200]


__all__ = ["MAX_NESTING", "Attachment", "attachment_path", "email_attachments",
           "extract_attachments", "msg_attachments"]
