"""Parser adapters: files → canonical documents (SPEC §5.2).

Entry point for services: ``ParserRouter().parse(request)``. Importing this package imports no
parsing library; each parser loads its library (after ``silence_egress()``) on first use.
"""

from data_plane.adapters.parsers.formats import DocFormat, detect_format
from data_plane.adapters.parsers.registry import (
    DuplicateParserError,
    ParserRegistry,
    UnknownParserError,
    default_registry,
)
from data_plane.adapters.parsers.routing import ROUTES, ParserRouter, Route

__all__ = [
    "ROUTES",
    "DocFormat",
    "DuplicateParserError",
    "ParserRegistry",
    "ParserRouter",
    "Route",
    "UnknownParserError",
    "default_registry",
    "detect_format",
]
