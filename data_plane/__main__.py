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
    clamd-info         print where this host's clamd binary and the shipped signatures are
                       (JSON; for the local provider, which runs each tenant's clamd)

Settings come from ``FROSTBYTE_DP_*`` environment variables (``DataPlaneSettings``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from data_plane.settings import DataPlaneSettings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s",'
               '"message":"%(message)s"}',
    )


def _migrate(settings: DataPlaneSettings) -> int:
    from data_plane.adapters import jobs
    from data_plane.adapters.postgres import TenantDatabase

    conninfo = settings.database_url.get_secret_value()
    db = TenantDatabase(conninfo, settings.tenant, max_size=1)
    db.open()
    try:
        db.migrate()
    finally:
        db.close()
    installed = jobs.apply_schema(conninfo)
    if settings.service_role:
        import psycopg

        from data_plane.adapters.audit_store import grant_service_role

        with psycopg.connect(conninfo, autocommit=True) as conn:
            grant_service_role(conn, settings.service_role)
    print(json.dumps({"migrated": True, "queue_schema_installed": installed,
                      "service_role": settings.service_role}))
    return 0


def _prepare_database(settings: DataPlaneSettings) -> int:
    from pydantic import SecretStr

    from data_plane.adapters.database_setup import prepare_database

    if settings.admin_database_url is None:
        print("prepare-database needs FROSTBYTE_DP_ADMIN_DATABASE_URL (a superuser's conninfo)",
              file=sys.stderr)
        return 2
    tenant_admin, role = prepare_database(settings.admin_database_url.get_secret_value(),
                                          settings.database_url.get_secret_value())
    return _migrate(settings.model_copy(update={"database_url": SecretStr(tenant_admin),
                                                "service_role": role}))


def _serve(settings: DataPlaneSettings) -> int:
    import uvicorn

    from data_plane.api.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level.lower(), access_log=False)
    return 0


def _worker(settings: DataPlaneSettings) -> int:
    from data_plane.adapters import jobs
    from data_plane.wiring import build_core, build_embedder, build_indexer, build_pipeline

    core = build_core(settings)
    core.db.open()
    embedder = build_embedder(settings)
    pipeline = build_pipeline(core, embedder)
    indexer = None if settings.index_in_api else build_indexer(core, embedder)
    from data_plane.services.intake_pending import build_pending_scans

    pending = build_pending_scans(core)
    jobs.register_tasks(core.queue_app, process=pipeline.process,
                        index=indexer.index if indexer else None,
                        rescan=pending.rescan_all if pending else None,
                        give_up=pipeline.give_up)
    queues = [jobs.PROCESS_QUEUE] + ([] if settings.index_in_api else [jobs.INDEX_QUEUE])

    async def run() -> None:
        async with core.queue_app.open_async():
            await jobs.recover_stalled(core.queue_app)
            await core.queue_app.run_worker_async(
                queues=queues, concurrency=settings.worker_concurrency,
                update_heartbeat_interval=jobs.HEARTBEAT_INTERVAL_SECONDS,
                stalled_worker_timeout=jobs.STALE_HEARTBEAT_SECONDS)

    try:
        asyncio.run(run())
    finally:
        core.db.close()
    return 0


def _vendor_key(settings: DataPlaneSettings, args: argparse.Namespace) -> int:
    from data_plane.adapters.postgres import TenantDatabase
    from data_plane.api.routes_control import CONTROL_SCOPE
    from frostbyte_common.vendor_keys import SCOPES

    db = TenantDatabase(settings.database_url.get_secret_value(), settings.tenant, max_size=1)
    db.open()
    try:
        if args.command == "revoke-vendor-key":
            print(json.dumps({"revoked": db.revoke_vendor_key(args.key_id)}))
            return 0
        scopes = [s for s in args.scopes.split(",") if s]
        # `control` is the control plane's own credential (routes under /control/v1); it is
        # never combined with a vendor scope.
        known = (*SCOPES, CONTROL_SCOPE)
        unknown = set(scopes) - set(known)
        if unknown or not scopes or (CONTROL_SCOPE in scopes and len(scopes) > 1):
            print(f"unknown scopes {sorted(unknown)}; choose from {SCOPES}, or "
                  f"{CONTROL_SCOPE!r} alone", file=sys.stderr)
            return 2
        db.add_vendor_key(args.key_id, args.sha256, scopes, args.label)
        print(json.dumps({"installed": args.key_id}))
        return 0
    finally:
        db.close()


def _reindex(settings: DataPlaneSettings) -> int:
    from data_plane.wiring import build_core, build_embedder, build_indexer

    core = build_core(settings)
    core.db.open()
    try:
        indexer = build_indexer(core, build_embedder(settings))
        print(json.dumps({"points": indexer.rebuild()}))
        indexer.vector_index.close()
    finally:
        core.db.close()
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
    for option in ("--socket", "--database", "--temp-dir", "--log-file"):
        clamd.add_argument(option, type=Path, required=True)
    clamd.add_argument("--max-stream-bytes", type=int, required=True)
    sub.add_parser("clamd-info")
    args = parser.parse_args(argv)

    if args.command == "clamd-config":  # needs no settings: runs before the host has them
        from data_plane.adapters.clamav.daemon import render_config

        sys.stdout.write(render_config(socket=args.socket, database=args.database,
                                       temp_dir=args.temp_dir, log_file=args.log_file,
                                       max_stream_bytes=args.max_stream_bytes))
        return 0
    if args.command == "clamd-info":  # needs no settings either
        from data_plane.adapters.clamav import SIGNATURES_DIR
        from data_plane.adapters.clamav.daemon import clamd_binary

        print(json.dumps({"binary": clamd_binary(), "signatures": str(SIGNATURES_DIR)}))
        return 0
    settings = DataPlaneSettings()
    _configure_logging(settings.log_level)
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
