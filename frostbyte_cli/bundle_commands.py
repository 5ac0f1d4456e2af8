"""``frostbyte bundle verify|trust|status|load|update|rollback|signatures`` — the offline
bundle on an air-gapped machine (SPEC §7).

The logic is :mod:`offline_bundle`; these commands parse, call it and render. ``verify`` exits
0 when the bundle passed all three checks, else with the refusal's own code:

    3  integrity: a file missing, altered or unexpected; the manifest malformed; a damaged tar
    4  an unsafe tar member (absolute or '..' path, link, device, a name twice)
    5  signature: not signed by a pinned key, or manifest/signature altered after signing
    6  no release key pinned (and no --public-key)
    7  downgrade: older than the installed release (--allow-downgrade to go back on purpose)
    8  the install home cannot be read
    1  anything else (an unreadable key file, ...); 2 a usage error

The install home is ``--home``, else ``$FROSTBYTE_OFFLINE_HOME``, else
/var/lib/frostbyte-offline (:mod:`offline_bundle.home`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from frostbyte_cli.shared import Deps, JsonOpt, deps_of, print_json
from offline_bundle.errors import BundleError, BundleRefused
from offline_bundle.home import HOME_ENV, InstallHome, default_home
from offline_bundle.install import (
    DEFAULT_PUBLISH,
    DEFAULT_TENANT,
    READY_TIMEOUT_S,
    Installer,
    SwitchResult,
)
from offline_bundle.keys import fingerprint, public_key_from_pem, read_key_file
from offline_bundle.manifest import Manifest, human_size
from offline_bundle.verify import Verified, verify_bundle

bundle_app = typer.Typer(no_args_is_help=True,
                         help="The offline bundle: verify it, pin release keys, load, update "
                              "and roll back the data-plane set, show what is installed.")

HomeOpt = Annotated[Path | None, typer.Option(
    "--home", envvar=HOME_ENV, show_envvar=True,
    help="The install home (pinned keys, installed release); default "
         "/var/lib/frostbyte-offline.")]


def _home(home: Path | None) -> InstallHome:
    return InstallHome(home if home is not None else default_home(os.environ))


def _fail(deps: Deps, exc: BundleError, json_out: bool) -> NoReturn:
    problems = exc.problems if isinstance(exc, BundleRefused) else []
    if json_out:
        print_json({"ok": False, "code": exc.code,
                    "step": exc.step if isinstance(exc, BundleRefused) else None,
                    "message": exc.message, "problems": problems, "hint": exc.hint})
    else:
        err = deps.err
        head = (f"REFUSED ({exc.step} check)" if isinstance(exc, BundleRefused) else "error")
        err.print(f"[bold red]{head}[/] {exc.code}: ", end="")
        err.print(exc.message, markup=False, highlight=False, soft_wrap=True)
        for problem in problems:
            err.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
        if exc.hint:
            err.print("[bold]what to do:[/] ", end="")
            err.print(exc.hint, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _images_table(manifest: Manifest) -> Table:
    table = Table(title=f"Images of bundle {manifest.version}")
    for column in ("image", "reference", "digest", "archive size"):
        table.add_column(column)
    for image in manifest.images:
        table.add_row(image.name, image.ref, image.digest, human_size(image.size))
    return table


def _verified_json(result: Verified) -> dict[str, Any]:
    m = result.manifest
    return {"ok": True, "path": str(result.path), "version": m.version, "created": m.created,
            "signer": result.signer, "signatures_date": m.signatures_date,
            "images": [vars(i) for i in m.images], "files": len(m.files),
            "files_bytes": m.total_size, "tar_bytes": result.tar_size,
            "aggregate_sha256": m.aggregate_sha256, "installed": result.installed,
            "move": result.move.value}


@bundle_app.command("verify")
def verify(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The bundle: frostbyte-bundle-<version>.tar.")],
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", help="Check the signature against this PEM public key instead of the "
                             "keys pinned in the install home.")] = None,
    allow_downgrade: Annotated[bool, typer.Option(
        "--allow-downgrade", help="Accept a version older than the installed one.")] = False,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a bundle before trusting it: every file against the manifest (none missing,
    altered or unexpected), then the manifest's Ed25519 signature against the pinned key,
    then no downgrade. Reads the tar once; extracts nothing."""
    deps = deps_of(ctx)
    try:
        key = None if public_key is None else public_key_from_pem(
            read_key_file(public_key), str(public_key))
        with Progress(TextColumn("Verifying"), BarColumn(), DownloadColumn(),
                      TimeRemainingColumn(), console=deps.err, transient=True,
                      disable=json_out) as bar:
            task = bar.add_task("verify", total=path.stat().st_size if path.is_file() else None)
            result = verify_bundle(path, _home(home), public_key=key,
                                   allow_downgrade=allow_downgrade,
                                   progress=lambda n: bar.advance(task, n))
    except BundleError as exc:
        _fail(deps, exc, json_out)
    if json_out:
        print_json(_verified_json(result))
        return
    m = result.manifest
    out = deps.out
    out.print(f"[bold green]bundle verified[/]: version [bold]{m.version}[/] (built "
              f"{m.created}), {result.move.value}"
              + (f" from {result.installed}" if result.installed else ""))
    out.print(f"integrity: {len(m.files)} files, {human_size(m.total_size)} "
              f"(tar {human_size(result.tar_size)}), aggregate sha256 {m.aggregate_sha256}",
              soft_wrap=True)
    out.print(f"signature: Ed25519 by pinned key {result.signer}", soft_wrap=True)
    if m.signatures_date:
        out.print(f"ClamAV signatures of {m.signatures_date}")
    out.print(_images_table(m))


