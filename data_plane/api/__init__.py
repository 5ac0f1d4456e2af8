"""The tenant endpoint (FastAPI): thin routes over the services."""
