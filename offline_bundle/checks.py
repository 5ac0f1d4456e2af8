"""The three checks of ``verify``, as pure functions over what the tar stream yielded.

Order (SPEC §7): integrity (:func:`member_problem`, :func:`file_problems`), then the
signature against the pinned keys (:func:`check_signature`), then the version policy
(:mod:`offline_bundle.policy`). Each raises the refusal of its kind with the findings and
what to do; none does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from offline_bundle.errors import NoTrustedKey, SignatureInvalid
from offline_bundle.keys import short, signature_verifies
from offline_bundle.manifest import FileEntry, Manifest, path_problem

#: findings listed in one refusal; the rest are counted
MAX_LISTED = 20


def member_problem(name: str, kind: str) -> str | None:
    """Why a tar member may not be in a bundle, or None. ``kind`` is what the tar header
    says it is (``file``, ``directory``, ``symlink``, ``hardlink``, ``device``, ``fifo``,
    ``sparse`` or ``other``): a bundle holds regular files only, under safe names."""
    problem = path_problem(name)
    if problem:
        return f"member {name!r} has {problem}"
    if kind != "file":
        return f"member {name!r} is a {kind}, and a bundle holds regular files only"
    return None


def _hash_prefix(value: str) -> str:
    return value[:12]


def file_problems(listed: tuple[FileEntry, ...], found: Mapping[str, FileEntry]) -> list[str]:
    """Every difference between the manifest's file list and the files found in the tar:
    missing, altered (size or SHA-256, with both prefixes) and unexpected, by path."""
    problems: list[str] = []
    expected = {f.path: f for f in listed}
    for entry in listed:
        got = found.get(entry.path)
        if got is None:
            problems.append(f"missing: {entry.path} is listed in the manifest but not in the "
                            "bundle")
        elif got.size != entry.size:
            problems.append(f"altered: {entry.path} is {got.size} bytes, the manifest says "
                            f"{entry.size}")
        elif got.sha256 != entry.sha256:
            problems.append(f"altered: {entry.path} sha256 {_hash_prefix(got.sha256)}…, the "
                            f"manifest says {_hash_prefix(entry.sha256)}…")
    problems.extend(f"unexpected: {path} is in the bundle but not in the manifest"
                    for path in sorted(found) if path not in expected)
    return problems


def listed(problems: list[str]) -> list[str]:
    """At most :data:`MAX_LISTED` findings, and a line counting the rest."""
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"… and {len(problems) - MAX_LISTED} more"]


def check_signature(manifest: Manifest, manifest_bytes: bytes, signature: bytes | None,
                    pinned: Mapping[str, Ed25519PublicKey], *, pinned_from: str) -> str:
    """The fingerprint of the pinned key whose Ed25519 signature over ``manifest_bytes`` is
    ``signature``; else :class:`NoTrustedKey` (nothing pinned) or :class:`SignatureInvalid`
    saying which key the manifest names and which are pinned (``pinned_from`` says where)."""
    if not pinned:
        raise NoTrustedKey(
            "no release public key is pinned, so the signature cannot be checked",
            problems=[f"manifest.json names signer {manifest.signer}",
                      f"keys looked for in: {pinned_from}"],
            hint="pin the vendor's release public key with `frostbyte bundle trust KEY.pub` "
                 "after comparing its fingerprint with the one the vendor gave you out of "
                 "band, or pass --public-key KEY.pub")
    pinned_list = ", ".join(short(fp) for fp in sorted(pinned))
    if signature is None:
        raise SignatureInvalid("the bundle is not signed: it has no manifest.sig",
                               problems=[f"pinned keys: {pinned_list}"],
                               hint="ask the vendor for the signed bundle; never load an "
                                    "unsigned one")
    for fp, key in sorted(pinned.items()):
        if signature_verifies(key, signature, manifest_bytes):
            if fp != manifest.signer:
                raise SignatureInvalid(
                    f"the signature verifies with pinned key {fp}, but manifest.json names "
                    f"signer {manifest.signer}",
                    hint="the bundle was built inconsistently; ask the vendor for a new one")
            return fp
    if manifest.signer in pinned:
        raise SignatureInvalid(
            f"manifest.sig is not a valid signature of manifest.json by key {manifest.signer} "
            "(which you pinned): the manifest or its signature was altered after signing",
            problems=[f"pinned keys: {pinned_list}"],
            hint="do not load this bundle; get it again from the vendor and verify the copy")
    raise SignatureInvalid(
        f"manifest.json says it was signed by key {manifest.signer}, which is not pinned, "
        "and the signature verifies with no pinned key",
        problems=[f"pinned keys ({pinned_from}): {pinned_list}"],
        hint="if the vendor has announced a new release key, compare its fingerprint with "
             "the vendor out of band, then pin it with `frostbyte bundle trust KEY.pub`; "
             "otherwise do not load this bundle")
