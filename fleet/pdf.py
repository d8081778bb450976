"""PDF rendering: the one helper every document uses (invoices, work-order reports, proposals, registers).

A document is a Django template extending ``templates/pdf/base.html`` (A4, margins, the bundled Japanese
font, a "page X of Y" footer), rendered in the reader's language and handed to WeasyPrint. Typed text
reaches the HTML only through Django's autoescaping: never mark user text safe. WeasyPrint fetches
resources only through ``StaticFilesURLFetcher``, which serves the project's static files and ``data:``
URLs and refuses everything else, so nothing in a document can make the renderer read a local file or
call the network. A refused or missing resource fails the render with ``PdfResourceRefused``: a document
that silently lost its font or an image would look right in tests and wrong on paper.
"""

import functools
import mimetypes
import os.path
import re
import ssl
import threading
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from pydyf import Stream
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

#: Documents render against a base URL of this private scheme, which nothing but ``StaticFilesURLFetcher``
#: resolves: root-relative URLs (the ``/static/...`` that ``{% static %}`` writes) reach the fetcher as they
#: are, and ``static-file:fonts/x.ttf`` names a static file directly.
STATIC_FILE_SCHEME = "static-file"
PDF_BASE_URL = f"{STATIC_FILE_SCHEME}:/"

RESOURCE_REFUSED = "PDF resource refused: %(url)s (%(reason)s)"

_PLACEHOLDER_RE = re.compile(r"%\((page|pages)\)s")


class PdfResourceRefused(ValueError):
    """A document asked for a resource that is not one of the project's static files."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(RESOURCE_REFUSED % {"url": url[:200], "reason": reason})


class StaticFilesURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves only static files (found by the staticfiles finders) and data: URLs.

    Accepted: ``data:`` URLs; URLs under ``settings.STATIC_URL`` (``/static/fonts/x.ttf``, or the full
    ``STATIC_URL`` when it is absolute); ``static-file:fonts/x.ttf``. The file is read from disk through
    ``django.contrib.staticfiles.finders.find``, never over the network. Everything else (``file:``,
    ``http:``, ``https:``, ``ftp:``, relative paths, paths that climb out of the static tree) raises
    ``PdfResourceRefused``.
    """

    def __init__(self, **kwargs: Any) -> None:
        # fail_on_errors: a refused or missing resource stops the render instead of being skipped.
        kwargs.setdefault("fail_on_errors", True)
        # Never used (https is refused), but the default context would load the CA store on every render.
        kwargs.setdefault("ssl_context", ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        super().__init__(**kwargs)

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            # Inline data never leaves the process; urllib's data: handler decodes it.
            return super().fetch(url, headers)
        path = self.static_path_for(url)
        found = self.find_static_file(url, path)
        content_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=open(found, "rb"), headers={"Content-Type": content_type})  # noqa: SIM115

    @staticmethod
    def static_path_for(url: str) -> str:
        """The static-file path (``fonts/x.ttf``) a URL names, or raise ``PdfResourceRefused``."""
        static_url = settings.STATIC_URL or ""
        scheme_prefix = f"{STATIC_FILE_SCHEME}:"
        if url.lower().startswith(scheme_prefix):
            relative = url[len(scheme_prefix) :]
        elif static_url and url.startswith(static_url):
            relative = url[len(static_url) :]
        else:
            raise PdfResourceRefused(url, "not a static file")
        relative = unquote(relative.split("#", 1)[0].split("?", 1)[0])
        if (
            not relative
            or relative.startswith("/")
            or "\\" in relative
            or "\x00" in relative
            or ".." in relative.split("/")
        ):
            raise PdfResourceRefused(url, "path outside the static files")
        return relative

    @staticmethod
    def find_static_file(url: str, path: str) -> str:
        """The absolute file path of a static file, or raise ``PdfResourceRefused``."""
        try:
            found = finders.find(path)
        except SuspiciousFileOperation as exc:
            raise PdfResourceRefused(url, "path outside the static files") from exc
        if not found or not os.path.isfile(found):
            raise PdfResourceRefused(url, "no such static file")
        return found


