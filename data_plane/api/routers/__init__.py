"""One router per resource of the tenant API; :func:`data_plane.api.app.create_app`
includes them all."""

#: The largest ``offset`` of a paged listing: PostgreSQL's OFFSET is a bigint, so a larger one
#: is the caller's error (422), not a failed query.
MAX_OFFSET = 2**63 - 1
