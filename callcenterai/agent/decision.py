"""The agent's decision for one ticket, and its explanation.

After the model calls, :func:`decide` turns the routing plan, the answers and the failures into
one :class:`Decision`: which model's answer is returned, whether that is a fallback, the label of
the routing metric, and the sentence that explains the choice to the person reading the answer.
The HTTP service only maps it onto its response schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from callcenterai.agent.routing import TFIDF, TRANSFORMER, Plan, Signals, pick_answer
from callcenterai.config import RoutingSettings

NAMES = {TFIDF: "TF-IDF", TRANSFORMER: "the transformer"}
LANGUAGE_NAMES = {"en": "English", "fr": "French", "ar": "Arabic", "und": "undetermined"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


class Answer(Protocol):
    """What the decision needs of a model's answer (the services' ``Prediction``)."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    explanation: Any


@dataclass
class Decision:
    """Which model answered a ticket and why."""

    plan: Plan
    signals: Signals
    policy: RoutingSettings
    answers: dict[str, Answer]  # in the order the models answered
    failures: dict[str, str]  # model -> reason it did not answer
    answered: str
    fallback: str | None = None  # why the wanted model was replaced, if it was

    @property
    def answer(self) -> Answer:
        return self.answers[self.answered]

    @property
    def failed(self) -> str | None:
        """The model the fallback replaced."""
        return next(iter(self.failures), None) if self.fallback else None

    @property
    def route_reason(self) -> str:
        """A short, bounded label for the routing metric."""
        if self.plan.forced:
            return "forced"
        if self.fallback:
            return "fallback"
        fired = self._fired()
        if "language" in fired:
            return "non_english"
        if "tfidf_confidence" in fired:
            return "low_confidence"
        if "complexity" in fired:
            return "complex"
        return "confident" if len(self.answers) == 1 else "consulted"

    def _fired(self) -> set[str]:
        return {rule.name for rule in self.plan.rules if rule.fired}

    def _confidence(self, kind: str) -> float | None:
        answer = self.answers.get(kind)
        return answer.confidence if answer is not None else None

    def _label(self, kind: str) -> str | None:
        answer = self.answers.get(kind)
        return answer.label if answer is not None else None

    def reason(self) -> str:
        """The one-sentence reason."""
        policy, signals = self.policy, self.signals
        name = NAMES[self.answered]
        capitalised = f"{name[0].upper()}{name[1:]}"
        if self.plan.forced:
            return f"{capitalised} answered because the request forced it."
        if self.fallback:
            return f"{capitalised} answered because {self.fallback}."
        fired = self._fired()
        if "language" in fired:
            known = "/".join(language_name(code) for code in policy.tfidf_languages)
            return (
                f"The transformer answered: the ticket is in {language_name(signals.language)} "
                f"({signals.language}, confidence {signals.language_confidence:.2f}) and TF-IDF "
                f"only knows {known}."
            )
        tfidf_conf = self._confidence(TFIDF)
        if not fired:
            return (
                f"TF-IDF answered: {language_name(signals.language)} ticket and TF-IDF was "
                f"confident ({tfidf_conf:.2f} >= {policy.tfidf_min_confidence})."
            )
        why = []
        if "tfidf_confidence" in fired:
            why.append(f"TF-IDF was unsure ({tfidf_conf:.2f} < {policy.tfidf_min_confidence})")
        if "complexity" in fired:
            why.append(
                f"the ticket is complex ({signals.complexity:.2f} >= "
                f"{policy.complexity_threshold})"
            )
        both = f"{' and '.join(why)}, so the transformer was consulted"
        if TRANSFORMER not in self.answers:
            return f"TF-IDF answered: {both}, but it did not answer."
        if policy.answer == TRANSFORMER:
            return f"The transformer answered: {both}."
        other = TFIDF if self.answered == TRANSFORMER else TRANSFORMER
        if self.answer.label == self._label(other):
            return f"{capitalised} answered: {both}; both models gave {self.answer.label}."
        if policy.answer == "weighted_vote":
            weight = policy.vote_weight
            return (
                f"{capitalised} answered: {both}; its label won the vote of both models' "
                f"probabilities (weight {weight:.1f} on the transformer): {self.answer.label} "
                f"{self._vote(self.answer.label):.2f} vs {self._label(other)} "
                f"{self._vote(self._label(other)):.2f}."
            )
        return (
            f"{capitalised} answered: {both}; its answer was the more confident "
            f"({self.answer.confidence:.2f} vs {self._confidence(other):.2f})."
        )

    def _vote(self, label: str) -> float:
        weight = self.policy.vote_weight
        return weight * self.answers[TRANSFORMER].probabilities.get(label, 0.0) + (
            1 - weight
        ) * self.answers[TFIDF].probabilities.get(label, 0.0)

    def review_reasons(self, min_confidence: float) -> list[str]:
        """Why a person should check this answer (empty: no need): a low calibrated confidence,
        the two models disagreeing, or a language the routing could not place."""
        reasons = []
        if self.answer.confidence < min_confidence:
            reasons.append("low_confidence")
        labels = {answer.label for answer in self.answers.values()}
        if len(self.answers) == 2 and len(labels) == 2:
            reasons.append("models_disagree")
        signals = self.signals
        if signals.language == "und" or (
            signals.language_confidence < self.policy.min_language_confidence
        ):
            reasons.append("language_unplaced")
        return reasons

    def explanation(self) -> dict[str, Any]:
        """The fields of the agent's ``Explanation``: the reason, the rules, what was called."""
        signals = self.signals
        top_terms = None
        if self.answered == TFIDF and self.answer.explanation:
            top_terms = self.answer.explanation
        return {
            "reason": self.reason(),
            "forced": self.plan.forced,
            "fallback": self.fallback is not None,
            "fallback_reason": self.fallback,
            "rules": [rule.as_dict() for rule in self.plan.rules],
            "models_called": list(self.answers),
            "chars": signals.chars,
            "words": signals.words,
            "sentences": signals.sentences,
            "complexity": signals.complexity,
            "tfidf_confidence": self._confidence(TFIDF),
            "transformer_confidence": self._confidence(TRANSFORMER),
            "tfidf_label": self._label(TFIDF),
            "transformer_label": self._label(TRANSFORMER),
            "top_terms": top_terms,
        }


def fallback_reason(service: str, reason: str) -> str:
    if reason == "not_ready":  # up, but no model yet: loading, or not trained yet (first start)
        return f"the {service} is not ready yet (its model is loading or still being trained)"
    return f"the {service} service did not answer ({reason})"


def decide(
    plan: Plan,
    signals: Signals,
    policy: RoutingSettings,
    answers: dict[str, Answer],
    failures: dict[str, str],
) -> Decision:
    """Choose the answer among those received (at least one)."""
    if not answers:
        raise ValueError("no model answered: nothing to decide")
    decision = Decision(plan, signals, policy, answers, failures, answered=next(iter(answers)))
    if len(answers) == 2:
        decision.answered = pick_answer(
            answers[TFIDF].probabilities, answers[TRANSFORMER].probabilities, policy
        )
        return decision
    failed = next(iter(failures), None)
    # A fallback: the model that failed was the one wanted first, or TF-IDF answered alone
    # although the transformer was to be consulted.
    if failed is not None and (failed == plan.first or plan.first == TFIDF):
        decision.fallback = fallback_reason(failed, failures[failed])
    return decision