def _css_string(text: str) -> str:
    """A CSS string literal for ``text`` (quotes, backslashes, newlines and ``<`` escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ").replace("<", "\\3C ")
    return f'"{escaped}"'


def page_footer_css_content() -> SafeString:
    """The CSS ``content`` value of the "Page X of Y" footer in the active language.

    The sentence is translated whole ("Page %(page)s of %(pages)s", so translators can reorder it) and its
    placeholders become ``counter(page)`` and ``counter(pages)``; the words around them are CSS-escaped.
    """
    sentence = gettext("Page %(page)s of %(pages)s")
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER_RE.finditer(sentence):
        if match.start() > position:
            parts.append(_css_string(sentence[position : match.start()]))
        parts.append(f"counter({match[1]})")
        position = match.end()
    if position < len(sentence):
        parts.append(_css_string(sentence[position:]))
    return mark_safe(" ".join(parts) or '""')  # noqa: S308 - built from CSS-escaped strings and fixed counters


# A document's own styles: its templates write them in ``<style>`` elements, whose text depends only on the template
# and the language (they hold no typed text), so each is parsed once per thread and handed to WeasyPrint parsed.
_STYLE_RE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
STYLESHEETS_KEPT = 64  # per thread: documents x languages, with room to spare

_thread = threading.local()


def _font_config() -> FontConfiguration:
    """This thread's WeasyPrint font configuration, kept from document to document.

    A fresh one (WeasyPrint's default) initialises Fontconfig, copies the 6 MB bundled font to a temporary file and
    registers it on every render; kept, the font is registered once and Pango's font caches stay warm (about a third
    of a one-page document's render). One per thread, as Pango's font map is not shared safely between threads."""
    config = getattr(_thread, "font_config", None)
    if config is None:
        config = _thread.font_config = FontConfiguration()
    return config


def _stylesheet(text: str) -> CSS:
    """The parsed stylesheet of a ``<style>`` element's text, kept per thread with the font configuration its
    ``@font-face`` rules were registered in: parsing it and compiling its selectors again for every document took
    about an eighth of a one-page document's render."""
    kept: dict[str, CSS] = _thread.__dict__.setdefault("stylesheets", {})
    sheet = kept.get(text)
    if sheet is None:
        if len(kept) >= STYLESHEETS_KEPT:
            kept.pop(next(iter(kept)))  # the oldest
        sheet = kept[text] = CSS(
            string=text, base_url=PDF_BASE_URL, url_fetcher=StaticFilesURLFetcher(), font_config=_font_config()
        )
    return sheet


@functools.cache
def _written_once(stream_class: type[Stream]) -> type[Stream]:
    """A subclass of a finished PDF stream's class whose bytes (compressed at level 9) are computed once, however
    often they are read."""
    return type(
        f"{stream_class.__name__}WrittenOnce",
        (stream_class,),
        {"data": functools.cached_property(stream_class.data.fget)},
    )


def _compress_streams_once(document, pdf) -> None:
    """A WeasyPrint finisher: freeze the finished streams' bytes before the PDF is written.

    A PDF with an identifier (every PDF/A) is serialised twice, once to hash its objects and once to write them, and
    each serialisation compresses every stream again: the embedded font alone cost a twentieth of a one-page
    invoice's render. The finisher runs when nothing will change the streams any more."""
    for pdf_object in pdf.objects:
        if isinstance(pdf_object, Stream):
            pdf_object.__class__ = _written_once(type(pdf_object))


def render_pdf(
    *,
    template_name: str,
    context: Mapping[str, Any],
    language: str,
    time_zone: str | None = None,
    write_options: Mapping[str, Any] | None = None,
) -> bytes:
    """Render a template that extends ``pdf/base.html`` in ``language`` and return the PDF's bytes.

    ``time_zone`` (an IANA name, e.g. the organisation's) is the current time zone while rendering, so
    datetimes print in it. ``write_options`` go to WeasyPrint's ``write_pdf`` (``pdf_variant``,
    ``attachments``, ``xmp_metadata``... for e-invoices). Raises ``PdfResourceRefused`` when the document
    asks for anything but a static file. The document's ``<style>`` elements are taken out of it and given to
    WeasyPrint parsed (``_stylesheet``), in their order, as the only styles besides WeasyPrint's own.
    """
    zone = timezone.override(ZoneInfo(time_zone)) if time_zone else nullcontext()
    with translation.override(language), zone:
        html = render_to_string(template_name, {**context, "pdf_page_footer": page_footer_css_content()})
        styles = _STYLE_RE.findall(html)
        document = HTML(string=_STYLE_RE.sub("", html), base_url=PDF_BASE_URL, url_fetcher=StaticFilesURLFetcher())
        try:
            stylesheets = [_stylesheet(text) for text in styles]
            return document.write_pdf(
                stylesheets=stylesheets,
                font_config=_font_config(),
                finisher=_compress_streams_once,
                **(write_options or {}),
            )
        except FatalURLFetchingError as exc:
            # WeasyPrint's fatal error is a BaseException; hand callers an ordinary exception.
            cause = exc.__cause__
            if isinstance(cause, PdfResourceRefused):
                raise PdfResourceRefused(cause.url, cause.reason) from exc
            raise PdfResourceRefused(str(exc), "fetch failed") from exc
