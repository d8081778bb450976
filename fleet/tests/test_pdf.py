"""The PDF helper: the static-only URL fetcher, the base template, the footer and the SVG bar chart."""

import threading
import zlib
from collections import Counter
from io import BytesIO
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation
from pypdf import PdfReader

import fleet.pdf
from fleet.charts import bar_chart_svg, nice_ticks
from fleet.pdf import PdfResourceRefused, StaticFilesURLFetcher, page_footer_css_content, render_pdf
from fleet.testing.pdf import embedded_fonts, pdf_text, squash

FONT_URL = f"{settings.STATIC_URL}fonts/ipaexg.ttf"
SVG = "{http://www.w3.org/2000/svg}"

TINY = """{% extends "pdf/base.html" %}{% load i18n %}
{% block title %}Tiny document{% endblock %}
{% block header %}<h1 class="doc-title">Tiny document</h1>{% endblock %}
{% block content %}<p>Typed: {{ typed }}</p><p>東京本社</p>{% endblock %}"""
FETCHES_HTTP = """{% extends "pdf/base.html" %}{% block content %}<img src="http://example.com/x.png">{% endblock %}"""
FETCHES_FILE = """{% extends "pdf/base.html" %}{% block content %}<img src="file:///etc/passwd">{% endblock %}"""


def locmem_templates(**templates: str) -> list[dict]:
    """The project's template settings plus in-memory templates named ``tests/<key>.html``."""
    engine = {**settings.TEMPLATES[0], "APP_DIRS": False}
    engine["OPTIONS"] = {
        **engine["OPTIONS"],
        "loaders": [
            ("django.template.loaders.locmem.Loader", {f"tests/{k}.html": v for k, v in templates.items()}),
            "django.template.loaders.filesystem.Loader",
            "django.template.loaders.app_directories.Loader",
        ],
    }
    return [engine]


@pytest.fixture
def fetched(monkeypatch) -> list[str]:
    """The URLs WeasyPrint asks the fetcher for during the test."""
    urls: list[str] = []
    original_fetch = StaticFilesURLFetcher.fetch

    def spy(self, url, headers=None):
        urls.append(url)
        return original_fetch(self, url, headers)

    monkeypatch.setattr(StaticFilesURLFetcher, "fetch", spy)
    return urls


# The URL fetcher ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/logo.png",
        "https://example.com/style.css",
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "ftp://example.com/x",
        "/etc/passwd",
        "logo.png",
        f"{settings.STATIC_URL}../fleet/settings.py",
        f"{settings.STATIC_URL}fonts/../../fleet/settings.py",
        f"{settings.STATIC_URL}%2e%2e/fleet/settings.py",
        f"{settings.STATIC_URL}/etc/passwd",
        f"{settings.STATIC_URL}fonts\\..\\..\\manage.py",
        f"{settings.STATIC_URL}fonts/does-not-exist.ttf",
        f"{settings.STATIC_URL}fonts",
        "static-file:../manage.py",
        "static-file:/etc/passwd",
    ],
)
def test_url_fetcher_refuses_anything_but_static_files(url):
    with pytest.raises(PdfResourceRefused):
        StaticFilesURLFetcher().fetch(url)


@pytest.mark.parametrize("url", [FONT_URL, "static-file:fonts/ipaexg.ttf"])
def test_url_fetcher_serves_the_bundled_font_from_static_files(url):
    response = StaticFilesURLFetcher().fetch(url)
    try:
        assert response.read(4) == b"\x00\x01\x00\x00"  # a TrueType font
        assert response.content_type in {"font/ttf", "font/sfnt", "application/x-font-ttf"}
    finally:
        response.close()


