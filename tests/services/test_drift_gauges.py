"""The agent's drift gauges over a real registry, model service and ticket store: the reference
profile of the production version, the live profile of the stored tickets, and a language shift
that moves the language distance past the alert's threshold while English tickets do not."""

from __future__ import annotations

import os
import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from callcenterai.config import RoutingSettings, Settings, get_settings
from callcenterai.drift import ALERT_THRESHOLD
from callcenterai.sample import write_sample
from callcenterai.services.agent_service import create_agent_app
from tests.conftest import free_port, start_service

pytestmark = pytest.mark.slow

ARABIC = [
    "مرحبا، الحاسوب المحمول لا يعمل منذ الصباح والشاشة سوداء",
    "أحتاج إلى صلاحيات المسؤول لتثبيت برنامج جديد على جهازي",
    "لا أستطيع الدخول إلى البريد الإلكتروني، كلمة المرور لا تعمل",
    "نريد شراء طابعة جديدة لقسم المحاسبة في الطابق الثاني",
    "أين أجد قسيمة الراتب الخاصة بالشهر الماضي من فضلكم",
]


def gauges(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        feature: float(value)
        for feature, value in re.findall(
            r'callcenterai_drift\{feature="(\w+)",model="tfidf"\} ([0-9.e+-]+)', text
        )
    }


def test_language_shift_moves_the_drift_gauge(champion_and_challenger, tmp_path):
    tracking = get_settings().tracking_uri
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    port = free_port()
    service = start_service("tfidf", port, tmp_path, env=env)  # production: version 1
    english = write_sample(tmp_path / "s.csv", n=120, seed=5)

    sample = pd.read_csv(english)["Document"].tolist()[:60]  # the training data's kind of text

    def run(texts: list[str], store: str) -> dict[str, float]:
        settings = Settings(
            tfidf_url=f"http://127.0.0.1:{port}",
            transformer_url=f"http://127.0.0.1:{free_port()}",
            route=RoutingSettings(tfidf_min_confidence=0.0, tfidf_languages=("en", "fr", "ar")),
            pii_person_names=False,
            store_url=f"sqlite:///{tmp_path / store}",
            drift_min_tickets=20,
            drift_interval_s=0,  # computed below, once
            shadow_share=0.0,
        )
        with TestClient(create_agent_app(settings)) as agent:
            for text in texts:
                assert agent.post("/classify", json={"text": text}).status_code == 200
            agent.app.state.agent.writer.flush()
            computed = agent.app.state.agent.update_drift()["tfidf"]
            assert gauges(agent) == computed
            assert 'callcenterai_drift_window_tickets{model="tfidf"} ' + f"{len(texts)}.0" in (
                agent.get("/metrics").text
            )
            return computed

    try:
        steady = run(sample, "steady.db")
        shifted = run(ARABIC * 8, "arabic.db")
    finally:
        service.stop()
    assert steady["language"] < ALERT_THRESHOLD < shifted["language"]
    assert set(steady) == {"language", "words", "confidence", "label", "unknown_words"}
    assert shifted["unknown_words"] > steady["unknown_words"]
