"""Training, explanations, persistence, behaviour, and the quality gate on real data."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from callcenterai.config import Params, load_params
from callcenterai.data import read_split
from callcenterai.errors import ModelNotFoundError
from callcenterai.evaluate import evaluate_frame, load_eval_data
from callcenterai.models.store import load_classifier
from callcenterai.models.tfidf import TfidfClassifier, as_frame
from callcenterai.pipeline import Layout, stage_prepare
from callcenterai.sample import LABELS
from callcenterai.train import sample_weights
from tests.conftest import KAGGLE_CSV


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    from callcenterai.data import load_tickets
    from callcenterai.sample import write_sample

    path = write_sample(tmp_path_factory.mktemp("m") / "s.csv", n=1200)
    frame, _ = load_tickets(path, ["Document"], "Topic_group")
    return TfidfClassifier.train(frame["text"], frame["label"], Params().tfidf)


def test_probabilities_cover_every_class_and_sum_to_one(sample_model):
    probabilities = sample_model.predict_proba(["my laptop is broken", "need admin rights"])
    assert probabilities.shape == (2, len(LABELS))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert set(sample_model.labels) == set(LABELS)


@pytest.mark.parametrize(
    "text,label",
    [
        ("I cannot log in, my account is locked and the password expired", "Access"),
        ("Please order 5 new headsets and raise a purchase order", "Purchase"),
        ("My mailbox is full, please increase the storage quota", "Storage"),
        ("I need local admin rights to install the software", "Administrative rights"),
    ],
)
def test_minimum_functionality(sample_model, text, label):
    assert sample_model.predict([text]) == [label]


def test_fast_path_matches_the_saved_pipeline(sample_model):
    texts = ["my laptop is broken", "Merci de commander 3 écrans", ""]
    expected = sample_model.pipeline.predict_proba(as_frame(texts))
    assert np.allclose(sample_model.predict_proba(texts), expected)


def test_invariance_to_case_punctuation_digits_and_placeholders(sample_model):
    base = "my mailbox is full please increase the quota"
    variants = [
        "MY MAILBOX IS FULL!!! Please increase the quota.",
        "my mailbox is full (100%) please increase the quota #2",
        "my mailbox [EMAIL] is full please increase the quota [PHONE]",
    ]
    expected = sample_model.predict_proba([base])
    for variant in variants:
        assert np.allclose(sample_model.predict_proba([variant]), expected)


def test_directional_adding_access_words_raises_access(sample_model):
    access = sample_model.labels.index("Access")
    before = sample_model.predict_proba(["question about the team meeting"])[0, access]
    after = sample_model.predict_proba(["question about the team meeting, my account is locked"])
    assert after[0, access] > before


def test_explanation_terms_come_from_the_ticket_and_support_the_label(sample_model):
    text = "I cannot log in to Jira, my account is locked"
    terms = sample_model.explain(text, top_k=3)
    assert 1 <= len(terms) <= 3
    assert all(term.weight > 0 for term in terms)
    assert [t.weight for t in terms] == sorted((t.weight for t in terms), reverse=True)
    normalised = "i cannot log in to jira my account is locked"
    assert all(term.term in normalised for term in terms)


def test_explanation_of_unknown_words_is_empty(sample_model):
    assert sample_model.explain("zzzz qqqq", label="Hardware") == []


def test_explanation_for_unknown_label_is_refused(sample_model):
    with pytest.raises(ValueError, match="unknown label"):
        sample_model.explain("printer", label="Billing")


def test_trained_model_round_trips_through_folder_and_registry(trained):
    layout, result = trained
    local = load_classifier(str(result.model_dir))
    registered = load_classifier("models:/callcenterai-tfidf@staging")
    texts = ["printer on floor 2 is jammed", "Merci de me donner accès au dossier"]
    assert np.allclose(local.predict_proba(texts), registered.predict_proba(texts))
    assert (local.name, local.version) == ("callcenterai-tfidf", result.registered_version)
    assert registered.version == result.registered_version


def test_mlflow_pyfunc_serves_raw_text(trained):
    _, result = trained
    model = mlflow.pyfunc.load_model(str(result.model_dir))
    predictions = model.predict(pd.DataFrame({"text": ["Please order 3 new laptops"]}))
    assert list(predictions) == ["Purchase"]


def test_training_run_logged_params_metrics_and_artifacts(trained):
    _, result = trained
    run = mlflow.get_run(result.run_id)
    assert run.data.params["tfidf.C"] == str(Params().tfidf.C)
    assert run.data.metrics["val_macro_f1"] == pytest.approx(result.val_metrics["macro_f1"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)}
    assert {"data_report.json", "classification_report_val.json", "confusion_matrix_val.png"} <= (
        artifacts
    )


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model at"):
        load_classifier(str(tmp_path / "nothing"))
    with pytest.raises(ModelNotFoundError, match="cannot load model models:/ghost@production"):
        load_classifier("models:/ghost@production")


@pytest.mark.slow
def test_quality_gate_on_real_data(tmp_path):
    """Trained on the Kaggle tickets, the model reaches macro-F1 >= 0.86 on its held-out split."""
    params = Params()
    layout = Layout(tmp_path)
    stage_prepare(KAGGLE_CSV, layout, params)
    train = read_split(layout.split("train"))
    test = read_split(layout.split("test"))
    model = TfidfClassifier.train(train["text"], train["label"], params.tfidf)
    metrics, _ = evaluate_frame(model, test, params.data.short_ticket_words)
    assert metrics["macro_f1"] >= 0.86, metrics["per_class"]


@pytest.mark.slow
def test_quality_gate_on_natural_tickets(tmp_path):
    """Trained as the pipeline trains it (Kaggle + the natural corpus, params.yaml), the model
    answers natural tickets: accuracy >= 0.85 in each language of the natural evaluation set.

    Measured (benchmarks/natural.py, reports/benchmark.md): en 0.900, fr 0.921, ar 0.887.
    """
    params = load_params()
    layout = Layout(tmp_path)
    stage_prepare(KAGGLE_CSV, layout, params)
    train = read_split(layout.split("train"))
    model = TfidfClassifier.train(
        train["text"], train["label"], params.tfidf, sample_weight=sample_weights(train, params)
    )
    natural, _ = load_eval_data(params.natural.path("eval"), params.data)
    metrics, _ = evaluate_frame(model, natural, params.data.short_ticket_words)
    for language in ("en", "fr", "ar"):
        assert metrics["slices"][f"language_{language}"]["accuracy"] >= 0.85, language
