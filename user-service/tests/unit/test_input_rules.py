"""One spelling per email (registration, login, the CLI) and names that show what they say."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from user_service.models import UserCreate, normalise_email

pytestmark = pytest.mark.unit

PW = "correct horse battery staple"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  ada@example.com\t", "ada@example.com"),
        ("\u3000ada@example.com\u00a0", "ada@example.com"),  # ideographic space, no-break space
        ("ADA@BÜCHER.DE", "ada@bücher.de"),
        ("ada@xn--bcher-kva.de", "ada@bücher.de"),  # the punycode of the same domain
        ("JOSÉ@example.com", "josé@example.com"),
        ("jose\u0301@example.com", "josé@example.com"),  # decomposed é: NFC
        ("用户@例子.广告", "用户@例子.广告"),
        ("ß@example.com", "ß@example.com"),
    ],
)
def test_registration_and_login_spell_an_email_the_same_way(typed: str, stored: str) -> None:
    assert normalise_email(typed) == stored
    assert UserCreate(name="Ada", email=typed, password=PW).email == stored
    assert normalise_email(stored) == stored  # what is stored normalises to itself


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "Eve <ada@example.com>",  # a display name: not an address
        "a\x00b@example.com",
        "a\x01b@example.com",
        "\ud800@example.com",
        "ada\u200b@example.com",
        "ada@localhost",
        "a@" + "x" * 400 + ".com",
        "x" * 100_000,
    ],
)
def test_what_cannot_be_an_email_is_refused_by_both_paths(raw: str) -> None:
    with pytest.raises(ValueError, match="email"):
        normalise_email(raw)
    with pytest.raises(ValidationError, match="email"):
        UserCreate(name="Ada", email=raw, password=PW)


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "李小龍",
        "محمد بن موسى الخوارزمی",
        "דוד בן־גוריון",
        "देवनागरी",
        "क्‍ष",  # Devanagari with a zero-width joiner (half form)
        "می‌خواهم",  # Persian with a zero-width non-joiner
        "Zoë Saldaña",
        "Zoe\u0308",  # a combining diaeresis
        "👩‍👩‍👧‍👦 family",  # an emoji ZWJ sequence
        "👍🏽",
        "O'Brien-Smith Jr.",
    ],
)
def test_names_in_real_scripts_are_accepted(name: str) -> None:
    assert UserCreate(name=name, email="a@example.com", password=PW).name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("\u200b", "visible"),
        ("\u2060\u2060", "visible"),
        ("\u3164", "blank"),  # HANGUL FILLER: a letter that shows nothing
        ("\ufeff", "visible"),
        ("\u200d", "joiner"),
        ("\u0301", "visible"),  # a combining mark with nothing to sit on
        ("\u2800", "blank"),  # braille blank
        ("Ada\u202eecalevoL", "direction"),
        ("\u202aAda", "direction"),
        ("Ada\u2066Eve\u2069", "direction"),
        ("Ada\u200fEve", "direction"),
        ("Ada\u2028Eve", "line"),
        ("Ada\u2029Eve", "line"),
        ("Ada\u00adEve", "invisible"),  # soft hyphen
        ("Ada\u200bEve", "invisible"),
        ("A\u200d", "joiner"),  # a joiner at the edge joins nothing
        ("Ada\ue000", "private"),
        ("Ada\U000e0041", "invisible"),  # a tag character
        ("bell\x07", "control"),
    ],
)
def test_names_that_hide_or_reorder_text_are_refused_with_a_reason(name: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        UserCreate(name=name, email="a@example.com", password=PW)


def test_names_are_stored_in_nfc() -> None:
    assert UserCreate(name="Zoe\u0308", email="a@example.com", password=PW).name == "Zo\u00eb"
