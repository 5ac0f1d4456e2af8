"""One Unix account per local tenant (the ``process`` engine of provider ``local``).

A tenant's data-plane processes run as ``fbt-<slug>`` (hashed down to 32 characters when the
slug is long): a system account (``useradd --system``) with its own group, no login shell
and its home in the tenant's own ``work`` folder. It is made at provisioning and removed at
deprovisioning (``userdel``); only root can do either. The account's comment names the tenant
(``frostbyte tenant <slug>``): an account of that name made by someone else is never taken
over.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from control_plane.errors import ProvisioningFailed

PREFIX = "fbt-"
MAX_NAME = 32  # useradd's limit on Debian
NOLOGIN = "/usr/sbin/nologin"


def account_name(slug: str) -> str:
    """``fbt-<slug>``; a slug too long for 32 characters keeps its first part and gets a
    hash of the whole slug, so two long slugs never share an account."""
    name = PREFIX + slug
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(slug.encode("utf-8")).hexdigest()[:8]
    return f"{PREFIX}{slug[:MAX_NAME - len(PREFIX) - 9].rstrip('-')}-{digest}"


def comment(slug: str) -> str:
    return f"frostbyte tenant {slug}"


@dataclass(frozen=True, slots=True)
class TenantAccount:
    """A tenant's Unix account: its name, uid and (own) gid."""

    name: str
    uid: int
    gid: int


def lookup(slug: str) -> TenantAccount | None:
    """The tenant's account if it exists (and is the tenant's: its comment names it)."""
    try:
        entry = pwd.getpwnam(account_name(slug))
    except KeyError:
        return None
    if entry.pw_gecos != comment(slug):
        raise ProvisioningFailed(
            f"a Unix account {entry.pw_name!r} exists that was not made for tenant {slug!r} "
            f"(its comment is {entry.pw_gecos!r}); remove or rename it")
    return TenantAccount(entry.pw_name, entry.pw_uid, entry.pw_gid)


def ensure(slug: str, home: Path) -> TenantAccount:
    """The tenant's account, made now if missing (idempotent)."""
    found = lookup(slug)
    if found is not None:
        return found
    _run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
          "--shell", NOLOGIN, "--comment", comment(slug), account_name(slug)],
         f"could not create the Unix account of tenant {slug!r}")
    made = lookup(slug)
    if made is None:  # pragma: no cover - useradd said it succeeded
        raise ProvisioningFailed(f"useradd made no account for tenant {slug!r}")
    return made


def remove(slug: str) -> None:
    """Delete the tenant's account and its group (idempotent); its processes must be gone."""
    if lookup(slug) is None:
        return
    _run(["userdel", account_name(slug)],
         f"could not remove the Unix account of tenant {slug!r}")


def _tool(name: str) -> str:
    """``useradd``/``userdel`` (Debian package ``passwd``), also where PATH lacks sbin."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        raise ProvisioningFailed(f"`{name}` is not installed (Debian package passwd): it "
                                 "makes and removes the local tenants' Unix accounts")
    return found


def _run(argv: list[str], what: str) -> None:
    argv = [_tool(argv[0]), *argv[1:]]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisioningFailed(f"{what}: {exc}") from None
    if result.returncode != 0:
        raise ProvisioningFailed(
            f"{what}: `{argv[0]}` exited {result.returncode}: {result.stderr.strip()[-500:]}")
