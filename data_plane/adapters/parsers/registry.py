"""A registry of parsers keyed by name (STYLE.md item 6).

Refuses a second registration under the same name and, asked for an unknown name, lists the
names it knows. Factories are registered rather than instances so that heavy converters are
only built for the parsers a process actually uses.
"""

from __future__ import annotations

from collections.abc import Callable

from data_plane.domain.ports import Parser

ParserFactory = Callable[[], Parser]


class UnknownParserError(LookupError):
    """No parser is registered under the requested name."""


class DuplicateParserError(ValueError):
    """A parser is already registered under this name."""


class ParserRegistry:
    """Name → parser factory; each parser is built once, on first use."""

    def __init__(self) -> None:
        self._factories: dict[str, ParserFactory] = {}
        self._instances: dict[str, Parser] = {}

    def register(self, name: str, factory: ParserFactory) -> None:
        """Register ``factory`` under ``name``; raises ``DuplicateParserError`` if taken."""
        if name in self._factories:
            raise DuplicateParserError(f"a parser named {name!r} is already registered")
        self._factories[name] = factory

    def get(self, name: str) -> Parser:
        """The parser registered as ``name`` (built on first call)."""
        if name not in self._factories:
            known = ", ".join(sorted(self._factories)) or "none"
            raise UnknownParserError(f"unknown parser {name!r}; known parsers: {known}")
        if name not in self._instances:
            self._instances[name] = self._factories[name]()
        return self._instances[name]

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._factories))

    def __contains__(self, name: object) -> bool:
        return name in self._factories


def default_registry() -> ParserRegistry:
    """A registry holding the built-in parsers: docling, unstructured, pdfplumber, ocr and
    legacy-office (antiword)."""
    from data_plane.adapters.parsers.docling_parser import DoclingParser
    from data_plane.adapters.parsers.legacy_office import LegacyWordParser
    from data_plane.adapters.parsers.ocr_parser import OcrParser
    from data_plane.adapters.parsers.pdfplumber_parser import PdfPlumberParser
    from data_plane.adapters.parsers.unstructured_parser import UnstructuredParser

    registry = ParserRegistry()
    registry.register(DoclingParser.name, DoclingParser)
    registry.register(UnstructuredParser.name, UnstructuredParser)
    registry.register(PdfPlumberParser.name, PdfPlumberParser)
    registry.register(OcrParser.name, OcrParser)
    registry.register(LegacyWordParser.name, LegacyWordParser)
    return registry
