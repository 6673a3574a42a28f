"""Registry and champion/challenger promotion, on a local store and on a real MLflow server."""

import json

import pytest
from mlflow.tracking import MlflowClient

from callcenterai.data import read_split
from callcenterai.errors import RegistryError
from callcenterai.pipeline import stage_promote, stage_train
from callcenterai.registry import parse_alias_uri
from callcenterai.tracking import setup_tracking
from callcenterai.train import train_model
from tests.conftest import use_home

NAME = "callcenterai-tfidf"


def test_parse_alias_uri():
    assert parse_alias_uri("models:/m@production") == ("m", "production", None)
    assert parse_alias_uri("models:/m/3") == ("m", None, "3")


def test_promote_without_candidate_is_a_clear_error(params, prepared):
    setup_tracking()
    with pytest.raises(RegistryError, match="no version with alias 'staging'"):
        stage_promote(prepared, params)


def train_worse_candidate(layout, params, tmp_path):
    """A model trained on shuffled labels: registered as staging, clearly worse."""
    train = read_split(layout.split("train"))
    train["label"] = train["label"].sample(frac=1, random_state=0).to_numpy()
    return train_model("tfidf", train, read_split(layout.split("val")), tmp_path / "worse", params)


def check_champion_challenger(layout, params, tmp_path):
    first = stage_train("tfidf", layout, params)
    client = MlflowClient()  # after training has pointed MLflow at this test's store
    decision = stage_promote(layout, params)
    assert decision["promoted"] and decision["reason"] == "no production version yet"
    assert (
        str(client.get_model_version_by_alias(NAME, "production").version)
        == first.registered_version
    )

    worse = train_worse_candidate(layout, params, tmp_path)
    assert (
        str(client.get_model_version_by_alias(NAME, "staging").version) == worse.registered_version
    )
    decision = stage_promote(layout, params)
    assert not decision["promoted"]
    assert decision["candidate_macro_f1"] < decision["champion_macro_f1"]
    assert (
        str(client.get_model_version_by_alias(NAME, "production").version)
        == first.registered_version
    )
    tags = client.get_model_version(NAME, worse.registered_version).tags
    assert tags["promotion.decision"] == "refused"
    assert float(tags["promotion.champion_macro_f1"]) == decision["champion_macro_f1"]
    assert json.loads(layout.promotion("tfidf").read_text())["promoted"] is False

    same = stage_train("tfidf", layout, params)  # same data and seed: equal score is enough
    decision = stage_promote(layout, params)
    assert decision["promoted"]
    assert decision["candidate_macro_f1"] == decision["champion_macro_f1"]
    assert (
        str(client.get_model_version_by_alias(NAME, "production").version)
        == same.registered_version
    )


def test_champion_challenger_on_local_store(prepared, params, tmp_path):
    check_champion_challenger(prepared, params, tmp_path)


@pytest.mark.slow
def test_champion_challenger_on_mlflow_server(
    mlflow_server, prepared, params, tmp_path, monkeypatch
):
    use_home(monkeypatch, tmp_path / "home-server", tracking_uri=mlflow_server)
    check_champion_challenger(prepared, params, tmp_path)
    assert not (tmp_path / "home-server" / "mlruns").exists()  # nothing went to a local store
    from callcenterai.models.store import load_classifier

    production = load_classifier(f"models:/{NAME}@production")
    assert production.predict(["please order two new laptops"]) == ["Purchase"]


def test_bootstrap_registers_once_force_retrains_and_rollback_goes_back(params, tmp_path):
    from callcenterai.config import PRODUCTION_ALIAS, TFIDF_MODEL_NAME
    from callcenterai.pipeline import bootstrap, rollback
    from callcenterai.registry import production_history

    first = bootstrap(tmp_path / "b1", params, kinds=("tfidf",), sample_size=600)
    assert first["trained"] == ["tfidf"] and first["production"]["tfidf"] == "1"
    assert first["production"]["transformer"] is None  # not asked for
    again = bootstrap(tmp_path / "b2", params, kinds=("tfidf",), sample_size=600)
    assert again["trained"] == [] and again["reason"] == "already registered"
    forced = bootstrap(tmp_path / "b3", params, kinds=("tfidf",), sample_size=600, force=True)
    assert forced["trained"] == ["tfidf"] and forced["production"]["tfidf"] == "2"
    assert production_history(TFIDF_MODEL_NAME) == ["1", "2"]
    assert rollback("tfidf") == {
        "model": TFIDF_MODEL_NAME, "alias": PRODUCTION_ALIAS,
        "from_version": "2", "to_version": "1",
    }  # fmt: skip
    with pytest.raises(RegistryError, match="no earlier production version"):
        rollback("tfidf")
    with pytest.raises(RegistryError, match="unknown model kind"):
        rollback("bert")


KEYWORDS = ["vexil", "trombu", "quasko", "mirdel", "fluxen", "gravo", "pintek", "zumbra"]
FILLERS = ["since monday", "again today", "for my team", "on the third floor", "urgently"]


def made_up_tickets(labels: list[str], fillers: list[str]):
    """Tickets in a vocabulary the sample never uses, one keyword per category: what a first
    model gets wrong and corrections teach."""
    import pandas as pd

    rows = [
        {"text": f"my {keyword} is broken {filler}", "label": label, "source": "feedback"}
        for keyword, label in zip(KEYWORDS, labels)
        for filler in fillers
    ]
    return pd.DataFrame(rows)


def test_held_out_corrections_decide_the_promotion(prepared, params, tmp_path):
    import pandas as pd

    from callcenterai.data import FEEDBACK_TEST

    first = stage_train("tfidf", prepared, params)
    stage_promote(prepared, params)
    train, val = read_split(prepared.split("train")), read_split(prepared.split("val"))
    labels = sorted(train["label"].unique())
    held_out = made_up_tickets(labels, ["at home", "after the update", "this week"])
    held_out.drop(columns="source").to_csv(prepared.processed / FEEDBACK_TEST, index=False)

    taught = pd.concat([train, made_up_tickets(labels, FILLERS)], ignore_index=True)
    better = train_model("tfidf", taught, val, tmp_path / "taught", params)
    lenient = params.model_copy(
        update={"promotion": params.promotion.model_copy(update={"max_test_drop": 0.05})}
    )
    decision = stage_promote(prepared, lenient)
    assert decision["corrections"] == 24 and decision["promoted"], decision["reason"]
    assert decision["candidate_corrections_macro_f1"] > decision["champion_corrections_macro_f1"]
    assert decision["reason"].startswith("held-out corrections macro-F1")
    client = MlflowClient()
    assert (
        str(client.get_model_version_by_alias(NAME, "production").version)
        == better.registered_version
    )
    tags = client.get_model_version(NAME, better.registered_version).tags
    assert tags["promotion.corrections"] == "24"

    worse = train_worse_candidate(prepared, params, tmp_path)
    decision = stage_promote(prepared, lenient)
    assert not decision["promoted"] and "more than 0.0500" in decision["reason"]
    assert (
        str(client.get_model_version_by_alias(NAME, "production").version)
        == better.registered_version
    )
    assert worse.registered_version != first.registered_version

    few = params.model_copy(
        update={"promotion": params.promotion.model_copy(update={"min_corrections": 25})}
    )
    decision = stage_promote(prepared, few)  # 24 < 25: the test split alone decides
    assert decision["corrections"] == 0 and decision["reason"].startswith("candidate macro-F1")
