"""Providers turn "tenant T with config C" into a running, isolated data plane (SPEC §4)."""
