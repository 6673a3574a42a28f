"""The routing policy as a pure function: each rule, its threshold and the answer rule."""

import json

import pytest

from callcenterai.agent.routing import (
    TFIDF,
    TRANSFORMER,
    complexity_score,
    count_sentences,
    needs_transformer,
    pick_answer,
    plan_route,
    route_offline,
    ticket_signals,
)
from callcenterai.config import PROJECT_ROOT, RoutingSettings, Settings

ROUTING_REPORT = PROJECT_ROOT / "reports" / "benchmarks" / "routing.json"

# The rules' mechanics, on a policy where TF-IDF answers English only (the defaults, tuned by the
# routing benchmark, let it answer French and Arabic too: see the last tests).
POLICY = RoutingSettings(
    tfidf_languages=("en",), tfidf_min_confidence=0.75, complexity_threshold=0.8
)


def signals(text="my laptop screen is black", language="en", confidence=0.95):
    return ticket_signals(text, language, confidence)


def test_signals_count_words_sentences_and_complexity():
    one = signals("My laptop is broken.")
    many = signals(" ".join(["The VPN drops every hour. I restarted it."] * 20))
    assert (one.words, one.sentences, one.chars) == (4, 1, 20)
    assert many.sentences == 40 and many.words == 160
    assert 0 < one.complexity < many.complexity <= 1.0
    assert complexity_score(150, 6) == 1.0


@pytest.mark.parametrize(
    "text,expected",
    [
        ("one", 1),
        ("One. Two! Three?", 3),
        ("سطر أول؟ سطر ثان", 2),
        ("a\n\nb\nc", 3),
        ("v1.2.3 ok", 1),
    ],
)
def test_count_sentences(text, expected):
    assert count_sentences(text) == expected


def test_confident_english_ticket_stays_with_tfidf():
    plan = plan_route(signals(), POLICY)
    assert plan.first == TFIDF and not plan.consult_transformer and not plan.forced
    assert not needs_transformer(plan, 0.9, POLICY)
    assert [rule.name for rule in plan.rules] == ["language", "complexity", "tfidf_confidence"]
    assert not any(rule.fired for rule in plan.rules)


def test_low_tfidf_confidence_consults_the_transformer():
    plan = plan_route(signals(), POLICY)
    assert needs_transformer(plan, 0.5, POLICY)
    rule = plan.rules[-1]
    assert (rule.name, rule.value, rule.threshold, rule.fired) == (
        "tfidf_confidence",
        0.5,
        0.75,
        True,
    )


def test_confident_foreign_language_goes_to_the_transformer_only():
    plan = plan_route(signals("mon écran est noir", "fr", 0.97), POLICY)
    assert plan.first == TRANSFORMER and plan.rules[0].fired
    # An unsure detection is not trusted: TF-IDF answers first.
    assert plan_route(signals("ok", "fr", 0.3), POLICY).first == TFIDF


def test_complex_ticket_consults_the_transformer_even_when_tfidf_is_confident():
    text = " ".join(["The shared drive is full and nobody can save files anymore."] * 12)
    plan = plan_route(signals(text), POLICY)
    assert plan.consult_transformer and plan.rules[1].fired
    assert needs_transformer(plan, 0.99, POLICY)


def test_force_model_bypasses_every_rule():
    plan = plan_route(signals("mon écran", "fr", 0.99), POLICY, force_model=TFIDF)
    assert plan.forced and plan.first == TFIDF and plan.rules == []
    with pytest.raises(ValueError, match="force_model"):
        plan_route(signals(), POLICY, force_model="bert")


def probs(label: str, confidence: float) -> dict[str, float]:
    """A model's probabilities: ``confidence`` on ``label``, the rest on two other labels."""
    rest = round((1 - confidence) / 2, 4)
    return {label: confidence, "Access": rest, "Purchase": rest}


def test_answer_rule():
    assert pick_answer(probs("Hardware", 0.6), probs("Storage", 0.7), POLICY) == TRANSFORMER
    assert pick_answer(probs("Hardware", 0.7), probs("Storage", 0.6), POLICY) == TFIDF
    always = RoutingSettings(answer="transformer")
    assert pick_answer(probs("Hardware", 0.9), probs("Storage", 0.1), always) == TRANSFORMER


def test_weighted_vote_weighs_both_models_probabilities():
    # TF-IDF: Hardware 0.55, Storage 0.45; the transformer: Storage 0.5, Hardware 0.1.
    tfidf = {"Hardware": 0.55, "Storage": 0.45}
    transformer = {"Storage": 0.5, "Hardware": 0.1, "Access": 0.4}
    most_confident = RoutingSettings(answer="most_confident")
    assert pick_answer(tfidf, transformer, most_confident) == TFIDF  # 0.55 > 0.5
    even = RoutingSettings(answer="weighted_vote", vote_weight=0.5)
    # Storage 0.5*0.5 + 0.5*0.45 = 0.475 against Hardware 0.5*0.1 + 0.5*0.55 = 0.325
    assert pick_answer(tfidf, transformer, even) == TRANSFORMER
    tfidf_only = RoutingSettings(answer="weighted_vote", vote_weight=0.0)
    assert pick_answer(tfidf, transformer, tfidf_only) == TFIDF
    # The same label from both: the more confident answer, whatever the weight.
    assert pick_answer(probs("Storage", 0.6), probs("Storage", 0.9), even) == TRANSFORMER
    assert pick_answer(probs("Storage", 0.95), probs("Storage", 0.9), even) == TFIDF


