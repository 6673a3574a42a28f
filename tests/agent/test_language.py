import pytest

from callcenterai.agent.language import UNDETERMINED, detect_language


@pytest.mark.parametrize(
    "text,code",
    [
        ("My laptop screen stays black since this morning, can you replace it?", "en"),
        ("Bonjour, l'écran de mon ordinateur reste noir depuis ce matin.", "fr"),
        ("لا أستطيع الدخول إلى حسابي منذ يومين، أرجو المساعدة", "ar"),
        ("Hola, necesito ayuda con mi cuenta de correo", "es"),
    ],
)
def test_detects_the_language_confidently(text, code):
    language = detect_language(text)
    assert language.code == code
    assert language.confidence > 0.8


def test_multiline_text_is_accepted():
    assert detect_language("Hello team,\nmy printer is jammed.\nThanks").code == "en"


def test_short_text_has_lower_confidence():
    short = detect_language("Merci").confidence
    assert (
        short < detect_language("Merci beaucoup pour votre aide rapide, bonne journée").confidence
    )


@pytest.mark.parametrize("text", ["", "   ", "12345 !!! 678"])
def test_nothing_to_detect(text):
    language = detect_language(text)
    assert language.code == UNDETERMINED and language.confidence == 0.0
