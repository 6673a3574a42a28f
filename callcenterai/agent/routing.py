"""The routing policy: which model answers a ticket, and why.

The policy is a pure function of a ticket's signals, so the service and the offline tuning
(``python -m benchmarks.routing``) run exactly the same code:

1. ``force_model``: the caller chose; no rule is evaluated.
2. ``language``: a ticket confidently detected in a language the TF-IDF model was not trained on
   (it learnt English tickets) goes to the multilingual transformer only.
3. ``tfidf_confidence``: otherwise TF-IDF answers first (about 2 ms). When its calibrated
   confidence is below ``tfidf_min_confidence`` the transformer is consulted too.
4. ``complexity``: a ticket whose complexity score reaches ``complexity_threshold`` consults the
   transformer even when TF-IDF is confident.

When both models answered, the answer kept is the more confident one (``answer="most_confident"``),
the transformer's (``answer="transformer"``), or the one whose label wins a weighted vote of both
models' probabilities (``answer="weighted_vote"``, ``vote_weight`` on the transformer). The rule
is chosen on the validation split with the thresholds (reports/benchmark.md, Routing).

Thresholds are settings (:class:`~callcenterai.config.RoutingSettings`, ``CALLCENTERAI_ROUTE_*``),
not code; their defaults were tuned on the validation split.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from callcenterai.config import RoutingSettings

TFIDF, TRANSFORMER = "tfidf", "transformer"
MODELS = (TFIDF, TRANSFORMER)
_SENTENCE_END_RE = re.compile(r"[.!?؟。]+(?:\s|$)|\n+")


@dataclass(frozen=True)
class Signals:
    """What the agent knows about a scrubbed ticket before any model call."""

    language: str
    language_confidence: float
    chars: int
    words: int
    sentences: int
    complexity: float


def count_sentences(text: str) -> int:
    return max(1, len([part for part in _SENTENCE_END_RE.split(text.strip()) if part.strip()]))


def complexity_score(words: int, sentences: int) -> float:
    """How much there is to understand, 0 to 1: length (log-scaled, 1 at 150 words) and structure
    (1 at 6 sentences or more), weighted 0.7 / 0.3.

    Long, multi-sentence tickets tend to mix several issues; single-line tickets rarely do.
    """
    length = min(1.0, math.log1p(words) / math.log1p(150))
    structure = min(1.0, (sentences - 1) / 5)
    return round(0.7 * length + 0.3 * structure, 3)


def ticket_signals(scrubbed_text: str, language: str, language_confidence: float) -> Signals:
    words = len(scrubbed_text.split())
    sentences = count_sentences(scrubbed_text)
    return Signals(
        language=language,
        language_confidence=round(language_confidence, 4),
        chars=len(scrubbed_text),
        words=words,
        sentences=sentences,
        complexity=complexity_score(words, sentences),
    )


@dataclass
class Rule:
    """A rule the policy evaluated: its value, threshold and whether it fired."""

    name: str
    value: float | str
    threshold: float | str
    fired: bool

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    """The policy's decision before any model call."""

    first: str  # the model called first
    consult_transformer: bool  # known before TF-IDF answers (language, complexity, forced)
    forced: bool
    rules: list[Rule] = field(default_factory=list)


def plan_route(signals: Signals, policy: RoutingSettings, force_model: str | None = None) -> Plan:
    if force_model is not None:
        if force_model not in MODELS:
            raise ValueError(f"force_model must be one of {MODELS}, not {force_model!r}")
        return Plan(force_model, force_model == TRANSFORMER, True)
    foreign = (
        signals.language not in policy.tfidf_languages
        and signals.language_confidence >= policy.min_language_confidence
    )
    language = Rule(
        "language",
        f"{signals.language} ({signals.language_confidence:.2f})",
        f"not in {'/'.join(policy.tfidf_languages)} with confidence >= "
        f"{policy.min_language_confidence}",
        foreign,
    )
    if foreign:
        return Plan(TRANSFORMER, True, False, [language])
    complex_ = Rule(
        "complexity",
        signals.complexity,
        policy.complexity_threshold,
        signals.complexity >= policy.complexity_threshold,
    )
    return Plan(TFIDF, complex_.fired, False, [language, complex_])


def needs_transformer(plan: Plan, tfidf_confidence: float, policy: RoutingSettings) -> bool:
    """After TF-IDF answered: should the transformer be consulted? Records the rule."""
    low = tfidf_confidence < policy.tfidf_min_confidence
    plan.rules.append(
        Rule("tfidf_confidence", round(tfidf_confidence, 4), policy.tfidf_min_confidence, low)
    )
    return plan.consult_transformer or low


def _top(probabilities: Mapping[str, float]) -> tuple[str, float]:
    label = max(probabilities, key=probabilities.__getitem__)
    return label, probabilities[label]


def pick_answer(
    tfidf: Mapping[str, float], transformer: Mapping[str, float], policy: RoutingSettings
) -> str:
    """Both models answered, each with its probabilities by label: whose answer is returned.

    ``most_confident``: the higher top probability; ``transformer``: always the transformer's;
    ``weighted_vote``: of the two answers, the one whose label has the higher weighted mean of
    both models' probabilities (``vote_weight`` on the transformer's). The vote only ever
    chooses between the two answers: the label, confidence and explanation returned are one
    model's own.
    """
    if policy.answer == TRANSFORMER:
        return TRANSFORMER
    (tfidf_label, tfidf_confidence), (transformer_label, transformer_confidence) = (
        _top(tfidf),
        _top(transformer),
    )
    if policy.answer == "weighted_vote" and tfidf_label != transformer_label:
        weight = policy.vote_weight

        def vote(label: str) -> float:
            return weight * transformer.get(label, 0.0) + (1 - weight) * tfidf.get(label, 0.0)

        return TRANSFORMER if vote(transformer_label) > vote(tfidf_label) else TFIDF
    return TRANSFORMER if transformer_confidence > tfidf_confidence else TFIDF


def route_offline(
    signals: Signals,
    tfidf: Mapping[str, float],
    transformer: Mapping[str, float],
    policy: RoutingSettings,
) -> tuple[str, bool]:
    """The policy on precomputed probabilities (tuning): (answering model, transformer called)."""
    plan = plan_route(signals, policy)
    if plan.first == TRANSFORMER:
        return TRANSFORMER, True
    if not needs_transformer(plan, _top(tfidf)[1], policy):
        return TFIDF, False
    return pick_answer(tfidf, transformer, policy), True
