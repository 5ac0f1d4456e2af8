"""The project's version, read from the installed distribution's metadata: ``pyproject.toml``
is the only place it is written (the wheel's and the editable install's metadata come from
it). The APIs, ``frostbyte --version`` and the data-plane release the ``hetzner`` provider
deploys all report this one value."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "frostbyte"
UNKNOWN = "0+unknown"


def installed_version() -> str:
    """The installed ``frostbyte`` distribution's version; ``0+unknown`` in a bare checkout
    that was never installed (nothing to read it from)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return UNKNOWN


__version__ = installed_version()
