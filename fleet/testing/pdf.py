"""Reading PDFs in tests: their text and the fonts they embed."""

from io import BytesIO

from pypdf import PdfReader


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def squash(text: str) -> str:
    """``text`` without whitespace: table cells and paragraphs wrap long values."""
    return "".join(text.split())


def embedded_fonts(pdf: bytes) -> set[str]:
    """Base names (subset prefix removed) of the TrueType fonts embedded in a PDF."""
    names = set()
    for page in PdfReader(BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]:
                descriptor = descendant.get("/FontDescriptor")
                if descriptor and "/FontFile2" in descriptor.get_object():
                    names.add(str(font["/BaseFont"]).split("+", 1)[-1])
    return names
