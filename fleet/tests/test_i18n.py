"""The Japanese catalogue: complete, compiled from the current .po, and used by the portal's pages."""

import ast
import datetime
import re
import shutil
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import formats, translation

from fleet.money import money_format

PO_PATH = Path(settings.BASE_DIR) / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
PLACEHOLDER_RE = re.compile(r"%\(\w+\)[sd]")
_KEYWORD_RE = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)\s+(".*")$')


@dataclass
class PoEntry:
    """One message of a .po file."""

    line: int
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: str = ""
    msgstr_plural: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def translations(self) -> list[str]:
        return list(self.msgstr_plural.values()) if self.msgid_plural is not None else [self.msgstr]


def read_po(path: Path) -> list[PoEntry]:
    """The entries of a .po file (header first), with flags; obsolete ``#~`` entries are skipped."""
    entries: list[PoEntry] = []
    entry: PoEntry | None = None
    key = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            entry = None
            continue
        if line.startswith("#"):
            if entry is None:
                entry = PoEntry(line=number)
                entries.append(entry)
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if entry is None:
            entry = PoEntry(line=number)
            entries.append(entry)
        match = _KEYWORD_RE.match(line)
        if match:
            key, value = match[1], ast.literal_eval(match[2])
        elif line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
        if key.startswith("msgstr["):
            index = int(key[7:-1])
            entry.msgstr_plural[index] = entry.msgstr_plural.get(index, "") + value
        else:
            setattr(entry, key, (getattr(entry, key) or "") + value)
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[PoEntry]:
    return read_po(PO_PATH)


@pytest.fixture(scope="module")
def messages(po_entries) -> list[PoEntry]:
    """The messages of the catalogue, without the header entry."""
    return [entry for entry in po_entries if entry.msgid]


def test_po_reader_reads_plural_context_and_wrapped_entries(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: ja\\n"\n\n'
        '#, python-format\nmsgid ""\n"%(n)s long "\n"line"\nmsgid_plural "%(n)s lines"\nmsgstr[0] "%(n)s行"\n\n'
        'msgctxt "user account"\nmsgid "Active"\nmsgstr ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "削除"\n',
        encoding="utf-8",
    )
    header, plural, with_context, obsolete = read_po(po)
    assert header.msgstr == "Language: ja\n"
    assert (plural.msgid, plural.msgid_plural) == ("%(n)s long line", "%(n)s lines")
    assert plural.msgstr_plural == {0: "%(n)s行"}
    assert plural.flags == {"python-format"}
    assert (with_context.msgctxt, with_context.msgid, with_context.translations) == ("user account", "Active", [""])
    assert obsolete.msgid == ""


def test_po_header_declares_japanese_with_one_plural_form(po_entries):
    header = po_entries[0]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags
    assert "Language: ja\n" in header.msgstr
    assert "Content-Type: text/plain; charset=UTF-8\n" in header.msgstr
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header.msgstr


def test_po_has_no_untranslated_or_fuzzy_message(messages):
    assert len(messages) > 300
    untranslated = [
        (entry.line, entry.msgid) for entry in messages if not entry.translations or not all(entry.translations)
    ]
    fuzzy = [(entry.line, entry.msgid) for entry in messages if "fuzzy" in entry.flags]
    assert untranslated == []
    assert fuzzy == []


def test_plural_messages_have_exactly_one_japanese_form(messages):
    plurals = [entry for entry in messages if entry.msgid_plural is not None]
    assert plurals
    assert [entry.msgid for entry in plurals if list(entry.msgstr_plural) != [0]] == []


def test_translations_keep_every_placeholder(messages):
    def placeholders(text: str) -> list[str]:
        return sorted(PLACEHOLDER_RE.findall(text))

    broken = [
        (entry.msgid, text)
        for entry in messages
        for text in entry.translations
        if placeholders(text) != placeholders(entry.msgid)
    ]
    assert broken == []


def test_compiled_catalogue_matches_the_po(messages):
    """A .mo compiled before the last .po change serves a missing or different msgstr for some message."""
    assert MO_PATH.exists()
    stale = []
    with translation.override("ja"):
        for entry in messages:
            if entry.msgid_plural is not None and entry.msgctxt is not None:
                served = translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, 1)
            elif entry.msgid_plural is not None:
                served = translation.ngettext(entry.msgid, entry.msgid_plural, 1)
            elif entry.msgctxt is not None:
                served = translation.pgettext(entry.msgctxt, entry.msgid)
            else:
                served = translation.gettext(entry.msgid)
            if served != entry.translations[0]:
                stale.append((entry.msgid, served))
    assert stale == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (apt-get install gettext)")
