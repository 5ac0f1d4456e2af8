"""One router per resource of the tenant API; :func:`data_plane.api.app.create_app`
includes them all."""
