"""The local stack behind ``frostbyte local up`` / ``frostbyte local down``.

``up`` starts (if needed) the project's own PostgreSQL cluster — or uses ``DATABASE_URL`` — and
the control plane, which in turn restarts the data planes of existing local tenants. Its state
lives in ``<project_root>/.local`` (git-ignored; ``FROSTBYTE_STATE_DIR`` overrides):

    .local/                     0711: local tenants' accounts pass through, list nothing
    .local/admin_token          the admin token, mode 0600 (like a kubeconfig)
    .local/stack.json           what ``up`` started, so that ``down`` stops exactly that
    .local/pg/                  the project cluster (unless DATABASE_URL is used); every role,
                                the superuser too, logs in with a SCRAM password; the
                                superuser's is in pg/superuser.password (0600)
    .local/logs/control_plane.log, .local/pids/control_plane.pid
    .local/tenants/<slug>/      each local tenant (see control_plane.providers.local)
"""

from control_plane.local_runtime.stack import (
    CONTROL_DB,
    PG_PORT,
    LocalStackInfo,
    down,
    state_dir_for,
    up,
)

__all__ = ["CONTROL_DB", "PG_PORT", "LocalStackInfo", "down", "state_dir_for", "up"]