def test_po_holds_every_message_marked_in_the_source(messages, tmp_path, monkeypatch):
    """A string marked for translation but missing from the .po means `make messages` was not run after it.

    makemessages writes into a ``locale`` folder it finds under the current directory, so it runs in a
    tree of links to the project's sources without one, and writes its fresh catalogue to a temporary folder.
    """
    sources = tmp_path / "sources"
    sources.mkdir()
    for child in Path(settings.BASE_DIR).iterdir():
        if child.name not in {"locale", "bench"} and not child.name.startswith("."):
            (sources / child.name).symlink_to(child)
    monkeypatch.chdir(sources)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command("makemessages", locale=["ja"], symlinks=True, no_obsolete=True, verbosity=0)
    extracted = {
        (entry.msgctxt, entry.msgid) for entry in read_po(tmp_path / "locale" / "ja" / "LC_MESSAGES" / "django.po")
    }
    catalogued = {(entry.msgctxt, entry.msgid) for entry in messages}
    assert sorted(extracted - {(None, "")} - catalogued, key=str) == []
    assert sorted(catalogued - extracted, key=str) == []


def test_glossary_terms_are_used():
    with translation.override("ja"):
        assert translation.gettext("Assets") == "機器"
        assert translation.gettext("Sites") == "拠点"
        assert translation.gettext("Customer") == "顧客"
        assert translation.gettext("Multifunction printer") == "複合機"
        assert translation.gettext("Reach truck") == "リーチフォークリフト"
        assert translation.gettext("Technician") == "サービスエンジニア"
        assert translation.gettext("Full-maintenance lease") == "フルメンテナンスリース"
        assert translation.pgettext("user account", "Active") == "有効"
        assert translation.gettext("Active") == "稼働中"


def test_framework_strings_that_django_leaves_in_english_are_japanese():
    from django.db.models.fields import BLANK_CHOICE_LABEL

    with translation.override("ja"):
        assert str(BLANK_CHOICE_LABEL) == "- 選択してください -"


@pytest.mark.smoke
@pytest.mark.django_db
def test_login_page_is_english_by_default_and_japanese_after_the_language_switch(client):
    login_url = reverse("accounts:login")
    english = client.get(login_url)
    assert '<html lang="en">' in english.text
    assert "Sign in" in english.text
    assert "ログイン" not in english.text

    switched = client.post(reverse("set_language"), {"language": "ja", "next": login_url})
    assert switched.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ja"

    japanese = client.get(login_url)
    assert '<html lang="ja">' in japanese.text
    assert re.search(r"<h1[^>]*>ログイン</h1>", japanese.text)
    assert "メールアドレス" in japanese.text
    assert "パスワードをお忘れの方" in japanese.text
    assert "Sign in" not in japanese.text


@pytest.mark.smoke
@pytest.mark.django_db
def test_asset_list_is_english_by_default_and_japanese_after_the_language_switch(client, customer_admin, asset):
    client.force_login(customer_admin)
    list_url = reverse("assets:asset_list")
    english = client.get(list_url)
    assert re.search(r"<h1[^>]*>Assets</h1>", english.text)
    assert "Serial number" in english.text
    assert "Full-maintenance lease" in english.text

    client.post(reverse("set_language"), {"language": "ja", "next": list_url})
    japanese = client.get(list_url)
    assert japanese.status_code == 200
    assert re.search(r"<h1[^>]*>機器</h1>", japanese.text)
    assert "製造番号" in japanese.text
    assert "稼働中" in japanese.text
    assert "フルメンテナンスリース" in japanese.text
    assert "1件" in japanese.text
    assert asset.serial_number in japanese.text
    assert "Serial number" not in japanese.text


@pytest.mark.parametrize("language", ["en", "ja"])
def test_yen_amounts_are_formatted_the_same_in_both_languages(language):
    with translation.override(language):
        assert money_format(Decimal("1234567"), "JPY") == "¥1,234,567"
        assert money_format(Decimal("1234.50"), "USD") == "$1,234.50"


def test_dates_follow_the_active_language():
    day = datetime.date(2026, 4, 1)
    with translation.override("en"):
        assert formats.date_format(day, "DATE_FORMAT") == "April 1, 2026"
    with translation.override("ja"):
        assert formats.date_format(day, "DATE_FORMAT") == "2026年4月1日"