def test_offline_replay_matches_the_rules():
    assert route_offline(signals(), probs("Hardware", 0.9), probs("Storage", 0.99), POLICY) == (
        TFIDF,
        False,
    )
    assert route_offline(signals(), probs("Hardware", 0.5), probs("Storage", 0.7), POLICY) == (
        TRANSFORMER,
        True,
    )
    assert route_offline(signals(), probs("Hardware", 0.5), probs("Storage", 0.4), POLICY) == (
        TFIDF,
        True,
    )
    french = signals("écran noir", "fr", 0.9)
    assert route_offline(french, probs("Hardware", 0.9), probs("Storage", 0.4), POLICY) == (
        TRANSFORMER,
        True,
    )


def test_thresholds_come_from_settings(monkeypatch):
    monkeypatch.setenv("CALLCENTERAI_ROUTE_TFIDF_MIN_CONFIDENCE", "0.6")
    monkeypatch.setenv("CALLCENTERAI_ROUTE_TFIDF_LANGUAGES", '["en", "fr"]')
    policy = Settings().route
    assert policy.tfidf_min_confidence == 0.6 and policy.tfidf_languages == ("en", "fr")
    assert plan_route(signals("mon écran", "fr", 0.99), policy).first == TFIDF


def test_defaults_are_the_routing_benchmarks_choice():
    chosen = json.loads(ROUTING_REPORT.read_text())["chosen"]
    policy = RoutingSettings()
    assert set(policy.tfidf_languages) == set(chosen["tfidf_languages"])
    assert policy.tfidf_min_confidence == chosen["tfidf_min_confidence"]
    assert policy.complexity_threshold == chosen["complexity_threshold"]
    assert policy.answer == chosen.get("answer", "most_confident")
    if policy.answer == "weighted_vote":
        assert policy.vote_weight == chosen["vote_weight"]


def test_default_policy_lets_tfidf_answer_the_three_languages_only():
    policy = RoutingSettings()
    for language in ("en", "fr", "ar"):
        assert plan_route(signals("écran noir", language, 0.99), policy).first == TFIDF
    spanish = plan_route(signals("mi pantalla está negra", "es", 0.95), policy)
    assert spanish.first == TRANSFORMER and spanish.rules[0].fired
    long_ticket = " ".join(["The shared drive is full and nobody can save files."] * 12)
    assert not plan_route(signals(long_ticket), policy).consult_transformer  # complexity rule off


def test_fallback_reason_says_a_model_that_is_not_ready_is_not_ready():
    from callcenterai.agent.decision import fallback_reason

    assert fallback_reason("transformer", "not_ready") == (
        "the transformer is not ready yet (its model is loading or still being trained)"
    )
    assert fallback_reason("tfidf", "timeout") == "the tfidf service did not answer (timeout)"


def test_the_explanation_says_how_the_answer_was_chosen():
    from types import SimpleNamespace

    from callcenterai.agent.decision import decide

    def answer(probabilities):
        label = max(probabilities, key=probabilities.get)
        return SimpleNamespace(
            label=label,
            confidence=probabilities[label],
            probabilities=probabilities,
            explanation=None,
        )

    def decision(policy, tfidf, transformer):
        plan = plan_route(signals(), policy)
        assert needs_transformer(plan, max(tfidf.values()), policy)
        answers = {TFIDF: answer(tfidf), TRANSFORMER: answer(transformer)}
        return decide(plan, signals(), policy, answers, {})

    vote = RoutingSettings(
        tfidf_languages=("en",), tfidf_min_confidence=0.75, answer="weighted_vote", vote_weight=0.5
    )
    tfidf = {"Hardware": 0.55, "Storage": 0.45}
    transformer = {"Storage": 0.5, "Hardware": 0.1, "Access": 0.4}
    voted = decision(vote, tfidf, transformer)
    assert voted.answered == TRANSFORMER and voted.answer.label == "Storage"
    assert "won the vote" in voted.reason() and "Storage 0.47 vs Hardware 0.33" in voted.reason()
    confident = decision(POLICY, tfidf, transformer)
    assert confident.answered == TFIDF and "more confident (0.55 vs 0.50)" in confident.reason()
    agreeing = decision(vote, tfidf, {"Hardware": 0.9, "Storage": 0.1})
    assert agreeing.answered == TRANSFORMER and "both models gave Hardware" in agreeing.reason()
