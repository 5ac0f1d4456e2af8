"""The control plane's one place where errors become HTTP responses: the shared envelope and
request ids (:mod:`frostbyte_common.http_errors`); each error's status is its class's (the
tree is drawn in :mod:`control_plane.errors`; e.g. ``InsufficientCapacity`` is a 503 whose
message, which says what the machine lacks, reaches the caller)."""

from __future__ import annotations

from fastapi import FastAPI

from frostbyte_common import http_errors

#: What a caller reads on a 500: the details are in the control plane's log.
INTERNAL_MESSAGE = "internal error; see the control-plane log"


def install_error_handlers(app: FastAPI) -> None:
    http_errors.install_error_handlers(app, internal_message=INTERNAL_MESSAGE)
