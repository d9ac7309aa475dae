"""Everything a customer sees exists in Dutch and English, and the compiled catalogue
(committed, since a fresh machine may have no msgfmt) matches its source."""

import gettext
from pathlib import Path

import polib
import pytest
from django.utils import translation

PO = Path(__file__).resolve().parent.parent / "locale" / "nl" / "LC_MESSAGES" / "django.po"


def entries() -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(PO)) if not e.obsolete]


def test_every_string_has_a_dutch_translation():
    untranslated = [e.msgid for e in entries() if not e.translated() or "fuzzy" in e.flags]
    assert untranslated == []


def test_the_compiled_catalogue_matches_the_source():
    with PO.with_suffix(".mo").open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog  # type: ignore[attr-defined]
    for entry in entries():
        if entry.msgid_plural:
            assert catalog[(entry.msgid, 0)] == entry.msgstr_plural[0], entry.msgid
        else:
            assert catalog.get(entry.msgid) == entry.msgstr, f"recompile: {entry.msgid!r}"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("nl", "Bevestig uw nieuwe e-mailadres"), ("en", "Confirm your new email address")],
)
def test_a_customer_string_in_both_languages(language, expected):
    with translation.override(language):
        assert translation.gettext("Confirm your new email address") == expected
