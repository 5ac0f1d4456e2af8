"""The vendor web page (SPEC §5.8), served at the tenant endpoint's ``/``."""
