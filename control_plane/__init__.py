"""The control plane: admin API, tenant registry and lifecycle, provisioning, providers.

Layers (imports point downwards only):

    api/            thin FastAPI routes, auth, the one error → HTTP mapping
    services/       use cases: create tenant, run provisioning, issue vendor keys
    domain/         pure lifecycle state machine (no I/O)
    adapters/       PostgreSQL registry, process helpers
    providers/      the Provider port and its implementations (local, …)
    local_runtime/  what ``frostbyte local up/down`` calls: project PostgreSQL + control plane
"""
