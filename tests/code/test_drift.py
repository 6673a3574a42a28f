"""Drift: histograms with fixed bins, the Jensen-Shannon distance, the reference profile every
trained model carries, the live profile from the store, the alert's threshold and the report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta

import pytest
import yaml

from callcenterai.config import PROJECT_ROOT
from callcenterai.drift import (
    ALERT_THRESHOLD,
    REFERENCE_FILE,
    Profile,
    build_profile,
    compare,
    distance,
    live_profile,
    load_reference,
)
from callcenterai.tickets.store import TicketStore, now
from tests.tickets.rows import ticket_row


def profile(languages, words, confidences, labels, unknown=None) -> Profile:
    return build_profile(languages, words, confidences, labels, unknown)


def test_distance_is_zero_for_the_same_mix_and_near_one_for_disjoint_ones():
    assert distance({"en": 80, "fr": 20}, {"en": 40, "fr": 10}) < 0.01  # smoothing only
    assert distance({"en": 1000}, {"ar": 1000}) > 0.95
    assert 0 < distance({"en": 80, "fr": 20}, {"en": 20, "fr": 80}) < 1


def test_numeric_features_use_fixed_bins():
    result = profile(["en", "xx"], [3, 500], [0.15, 0.97], ["A", "B"], [0.0, None])
    assert result.histograms["language"] == {"en": 1, "other": 1}
    assert result.histograms["words"]["[0, 5)"] == 1 and result.histograms["words"][">= 160"] == 1
    assert result.histograms["confidence"]["[0, 0.2)"] == 1
    assert result.histograms["confidence"][">= 0.95"] == 1
    assert result.histograms["unknown_words"]["[0, 0.05)"] == 1  # None: not a TF-IDF answer


def test_compare_flags_a_language_shift_and_not_the_same_mix():
    reference = profile(["en"] * 80 + ["fr"] * 20, [20] * 100, [0.9] * 100, ["A", "B"] * 50)
    same = profile(["en"] * 40 + ["fr"] * 10, [20] * 50, [0.9] * 50, ["A", "B"] * 25)
    arabic = profile(["ar"] * 45 + ["en"] * 5, [20] * 50, [0.4] * 50, ["A", "B"] * 25)
    assert max(compare(reference, same).values()) < ALERT_THRESHOLD
    shifted = compare(reference, arabic)
    assert shifted["language"] > ALERT_THRESHOLD and shifted["confidence"] > ALERT_THRESHOLD
    assert shifted["label"] < ALERT_THRESHOLD
    assert "unknown_words" not in shifted  # neither profile has it


def test_the_alert_uses_the_same_threshold():
    rules = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    expr = next(
        rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "CallCenterAIInputDrift"
    )
    assert float(re.search(r"callcenterai_drift\) > ([0-9.]+)", expr).group(1)) == ALERT_THRESHOLD


def test_a_trained_model_carries_its_reference_profile(trained):
    layout, result = trained
    on_disk = Profile.from_dict(json.loads((result.model_dir / REFERENCE_FILE).read_text()))
    val_rows = sum(1 for _ in open(layout.split("val"), encoding="utf-8")) - 1
    assert on_disk.tickets == val_rows
    assert set(on_disk.histograms) == {"language", "words", "confidence", "label", "unknown_words"}
    assert on_disk.model == {"name": "callcenterai-tfidf", "version": result.registered_version}
    from_registry = load_reference("callcenterai-tfidf", result.registered_version)
    assert from_registry.to_dict() == on_disk.to_dict()


def test_live_profile_reads_the_window_of_the_store(tmp_path):
    store = TicketStore(f"sqlite:///{tmp_path / 'tickets.db'}")
    store.migrate()
    store.add(
        [ticket_row(language="ar", unknown_word_share=0.6) for _ in range(3)]
        + [ticket_row(created_at=now() - timedelta(days=3))]  # outside the window
        + [ticket_row(tfidf_label=None, tfidf_confidence=None)]  # TF-IDF was not asked
    )
    live = live_profile(store, "tfidf", now() - timedelta(hours=24), now() + timedelta(seconds=1))
    assert live.tickets == 3 and live.histograms["language"] == {"ar": 3}
    assert live.histograms["unknown_words"]["[0.5, 0.75)"] == 3
    assert live_profile(store, "transformer", now() - timedelta(days=9), now()).tickets == 0


def test_drift_command_writes_the_report(tmp_path, trained):
    _, result = trained
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    store = TicketStore(url)
    store.migrate()
    store.add([ticket_row(language="ar", text="طابعة لا تعمل " * 3) for _ in range(30)])
    store.close()
    output = tmp_path / "report" / "drift.html"
    command = [sys.executable, "-m", "callcenterai", "drift", "--store-url", url]
    command += ["--alias", "staging"]  # the fixture registers a staging version
    run = subprocess.run(
        [*command, "--output", str(output)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert summary["tickets"] == 30 and "language" in summary["drifting"]
    assert summary["model"]["version"] == result.registered_version
    page = output.read_text()
    assert page.count("data:image/png;base64,") == len(summary["distances"])
    assert json.loads(output.with_suffix(".json").read_text()) == summary


@pytest.mark.parametrize(
    "create, message", [(False, "error: no ticket store at"), (True, "error: no ticket answered")]
)
def test_drift_command_without_tickets_is_one_line(tmp_path, trained, create, message):
    _, result = trained
    reference = result.model_dir / REFERENCE_FILE
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    if create:
        TicketStore(url).migrate()
    run = subprocess.run(
        [sys.executable, "-m", "callcenterai", "drift", "--reference", str(reference),
         "--store-url", url],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().startswith(message), run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("version", ["local", "99"])
def test_a_version_without_a_reference_is_a_registry_error(version, trained):
    from callcenterai.errors import RegistryError

    with pytest.raises(RegistryError):
        load_reference("callcenterai-tfidf", version)
