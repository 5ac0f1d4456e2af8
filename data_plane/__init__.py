"""The per-tenant data plane: intake, parsing, chunking, embedding, storage, retrieval, audit.

Layers: ``api`` (thin FastAPI routes) → ``services`` (use cases, orchestration) → ``domain``
(pure logic, no I/O). ``adapters`` implement the ports in ``domain.ports`` (PostgreSQL,
object store, Qdrant, parsers, embedding models) and are wired together in ``wiring``.
"""
