"""Pure policy logic applied at ingestion (SPEC §5.3): PII actions, document safety and
classification. No I/O here; detectors are ports implemented by adapters."""
