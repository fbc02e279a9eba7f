"""Lines and words of a page's existing text, in the OCR result's shape (for pages OCR skips)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pypdfium2 as pdfium


def page_lines(page: pdfium.PdfPage) -> list[dict[str, Any]]:
    """Words are runs of non-space characters, lines end where pdfium puts a line break."""
    from pdfjobs.engines.text import display_transform, page_bbox, page_text

    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        if count <= 0:
            return []
        text = page_text(textpage.raw, count)
        to_display = display_transform(page_bbox(page.raw), page.get_rotation())
        lines: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        current: list[tuple[str, tuple[float, float, float, float]]] = []

        def end_word() -> None:
            if current:
                boxes = [box for _, box in current]
                words.append(
                    {
                        "text": "".join(char for char, _ in current),
                        "bbox": _rounded(_hull(boxes)),
                        "confidence": 100.0,
                    }
                )
                current.clear()

        def end_line() -> None:
            end_word()
            if words:
                lines.append(
                    {
                        "text": " ".join(word["text"] for word in words),
                        "bbox": _rounded(_hull([word["bbox"] for word in words])),
                        "confidence": 100.0,
                        "words": list(words),
                    }
                )
                words.clear()

        for index, char in enumerate(text[:count]):
            if char in "\r\n":
                end_line()
            elif char.isspace():
                end_word()
            else:
                left, bottom, right, top = textpage.get_charbox(index)
                current.append((char, to_display((left, bottom, right, top))))
        end_line()
        return lines
    finally:
        textpage.close()


def _hull(boxes: list[Any]) -> tuple[float, float, float, float]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _rounded(box: tuple[float, float, float, float]) -> list[float]:
    return [round(value, 2) for value in box]