def test_url_fetcher_serves_data_urls():
    response = StaticFilesURLFetcher().fetch("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello"


# Rendering ------------------------------------------------------------------------------------------------


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_renders_a_tiny_document_with_the_bundled_font_and_footer(fetched):
    pdf = render_pdf(template_name="tests/tiny.html", context={"typed": "plain"}, language="en")

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Tiny document" in text
    assert "東京本社" in text
    assert "Page 1 of 1" in text
    assert set(fetched) <= {FONT_URL}  # once a thread: its font configuration is kept (see the next test)
    assert "IPAexGothic" in embedded_fonts(pdf)


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_reads_the_font_once_a_thread(fetched):
    pdfs = []

    def render_twice():
        for _ in range(2):
            pdfs.append(render_pdf(template_name="tests/tiny.html", context={"typed": ""}, language="en"))

    thread = threading.Thread(target=render_twice)  # a thread of its own: its first document loads the font
    thread.start()
    thread.join()

    assert fetched == [FONT_URL]
    assert all("IPAexGothic" in embedded_fonts(pdf) for pdf in pdfs) and len(pdfs) == 2


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_parses_a_documents_styles_once_a_thread_and_language(monkeypatch):
    parsed = []
    original = fleet.pdf.CSS

    def spy(**kwargs):
        parsed.append(kwargs["string"])
        return original(**kwargs)

    monkeypatch.setattr(fleet.pdf, "CSS", spy)
    texts = []

    def render_in(languages):
        for language in languages:
            pdf = render_pdf(template_name="tests/tiny.html", context={"typed": ""}, language=language)
            texts.append(pdf_text(pdf))

    thread = threading.Thread(target=render_in, args=(["en", "ja", "en", "ja"],))
    thread.start()
    thread.join()

    assert len(parsed) == 2  # the footer's words differ by language: one stylesheet each
    assert ["Page 1 of 1" in text for text in texts] == [True, False, True, False]
    assert texts[0] == texts[2] and texts[1] == texts[3]


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_compresses_each_stream_of_a_pdf_a_once(monkeypatch):
    compressed: list[bytes] = []
    original = zlib.compressobj

    class Spy:
        def __init__(self, *args, **kwargs):
            self.wrapped = original(*args, **kwargs)

        def compress(self, data):
            compressed.append(bytes(data))
            return self.wrapped.compress(data)

        def flush(self):
            return self.wrapped.flush()

    monkeypatch.setattr(zlib, "compressobj", Spy)
    pdf = render_pdf(
        template_name="tests/tiny.html", context={"typed": ""}, language="ja", write_options={"pdf_variant": "pdf/a-3b"}
    )

    assert len(compressed) >= 3  # the page, the font and its width table at least
    # An identifier hashes the objects before they are written: the streams' bytes were reused. Only the object
    # stream, which is built while the PDF is written, is compressed twice.
    assert sum(count - 1 for count in Counter(compressed).values()) == 1
    assert "東京本社" in pdf_text(pdf) and "IPAexGothic" in embedded_fonts(pdf)


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_prints_a4_pages():
    pdf = render_pdf(template_name="tests/tiny.html", context={"typed": ""}, language="en")

    box = PdfReader(BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


@override_settings(TEMPLATES=locmem_templates(tiny=TINY))
def test_render_pdf_escapes_typed_text_and_fetches_nothing_it_names(fetched):
    typed = '<img src="file:///etc/passwd"><link rel="stylesheet" href="http://example.com/x.css"><script>x</script>'

    pdf = render_pdf(template_name="tests/tiny.html", context={"typed": typed}, language="en")

    assert squash(typed) in squash(pdf_text(pdf))
    assert set(fetched) <= {FONT_URL}


@pytest.mark.parametrize("template", ["http", "file"])
def test_render_pdf_fails_when_a_template_names_a_resource_outside_static_files(template):
    templates = locmem_templates(http=FETCHES_HTTP, file=FETCHES_FILE)
    with override_settings(TEMPLATES=templates), pytest.raises(PdfResourceRefused):
        render_pdf(template_name=f"tests/{template}.html", context={}, language="en")


def test_page_footer_counts_pages_in_english():
    with translation.override("en"):
        assert page_footer_css_content() == '"Page " counter(page) " of " counter(pages)'


def test_page_footer_keeps_the_translations_word_order_and_escapes_it(monkeypatch):
    monkeypatch.setattr(fleet.pdf, "gettext", lambda text: '全%(pages)s頁中 "%(page)s" 頁</style>')

    assert page_footer_css_content() == '"全" counter(pages) "頁中 \\"" counter(page) "\\" 頁\\3C /style>"'


# Charts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
def test_bar_chart_svg_escapes_every_label(orientation):
    svg = bar_chart_svg(
        [("<script>alert(1)</script>", 3), ('Printers & "MFPs"', 5)],
        orientation=orientation,
        title="<b>title</b>",
        value_axis_label="<i>count</i>",
        category_axis_label="kind'",
    )

    assert "<script>" not in svg
    assert "<b>" not in svg and "<i>" not in svg
    root = ElementTree.fromstring(svg)  # well-formed XML
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "<script>alert(1)</script>" in texts
    assert 'Printers & "MFPs"' in texts
    assert "<i>count</i>" in texts
    assert len(root.findall(f"{SVG}g/{SVG}rect")) == 2


def test_bar_chart_svg_draws_bars_in_proportion():
    svg = bar_chart_svg([("a", 10), ("b", 5)], orientation="vertical")

    rects = ElementTree.fromstring(svg).findall(f".//{SVG}rect")
    heights = [float(rect.get("height")) for rect in rects]
    assert heights[0] == pytest.approx(2 * heights[1])


def test_bar_chart_svg_rejects_negative_values_and_odd_colours():
    with pytest.raises(ValueError):
        bar_chart_svg([("a", -1)])
    with pytest.raises(ValueError):
        bar_chart_svg([("a", 1)], bar_colour='red" onload="x')


def test_bar_chart_svg_of_no_data_shows_the_empty_text():
    svg = bar_chart_svg([], empty_text="No <assets>")

    assert "No &lt;assets&gt;" in svg
    ElementTree.fromstring(svg)


def test_nice_ticks_are_round_and_cover_the_maximum():
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(1234)[-1] >= 1234
    assert nice_ticks(1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1, integer=True) == [0, 1]
