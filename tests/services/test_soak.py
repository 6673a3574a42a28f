"""The soak with faults (benchmarks/soak.py), short: one cycle under a steady load through the
agent, with real processes (MLflow server, both model services following @production, the
agent). TF-IDF is SIGKILLed and restarted, the transformer frozen (SIGSTOP) past its timeout,
then MLflow stopped while TF-IDF restarts. Short downstream timeouts and breaker pause keep it
near a minute; the faults and the checks are those of the 10-minute benchmark."""

import pytest

from benchmarks.soak import OUTCOMES, SoakConfig, run_soak
from callcenterai.services.downstream import RETRY_AFTER_S

pytestmark = pytest.mark.slow

SHORT = SoakConfig(
    minutes=0,
    cycles=1,
    clients=3,
    rate_per_client=4.0,
    tfidf_timeout_s=1.0,
    transformer_timeout_s=1.5,
    breaker_failures=3,
    breaker_reset_s=3.0,
    baseline_s=4.0,
    kill_down_s=5.0,
    freeze_s=5.0,
    mlflow_down_s=3.0,
    settle_s=2.0,
    recovery_timeout_s=60.0,
    client_timeout_s=10.0,  # 4 times the agent's worst case (both timeouts): longer is a hang
)


def test_every_request_is_answered_or_refused_clearly_through_the_faults(
    tfidf_dir, tiny_transformer_dir, tmp_path
):
    result = run_soak(SHORT, {"tfidf": tfidf_dir, "transformer": tiny_transformer_dir}, tmp_path)
    report = {"phases": result["phases"], "faults": result["faults"]}  # shown when a check fails

    outcomes = result["totals"]["outcomes"]
    assert result["totals"]["requests"] > 100, report
    assert outcomes["500"] == 0, report
    assert outcomes["client_timeout"] == 0, report  # no hang
    for outcome in OUTCOMES:
        if outcome not in ("200", "503_retry_after"):
            assert outcomes[outcome] == 0, (outcome, report)  # every refusal is a clear 503
    for phase in result["phases"]:  # the other model answers while one is down or frozen
        assert phase["outcomes"]["200"] > 0, (phase["name"], report)
        if phase["retry_after_s"]:  # at most the breaker's pause, or the short default
            low, high = phase["retry_after_s"]
            assert 1 <= low <= high <= max(SHORT.breaker_reset_s, RETRY_AFTER_S), phase
    assert result["totals"]["outcomes"]["503_retry_after"] > 0, report  # forced, faulted model

    faults = {fault["fault"]: fault for fault in result["faults"]}
    assert [(f["fault"], f["target"]) for f in result["faults"]] == [
        ("sigkill", "tfidf"),
        ("sigstop", "transformer"),
        ("mlflow_down", "tfidf"),
    ]
    for name in ("sigkill", "sigstop"):  # the breaker opened, then closed once it answered again
        fault = faults[name]
        assert fault["breaker_opened_s"] is not None, report
        assert fault["injected_s"] <= fault["breaker_opened_s"] < fault["breaker_closed_s"], report
    for fault in result["faults"]:  # 200 from the faulted service again, breaker closed
        assert fault["recovered"], report
    gauge = [(c["downstream"], c["open"]) for c in result["breaker_gauge_changes"]]
    assert ("tfidf", 1) in gauge and ("transformer", 1) in gauge, gauge
    assert result["checks"]["breaker_opened_and_closed_for_every_killed_service"]

    restarted = faults["mlflow_down"]  # started with MLflow down: up at once, then serving
    assert restarted["service_up_while_mlflow_down"], report
    assert restarted["ready_status_while_mlflow_down"] == 503, report

    for name, memory in result["rss_mb"].items():
        assert memory["start_mb"] and memory["end_mb"], (name, result["rss_mb"])
    assert result["rss_mb"]["tfidf"]["starts"] == 3 and result["rss_mb"]["agent"]["starts"] == 1
