"""Adapters of the control plane: the PostgreSQL tenant registry and process helpers."""
