"""The admin console (SPEC §5.8), served by the control plane at ``/``: server-rendered pages
(Jinja2, autoescaped) and a little plain JavaScript that calls the JSON API with the
console's session cookie and the page's CSRF token. No external asset: the CSS and script
are this package's ``static/`` files, open like the pages themselves.

Open paths (no credential asked by the request guard): the two pages (``/`` and
``/tenant``), which show the sign-in form when there is no live session, sign-in and
sign-out (each checks what it needs itself), and the static files. Everything the pages do
goes through the API, which the guard admits with the cookie (:mod:`control_plane.api.auth`).
"""

from control_plane.api.web.routes import console, open_paths, static_app

__all__ = ["console", "open_paths", "static_app"]
