"""Process entry points of the data plane: ``python -m data_plane <command>``.

    migrate            apply the tenant database schema and the job queue's schema
    prepare-database   on a host running the tenant's own PostgreSQL: make the service role
                       and database as the superuser (FROSTBYTE_DP_ADMIN_DATABASE_URL), then
                       migrate as that superuser, granting the service role its share
    serve              the tenant API (uvicorn); owns the local vector index
    worker             the pipeline worker (parse, chunk, embed); a separate process
    add-vendor-key     install a vendor key's hash (the control plane issued the key)
    revoke-vendor-key  revoke one
    reindex            rebuild the vector index from PostgreSQL
    clamd-config       print the config of a clamd of the project's own (for the playbooks)
    clamd-info         print where this host's clamd binary and the signature folder it
                       should load are, with that folder's database versions and dates
                       (JSON; for the local provider, the playbooks and the offline bundle):
                       FROSTBYTE_DP_CLAMD_SIGNATURES if set, else /var/lib/clamav when it
                       holds the official main and daily databases, else the project's
                       test signatures
    clamd-reload       ask running clamds to reload their signatures (RELOAD), each given
                       by its socket or its clamd.conf; prints each one's VERSION after

Settings come from ``FROSTBYTE_DP_*`` environment variables (``DataPlaneSettings``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_plane.settings import DataPlaneSettings

# Imported where a command needs them: the clamd commands need neither the settings nor
# structlog (~0.4 s of CPU for an interpreter), and each tenant start runs one of them.
log = logging.getLogger("data_plane")


def _settings() -> DataPlaneSettings:
    """The settings, with logging set up first: a setting that does not validate is a JSON
    line too (the uncaught exception's), and then every line names the tenant."""
    from data_plane.settings import DataPlaneSettings
    from frostbyte_common import logs

    logs.configure()
    settings = DataPlaneSettings()
    logs.configure(settings.log_level, tenant=settings.tenant)
    return settings


def _migrate(settings: DataPlaneSettings) -> int:
    from data_plane import host_commands  # not wiring: it imports the whole object graph

    print(json.dumps(host_commands.migrate(settings)))
    return 0


def _prepare_database(settings: DataPlaneSettings) -> int:
    from data_plane import host_commands

    if settings.admin_database_url is None:
        log.error("prepare-database needs FROSTBYTE_DP_ADMIN_DATABASE_URL (a superuser's "
                  "conninfo)")
        return 2
    print(json.dumps(host_commands.prepare_database(settings, settings.admin_database_url)))
    return 0


def _serve(settings: DataPlaneSettings) -> int:
    from data_plane import wiring

    wiring.use_metrics_dir(settings)  # before the app makes its metrics
    from data_plane.api.app import create_app
    from frostbyte_common.serving import ServerLimits, serve

    limits = ServerLimits(header_timeout_s=settings.header_timeout_s,
                          keep_alive_timeout_s=settings.keep_alive_timeout_s,
                          max_concurrency=settings.max_concurrency)
    if settings.socket is not None:
        settings.socket.unlink(missing_ok=True)  # left by a killed predecessor
        serve(create_app(settings), limits, uds=settings.socket, log_level=settings.log_level)
        return 0
    serve(create_app(settings), limits, host=settings.host, port=settings.port,
          log_level=settings.log_level)
    return 0


def _worker(settings: DataPlaneSettings) -> int:
    from data_plane import wiring

    wiring.use_metrics_dir(settings)  # where the API's /metrics reads the worker's
    wiring.run_worker(settings)
    return 0


def _vendor_key(settings: DataPlaneSettings, args: argparse.Namespace) -> int:
    from data_plane import host_commands
    from frostbyte_common.errors import ValidationFailed

    with host_commands.key_admin(settings) as keys:
        if args.command == "revoke-vendor-key":
            print(json.dumps({"revoked": keys.revoke(args.key_id)}))
            return 0
        try:
            keys.install(args.key_id, args.sha256, [s for s in args.scopes.split(",") if s],
                         args.label)
        except ValidationFailed as exc:
            log.error("vendor key not installed: %s", exc.message)
            return 2
        print(json.dumps({"installed": args.key_id}))
        return 0


def _reindex(settings: DataPlaneSettings) -> int:
    from data_plane import wiring

    print(json.dumps({"points": wiring.reindex(settings)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_plane")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("migrate", "prepare-database", "serve", "worker", "reindex"):
        sub.add_parser(name)
    add = sub.add_parser("add-vendor-key")
    add.add_argument("--key-id", required=True)
    add.add_argument("--sha256", required=True)
    add.add_argument("--scopes", required=True)
    add.add_argument("--label")
    rev = sub.add_parser("revoke-vendor-key")
    rev.add_argument("--key-id", required=True)
    clamd = sub.add_parser("clamd-config")
    for option in ("--socket", "--database", "--temp-dir"):
        clamd.add_argument(option, type=Path, required=True)
    clamd.add_argument("--log-file", type=Path,
                       help="clamd's own log file; without it clamd writes its log to "
                            "standard output, for whoever started it to keep")
    clamd.add_argument("--max-stream-bytes", type=int, required=True)
    clamd.add_argument("--self-check-s", type=int, default=600,
                       help="seconds between clamd's checks for a changed signature folder "
                            "(it reloads then); 0: never")
    sub.add_parser("clamd-info")
    reload = sub.add_parser("clamd-reload")
    reload.add_argument("clamds", type=Path, nargs="+", metavar="SOCKET_OR_CONF")
    args = parser.parse_args(argv)

    # The clamd commands need no settings (the playbooks and the local provider run them
    # before a host has any) and nothing of the object graph: they read the clamav adapter
    # alone, so they start in a fraction of the time the composition root takes to import.
    if args.command == "clamd-config":
        from data_plane.adapters.clamav.daemon import render_config

        sys.stdout.write(render_config(socket=args.socket, database=args.database,
                                       temp_dir=args.temp_dir, log_file=args.log_file,
                                       max_stream_bytes=args.max_stream_bytes,
                                       self_check_s=args.self_check_s))
        return 0
    if args.command == "clamd-info":
        from data_plane.adapters.clamav.daemon import clamd_binary
        from data_plane.adapters.clamav.databases import describe, signatures_folder

        print(json.dumps({"binary": clamd_binary(), **describe(signatures_folder())}))
        return 0
    if args.command == "clamd-reload":
        from data_plane.adapters.clamav.daemon import reload_clamds

        return reload_clamds(args.clamds)
    settings = _settings()
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "prepare-database":
        return _prepare_database(settings)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "worker":
        return _worker(settings)
    if args.command == "reindex":
        return _reindex(settings)
    return _vendor_key(settings, args)


if __name__ == "__main__":
    sys.exit(main())
