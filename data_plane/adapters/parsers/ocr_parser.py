"""OCR as a parser: images (PNG, JPEG, TIFF, every frame) and PDF pages without a text layer.

Page by page: each page image goes through Tesseract (``data_plane.adapters.ocr``) in the
tenant's languages (``ParseRequest.ocr_languages``); its paragraphs become elements with the
page number, a bounding box (pixels for images, PDF points from the top-left for PDF pages, as
pdfplumber gives them) and the mean word confidence. A paragraph of one or two short lines set
clearly larger than the page's body text becomes a heading, so scanned reports keep an outline.

The router uses ``parse`` for images and image-only PDFs, and ``ocr_pages`` to fill the pages
of a text PDF that carry no text (scanned pages bound into a born-digital file).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from data_plane.adapters.ocr import OcrPage, TesseractOcr
from data_plane.adapters.parsers._common import (
    NO_TEXT_EXTRACTED,
    UNSUPPORTED_FORMAT,
    ElementBuilder,
    failed_document,
    guarded,
    make_document,
)
from data_plane.adapters.parsers.formats import IMAGE_FORMATS, DocFormat, detect_format
from data_plane.domain.canonical import BoundingBox, CanonicalDocument, ElementType
from data_plane.domain.ports import ParseRequest

if TYPE_CHECKING:
    from PIL.Image import Image

PDF_DPI = 300
HEADING_HEIGHT_RATIO = 1.3
TOP_HEADING_RATIO = 1.8
MAX_HEADING_WORDS = 14
MIN_PARAGRAPH_CONFIDENCE = 30.0


@dataclass(frozen=True, slots=True)
class OcrBlock:
    """One recognised paragraph placed on its page."""

    page: int
    type: ElementType
    level: int | None
    text: str
    bbox: BoundingBox
    confidence: float


class OcrParser:
    """Tesseract over page images; satisfies the ``Parser`` port."""

    name = "ocr"
    formats: frozenset[DocFormat] = frozenset({*IMAGE_FORMATS, DocFormat.PDF})

    def __init__(self, engine: TesseractOcr | None = None, pdf_dpi: int = PDF_DPI) -> None:
        self._engine = engine
        self._dpi = pdf_dpi
        self._parse = guarded(self._parse_unguarded, self.name, lambda: self.version)

    @property
    def engine(self) -> TesseractOcr:
        if self._engine is None:
            self._engine = TesseractOcr()
        return self._engine

    @property
    def version(self) -> str:
        try:
            return self.engine.version
        except Exception:  # not installed: the parse reports why
            return "unknown"

    def parse(self, request: ParseRequest) -> CanonicalDocument:
        """OCR every page of an image or PDF; never raises for a bad document."""
        return self._parse(request)

    def ocr_pages(self, request: ParseRequest, pages: Sequence[int]) -> list[OcrBlock]:
        """OCR the given 1-based pages of a PDF (raises on an unreadable file)."""
        return [b for page, image, scale in _pdf_pages(request, self._dpi, pages)
                for b in self._blocks(page, image, scale, request.ocr_languages)]

    def _parse_unguarded(self, request: ParseRequest) -> CanonicalDocument:
        fmt = detect_format(request.name, request.mime_type)
        if fmt not in self.formats:
            return failed_document(request, parser=self.name, version=self.version,
                                   message=f"{UNSUPPORTED_FORMAT}: OCR reads images and PDF")
        self.engine.check_languages(request.ocr_languages)
        pages = (_pdf_pages(request, self._dpi, None) if fmt is DocFormat.PDF
                 else _image_pages(request))
        blocks: list[OcrBlock] = []
        count = 0
        for page, image, scale in pages:
            count += 1
            blocks += self._blocks(page, image, scale, request.ocr_languages)
        builder = ElementBuilder()
        for b in blocks:
            attrs = {"source": "ocr", "confidence": f"{b.confidence:.1f}"}
            if b.type is ElementType.HEADING:
                builder.heading(b.text, b.level, page=b.page, bbox=b.bbox, attributes=attrs)
            else:
                builder.add(b.type, b.text, page=b.page, bbox=b.bbox, attributes=attrs)
        doc = make_document(request, parser=self.name, version=self.version,
                            elements=builder.elements, page_count=count,
                            metadata={"ocr_languages": "+".join(request.ocr_languages),
                                      "ocr_pages": str(count)})
        if doc.text_chars == 0:
            return failed_document(request, parser=self.name, version=self.version,
                                   message=f"{NO_TEXT_EXTRACTED}: OCR found no text in "
                                   f"{count} page(s) of {request.name!r}")
        return doc

    def _blocks(self, page: int, image: Image, scale: float,
                languages: Sequence[str]) -> list[OcrBlock]:
        return blocks_from_page(page, self.engine.recognize(image, languages), scale)


def blocks_from_page(page: int, ocr: OcrPage, scale: float = 1.0) -> list[OcrBlock]:
    """Pure: an OCR'd page → typed blocks (headings by relative line height); boxes divided
    by ``scale`` (pixels per unit of the page's coordinates)."""
    kept = [p for p in ocr.paragraphs if p.confidence >= MIN_PARAGRAPH_CONFIDENCE]
    if not kept:
        return []
    weights = [h for p in kept for h in [p.line_height] * p.lines]
    body = statistics.median(weights)
    out: list[OcrBlock] = []
    for p in kept:
        ratio = p.line_height / body if body else 1.0
        heading = (ratio >= HEADING_HEIGHT_RATIO and p.lines <= 2
                   and len(p.text.split()) <= MAX_HEADING_WORDS)
        left, top, right, bottom = (v / scale for v in p.box)
        out.append(OcrBlock(
            page=page,
            type=ElementType.HEADING if heading else ElementType.PARAGRAPH,
            level=(1 if ratio >= TOP_HEADING_RATIO else 2) if heading else None,
            text=p.text, confidence=p.confidence,
            bbox=BoundingBox(left=round(left, 1), top=round(top, 1), right=round(right, 1),
                             bottom=round(bottom, 1))))
    return out


def _image_pages(request: ParseRequest) -> Iterator[tuple[int, Image, float]]:
    from PIL import Image, ImageSequence

    with Image.open(request.path) as img:
        for number, frame in enumerate(ImageSequence.Iterator(img), start=1):
            yield number, frame.convert("L"), 1.0


def _pdf_pages(request: ParseRequest, dpi: int, pages: Sequence[int] | None
               ) -> Iterator[tuple[int, Image, float]]:
    import pypdfium2  # type: ignore[import-untyped]

    scale = dpi / 72
    pdf = pypdfium2.PdfDocument(str(request.path))
    try:
        wanted = pages if pages is not None else range(1, len(pdf) + 1)
        for number in wanted:
            page = pdf[number - 1]
            try:
                bitmap = page.render(scale=scale, grayscale=True)
                yield number, bitmap.to_pil(), scale
            finally:
                page.close()
    finally:
        pdf.close()
