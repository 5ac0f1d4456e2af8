"""Pure OCR post-processing: Tesseract TSV → paragraphs → typed blocks."""

from __future__ import annotations

from data_plane.adapters.ocr import OcrPage, OcrParagraph, paragraphs_from_tsv
from data_plane.adapters.parsers.ocr_parser import blocks_from_page
from data_plane.domain.canonical import ElementType

HEADER = "\t".join(["level", "page_num", "block_num", "par_num", "line_num", "word_num",
                     "left", "top", "width", "height", "conf", "text"])


def word(block: int, par: int, line: int, n: int, left: int, top: int, text: str,
         conf: float = 95.0, height: int = 20) -> str:
    return f"5\t1\t{block}\t{par}\t{line}\t{n}\t{left}\t{top}\t40\t{height}\t{conf}\t{text}"


def test_words_become_paragraphs_with_hyphenation_merged_and_specks_dropped() -> None:
    tsv = "\n".join([
        HEADER,
        "2\t1\t1\t0\t0\t0\t10\t10\t300\t60\t-1\t",
        word(1, 1, 1, 1, 10, 10, "Inspection"),
        word(1, 1, 1, 2, 60, 10, "of"),
        word(1, 1, 1, 3, 90, 10, "sprink-"),
        word(1, 1, 2, 1, 10, 40, "lers"),
        word(1, 1, 2, 2, 60, 40, "~", conf=3.0),
        word(2, 1, 1, 1, 10, 100, "Second", height=22),
    ])
    paras = paragraphs_from_tsv(tsv)
    assert [p.text for p in paras] == ["Inspection of sprinklers", "Second"]
    assert paras[0].lines == 2 and paras[0].box == (10, 10, 130, 60)
    assert paras[0].confidence == 95.0


def para(text: str, height: float, lines: int = 1, conf: float = 90.0) -> OcrParagraph:
    return OcrParagraph(text=text, box=(30, 60, 300, 90), lines=lines, line_height=height,
                        confidence=conf)


def test_larger_short_lines_become_headings_and_boxes_are_scaled() -> None:
    page = OcrPage(width=1000, height=1400, paragraphs=(
        para("Annual Report", 40),
        para("Findings", 28),
        para("Body text " * 20, 20, lines=6),
        para("Another body paragraph " * 10, 20, lines=4),
        para("noise", 20, conf=12.0),
    ))
    blocks = blocks_from_page(3, page, scale=2.0)
    assert [(b.type, b.level) for b in blocks] == [
        (ElementType.HEADING, 1), (ElementType.HEADING, 2),
        (ElementType.PARAGRAPH, None), (ElementType.PARAGRAPH, None)]
    assert blocks[0].page == 3
    assert (blocks[0].bbox.left, blocks[0].bbox.bottom) == (15.0, 45.0)


def test_a_page_of_noise_gives_no_blocks() -> None:
    assert blocks_from_page(1, OcrPage(width=10, height=10,
                                       paragraphs=(para("~~", 20, conf=5.0),))) == []
