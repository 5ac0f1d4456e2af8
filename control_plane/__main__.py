"""``python -m control_plane serve``: run the control-plane API with settings from the
environment (``FROSTBYTE_CP_*``). The app's lifespan builds everything through the
composition root (:mod:`control_plane.wiring`) and runs the job worker beside the API."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m control_plane")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the admin API (uvicorn)")
    serve.add_argument("--host", help="override FROSTBYTE_CP_HOST")
    serve.add_argument("--port", type=int, help="override FROSTBYTE_CP_PORT")
    args = parser.parse_args(argv)

    from control_plane.api.app import create_app
    from control_plane.settings import ControlPlaneSettings
    from frostbyte_common import logs, serving

    # one JSON object per line on stderr (frostbyte_common.logs), set up before the settings
    # so that a setting that does not validate is a JSON line too
    logs.configure()
    settings = ControlPlaneSettings()  # fields come from FROSTBYTE_CP_*
    logs.configure(settings.log_level)
    serving.serve(
        create_app(settings),
        serving.ServerLimits(header_timeout_s=settings.header_timeout_s,
                     keep_alive_timeout_s=settings.keep_alive_timeout_s,
                     max_concurrency=settings.max_concurrency),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
