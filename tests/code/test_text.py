import pytest

from callcenterai.text import normalise_text, normalise_texts


def test_english_raw_ticket_looks_like_training_text():
    raw = "Hi team,\n\nMy LAPTOP (asset #4521) won't boot since 09:30!!  Thanks, Ana"
    assert normalise_text(raw) == "hi team my laptop asset won t boot since thanks ana"


def test_training_text_is_unchanged():
    kaggle_like = "provide temporary laptop wednesday pm re hardware equipment"
    assert normalise_text(kaggle_like) == kaggle_like


def test_french_accents_survive():
    assert normalise_text("L'écran de mon ordinateur ne s'allume plus (depuis 3 jours) !") == (
        "l écran de mon ordinateur ne s allume plus depuis jours"
    )


def test_french_decomposed_accents_are_composed():
    decomposed = "e\u0301cran"  # e + combining acute
    assert normalise_text(decomposed) == "\u00e9cran"


def test_arabic_letters_survive_and_diacritics_digits_go():
    text = "لا أستطيعُ الدخولَ إلى حسابي منذ ٣ أيام"
    out = normalise_text(text)
    assert out == "لا استطيع الدخول الى حسابي منذ ايام"
    assert "٣" not in out


def test_arabic_tatweel_is_removed():
    assert normalise_text("مرحـــبا") == "مرحبا"


def test_pii_placeholders_are_removed():
    assert normalise_text("Write to [EMAIL] or call [PHONE], card [CREDIT_CARD].") == (
        "write to or call card"
    )


def test_lowercase_bracketed_words_are_kept():
    assert normalise_text("see [note] below") == "see note below"


def test_idempotent():
    once = normalise_text("Bonjour, J'AI 2 écrans; مرحبا!")
    assert normalise_text(once) == once


def test_empty_and_symbol_only_become_empty():
    assert normalise_text("") == ""
    assert normalise_text("!!! 123 ---") == ""


def test_non_string_is_refused():
    with pytest.raises(TypeError):
        normalise_text(None)  # type: ignore[arg-type]


def test_batch():
    assert normalise_texts(["A b", "C"]) == ["a b", "c"]
