"""The ``Idempotency-Key`` of ``POST /v1/batches`` (SPEC §9): what a key may be, what it is
bound to, and when a second request under it is a replay. Pure: the service does the I/O.

A key is scoped by the vendor key that sent it (two vendor keys may use one value each for
their own batch) and bound to the sha256 of the manifest it first came with: the same key
and the same manifest is a replay (the receipt first answered, marked with the
``Idempotent-Replayed`` response header); the same key with another manifest is refused
(``IDEMPOTENCY_KEY_REUSED``, 409). A key lives ``ttl_s`` seconds from its first batch;
after that the value names nothing and may name a new batch.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from data_plane.domain.intake import Manifest
from data_plane.errors import IdempotencyKeyInvalid, IdempotencyKeyReused
from frostbyte_common.canonical_json import sha256_hex

#: The longest key accepted (as Stripe's and the IETF draft's examples: a UUID fits 7 times).
MAX_KEY_LENGTH = 255
#: Visible ASCII, no space: a UUID, a ULID, base64, or an RFC 8941 string with its quotes.
#: Nothing a log line, a terminal or a report could misread.
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
#: How long a key names its batch unless the data plane's settings say otherwise.
DEFAULT_TTL_S = 24 * 3600.0
#: The response header of a replay (the receipt of the batch first sent under the key).
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True, slots=True)
class IdempotentBatch:
    """The live record of a key: the batch it names, the manifest it was bound to (None for
    a key recorded before keys were bound: it replays whatever is sent), and the receipt
    first answered (None until kept: a replay then shows the batch as it is now)."""

    batch_id: uuid.UUID
    manifest_sha256: str | None
    receipt: dict[str, Any] | None = None


def checked_key(value: str | None) -> str | None:
    """The header's value when it is a usable key, None when there is no header;
    ``IdempotencyKeyInvalid`` (400) for an empty, too long or unprintable one — before a
    byte of the body is read."""
    if value is None:
        return None
    if _KEY.fullmatch(value):
        return value
    shown = value[:40].encode("ascii", "backslashreplace").decode("ascii")
    if len(value) > MAX_KEY_LENGTH:
        why = f"is {len(value)} characters long; the limit is {MAX_KEY_LENGTH}"
    else:
        why = "must be 1 to 255 visible ASCII characters (no spaces or control characters)"
    raise IdempotencyKeyInvalid(f"the Idempotency-Key header {why} (it starts {shown!r})")


def manifest_sha256(manifest: Manifest) -> str:
    """The hash a key is bound to: sha256 of the validated manifest as JSON with sorted keys
    and no insignificant whitespace, so the same manifest sent again with other spacing or
    key order is the same manifest, and any change to a name, hash, size, type or metadata
    is another one."""
    text = json.dumps(manifest.model_dump(mode="json"), sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return sha256_hex(text)


def is_replay(recorded: IdempotentBatch | None, manifest_hash: str) -> bool:
    """Whether a request under a key the vendor key used before is a replay of that batch:
    False when the key names no live batch; ``IdempotencyKeyReused`` (409) when it names
    one sent with another manifest."""
    if recorded is None:
        return False
    if recorded.manifest_sha256 not in (None, manifest_hash):
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was used for batch {recorded.batch_id} with another "
            "manifest; send a new key for a new batch (the same key replays only the same "
            "manifest)")
    return True
