"""A stand-in for the real data plane with the same process contract (tests only)."""