@bundle_app.command("trust")
def trust(
    ctx: typer.Context,
    pubkey: Annotated[Path, typer.Argument(help="The vendor's release public key (PEM).")],
    expect_fingerprint: Annotated[str | None, typer.Option(
        "--expect-fingerprint", help="Refuse unless the key's SHA-256 fingerprint is this "
                                     "(the one the vendor gave you).")] = None,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Pin a release public key in the install home; prints its SHA-256 fingerprint to
    compare with the one the vendor gave you out of band."""
    deps = deps_of(ctx)
    target = _home(home)
    try:
        key = public_key_from_pem(read_key_file(pubkey), str(pubkey))
        fp = fingerprint(key)
        wanted = (expect_fingerprint or "").strip().lower().replace(":", "")
        if expect_fingerprint is not None and wanted != fp:
            raise BundleError(f"{pubkey} has fingerprint {fp}, not {wanted}",
                              code="FINGERPRINT_MISMATCH",
                              hint="do not pin it: this is not the key the vendor announced")
        try:
            pinned = target.pin(key)
        except OSError as exc:
            raise BundleError(f"cannot write to {target.keys_dir}: {exc.strerror or exc}",
                              code="INSTALL_HOME",
                              hint=f"run as the user that owns {target.root} (often root), or "
                                   "choose another --home") from exc
    except BundleError as exc:
        _fail(deps, exc, json_out)
    if json_out:
        print_json({"fingerprint": pinned.fingerprint, "path": str(pinned.path),
                    "already_pinned": pinned.already_pinned})
        return
    verb = "was already pinned" if pinned.already_pinned else "is now pinned"
    deps.out.print(f"Release key {verb} in {pinned.path}", soft_wrap=True)
    deps.out.print(f"SHA-256 fingerprint: [bold]{pinned.fingerprint}[/]", soft_wrap=True)
    if expect_fingerprint is None:
        deps.out.print("Compare it with the fingerprint the vendor gave you out of band; if "
                       f"they differ, remove {pinned.path}.", soft_wrap=True)


@bundle_app.command("status")
def status(ctx: typer.Context, home: HomeOpt = None, json_out: JsonOpt = False) -> None:
    """The installed release, the previous one and the pinned release keys."""
    deps = deps_of(ctx)
    target = _home(home)
    try:
        current = target.release("current")
        previous = target.release("previous")
        keys = sorted(target.pinned_keys())
    except BundleError as exc:
        _fail(deps, exc, json_out)

    def brief(m: Manifest | None) -> dict[str, Any] | None:
        return None if m is None else {"version": m.version, "created": m.created,
                                       "signer": m.signer,
                                       "images": [i.name for i in m.images]}

    if json_out:
        print_json({"home": str(target.root), "installed": brief(current),
                    "previous": brief(previous), "pinned_keys": keys})
        return
    out = deps.out
    out.print(f"install home: {target.root}", soft_wrap=True)
    for label, m in (("installed", current), ("previous", previous)):
        if m is None:
            out.print(f"{label}: none")
        else:
            out.print(f"{label}: [bold]{m.version}[/] (built {m.created}, signed by "
                      f"{m.signer}; images {', '.join(i.name for i in m.images)})",
                      soft_wrap=True)
    if not keys:
        out.print("pinned release keys: none — pin the vendor's with "
                  "`frostbyte bundle trust KEY.pub`", soft_wrap=True)
        return
    out.print(f"pinned release keys ({target.keys_dir}):", soft_wrap=True)
    for fp in keys:
        out.print(f"  {fp}", soft_wrap=True)


def _installer(deps: Deps, home: Path | None, timeout: float) -> Installer:
    def say(text: str) -> None:  # progress on stderr, also with --json (stdout stays JSON)
        deps.err.print(f"· {text}", markup=False, highlight=False, soft_wrap=True)

    return Installer(_home(home), say=say, ready_timeout_s=timeout)


TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", help="Seconds to wait for the set to answer ready through its gateway.")]


@bundle_app.command("load")
def load(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The bundle: frostbyte-bundle-<version>.tar.")],
    publish: Annotated[str, typer.Option(
        "--publish", help="ADDR:PORT where the gateway's HTTPS listens.")] = DEFAULT_PUBLISH,
    tenant: Annotated[str, typer.Option(
        "--tenant", help="The installation's tenant slug (names the set, its volumes and "
                         "bucket).")] = DEFAULT_TENANT,
    timeout: TimeoutOpt = READY_TIMEOUT_S,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """First install: verify the bundle, unpack it, load its images (podman, else docker),
    make the installation's secrets and CA once, start the set with no network access,
    wait until it is ready over HTTPS, and print a first vendor key (shown once)."""
    deps = deps_of(ctx)
    try:
        result = _installer(deps, home, timeout).load(path, tenant=tenant,
                                                                publish=publish)
    except BundleError as exc:
        _fail(deps, exc, json_out)
    if json_out:
        print_json({"ok": True, "version": result.version, "release": str(result.release),
                    "endpoint": result.url, "ca_cert": str(result.ca),
                    "vendor_key": {"key_id": result.key_id, "key": result.key,
                                   "scopes": ["ingest", "read", "audit"]},
                    "load_to_ready_s": round(result.seconds, 1),
                    "bundle_bytes": result.bundle_bytes})
        return
    out = deps.out
    out.print(f"[bold green]release {result.version} is running[/] at {result.url}",
              soft_wrap=True)
    out.print(f"CA certificate for clients: {result.ca} (e.g. FROSTBYTE_CA_CERT={result.ca})",
              soft_wrap=True)
    out.print(f"first vendor key ({result.key_id}; scopes ingest, read, audit) — shown "
              "ONCE, store it now:")
    out.print(result.key, markup=False, highlight=False, soft_wrap=True)
    out.print(f"bundle size: {human_size(result.bundle_bytes)}; load-to-ready time: "
              f"{result.seconds:.1f} s")


@bundle_app.command("update")
def update(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The newer bundle's .tar.")],
    timeout: TimeoutOpt = READY_TIMEOUT_S,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Move the running set to a newer (or the same) release: verify, unpack, load its
    images, restart the set with the same volumes and secrets, wait until ready; when the
    new release does not get ready, the previous one is started again (exit 11)."""
    deps = deps_of(ctx)
    try:
        result = _installer(deps, home, timeout).update(path)
    except BundleError as exc:
        _fail(deps, exc, json_out)
    _switched(deps, result, json_out, "updated")


@bundle_app.command("signatures")
def signatures(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(
        help="The newer ClamAV signatures: another bundle's clamav/ folder, or a copy of a "
             "freshclam'd /var/lib/clamav (main.cvd, daily.cvd/.cld).")],
    timeout: TimeoutOpt = READY_TIMEOUT_S,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Put newer ClamAV signatures onto the running set without a new release: fill its
    clamav-db volume, restart its clamd, wait until /readyz is 200 (it shows the daily
    version and age; it stays 503 with test signatures alone)."""
    deps = deps_of(ctx)
    try:
        seconds = _installer(deps, home, timeout).install_signatures(folder)
    except BundleError as exc:
        _fail(deps, exc, json_out)
    if json_out:
        print_json({"ok": True, "signatures": str(folder), "seconds": round(seconds, 1)})
        return
    deps.out.print(f"[bold green]signatures installed[/] from {folder}, ready in "
                   f"{seconds:.1f} s", soft_wrap=True)


@bundle_app.command("rollback")
def rollback(
    ctx: typer.Context,
    timeout: TimeoutOpt = READY_TIMEOUT_S,
    home: HomeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Go back to the previous release (same volumes and secrets), with a health check;
    the release left becomes the previous one."""
    deps = deps_of(ctx)
    try:
        result = _installer(deps, home, timeout).rollback()
    except BundleError as exc:
        _fail(deps, exc, json_out)
    _switched(deps, result, json_out, "rolled back")


def _switched(deps: Deps, result: SwitchResult, json_out: bool, verb: str) -> None:
    if json_out:
        print_json({"ok": True, "from": result.from_version, "to": result.to_version,
                    "seconds": round(result.seconds, 1)})
        return
    deps.out.print(f"[bold green]{verb}[/]: release {result.from_version} → "
                   f"{result.to_version}, ready in {result.seconds:.1f} s")
