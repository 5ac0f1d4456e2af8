"""The control plane's HTTP API: app factory, routes, admin auth, error mapping."""

from control_plane.api.app import create_app

__all__ = ["create_app"]
