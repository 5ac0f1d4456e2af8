"""The control plane: admin API, tenant registry and lifecycle, provisioning, providers.

Layers (imports point downwards only):

    api/            thin FastAPI routes, auth, the one error → HTTP mapping; each route
                    depends on the one service it uses
    services/       use cases, one service per responsibility: tenant lifecycle, vendor
                    keys, data-plane control, quarantine, secret rotation, recovery, job
                    history; the job runner and its named steps
    domain/         pure lifecycle state machine, records and the ports (no I/O)
    adapters/       PostgreSQL registry and job store, job queue, SOPS secret store,
                    data-plane HTTP client, audit archive on disk, process helpers
    providers/      the Provider port (``base``) and its implementations (local, hetzner)
    local_runtime/  what ``frostbyte local up/down`` calls: project PostgreSQL + control plane

``wiring.py`` is the composition root: the only module that picks the adapters and builds
every service once (the API's lifespan opens it).
"""
