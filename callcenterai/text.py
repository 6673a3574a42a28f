"""The one text normaliser, shared by training and every service.

The Kaggle training texts are lower-case words separated by single spaces, with digits and
punctuation removed. Tickets arriving at a service are raw: capitals, digits, punctuation,
e-mail quoting, and PII placeholders such as ``[EMAIL]`` left by the agent's scrubber. The
normaliser maps both to the same shape, so a model sees at serving time what it saw in training.

It works on any script: letters of every script are kept, so French accents and Arabic
letters survive; Arabic diacritics (tashkeel) and the tatweel are removed because they are
optional in writing and would split one word into several features.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Placeholders written by the PII scrubber, e.g. "[EMAIL]", "[PHONE]", "[CREDIT_CARD]".
PLACEHOLDER_RE = re.compile(r"\[[A-Z][A-Z_]*\]")
_ARABIC_MARKS_RE = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_LETTER_VARIANTS = str.maketrans(
    {"\u0623": "\u0627", "\u0625": "\u0627", "\u0622": "\u0627"}
)


# Anything that is not a letter: punctuation, symbols, digits of any script, underscores.
_NON_LETTERS_RE = re.compile(r"[\W\d_]+")


def normalise_text(text: str) -> str:
    """Return ``text`` as the models were trained on it: lower-case words, single-spaced.

    Digits (of any script), punctuation, symbols and PII placeholders are removed; accents are
    kept (NFC), Arabic diacritics and tatweel are dropped and alef variants unified.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a string, got {type(text).__name__}")
    text = PLACEHOLDER_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ARABIC_MARKS_RE.sub("", text).translate(_ARABIC_LETTER_VARIANTS)
    return " ".join(_NON_LETTERS_RE.sub(" ", text).split())


def normalise_texts(texts: Iterable[str]) -> list[str]:
    return [normalise_text(text) for text in texts]
