"""The transformer: offline base model, tiny fine-tunes (BERT and DistilBERT), ONNX parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from callcenterai.config import Params, TransformerParams  # noqa: E402
from callcenterai.data import load_tickets  # noqa: E402
from callcenterai.errors import ModelNotFoundError  # noqa: E402
from callcenterai.models.finetune import (  # noqa: E402
    TorchClassifier,
    export_onnx,
    fine_tune,
    quantize_int8,
    write_serving_dir,
)
from callcenterai.models.offline_e5 import (  # noqa: E402
    OFFLINE_E5,
    dequantize_q4_0,
    resolve_base_model,
)
from callcenterai.models.transformer import (  # noqa: E402
    TransformerClassifier,
    length_grouped_batches,
)
from callcenterai.sample import write_sample  # noqa: E402

FRENCH = "Bonjour, l'écran de mon ordinateur portable reste noir depuis ce matin."
ARABIC = "لا أستطيع الدخول إلى حسابي لأن كلمة المرور انتهت صلاحيتها"


@pytest.fixture(scope="module")
def e5_dir() -> str:
    return resolve_base_model(OFFLINE_E5)


@pytest.fixture(scope="module")
def sample_frame(tmp_path_factory):
    path = write_sample(tmp_path_factory.mktemp("tr") / "s.csv", n=400)
    frame, _ = load_tickets(path, ["Document"], "Topic_group")
    return frame


def test_q4_0_block_layout():
    block = np.zeros(18, dtype=np.uint8)
    block[:2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    block[2] = 0x9F  # weight 0: low nibble 15 -> (15 - 8) * 0.5; weight 16: high nibble 9
    values = dequantize_q4_0(block.tobytes(), 32)
    assert values[0] == 3.5 and values[16] == 0.5
    assert values[1] == -4.0  # nibble 0 -> (0 - 8) * 0.5


def test_length_grouped_batches_cover_every_index_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = length_grouped_batches(lengths, 3, None)
    assert sorted(i for batch in batches for i in batch) == list(range(7))
    assert all(len(batch) <= 3 for batch in batches)


def test_offline_tokenizer_gives_real_subwords_for_french_and_arabic(e5_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(e5_dir)
    for text in (FRENCH, ARABIC):
        pieces = tokenizer.tokenize(text)
        assert tokenizer.unk_token not in pieces
        assert sum(len(p.lstrip("▁")) > 1 for p in pieces) >= len(pieces) // 2
    assert "▁ordinateur" in tokenizer.tokenize(FRENCH) or "▁ordina" in tokenizer.tokenize(FRENCH)


def test_rebuilt_weights_load_and_keep_meaning_across_languages(e5_dir):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(e5_dir)
    model = AutoModel.from_pretrained(e5_dir).eval()
    texts = [
        "query: my laptop screen is broken",
        "query: l'écran de mon ordinateur portable est cassé",
        "query: شاشة حاسوبي المحمول مكسورة",
        "query: please send me my payslip for March",
    ]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"][..., None]
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    similarity = (emb @ emb.T).numpy()
    assert similarity[0, 1] > similarity[0, 3] + 0.05  # French translation beats unrelated
    assert similarity[0, 2] > similarity[0, 3] + 0.02  # Arabic translation beats unrelated


def test_unreachable_hub_model_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as error:
        resolve_base_model("distilbert-base-multilingual-cased")
    message = str(error.value)
    assert "\n" not in message
    assert "distilbert-base-multilingual-cased" in message and OFFLINE_E5 in message


def tiny_finetune(base: str, frame, tmp_path, epochs: int = 1):
    params = TransformerParams(max_length=32, batch_size=8, epochs=epochs, learning_rate=1e-3)
    train, val = frame.iloc[:64], frame.iloc[64:96]
    result = fine_tune(
        train["text"].tolist(),
        train["label"].tolist(),
        val["text"].tolist(),
        val["label"].tolist(),
        params,
        base,
        tmp_path / "hf",
    )
    return result, val


def check_round_trip_and_onnx(result, val, tmp_path):
    texts = val["text"].tolist()[:12] + ["Bonjour, mon écran est noir", ARABIC]
    torch_model = TorchClassifier.load(result.output_dir)
    assert torch_model.labels == result.labels == sorted(set(torch_model.labels))
    meta = json.loads((result.output_dir / "labels.json").read_text())
    assert meta["max_length"] == 32
    expected = torch_model.predict_proba(texts)
    assert np.allclose(expected.sum(axis=1), 1.0, atol=1e-5)

    onnx_path = export_onnx(result.output_dir, tmp_path / "onnx" / "model.onnx")
    onnx_model = TransformerClassifier(
        write_serving_dir(result.output_dir, onnx_path, tmp_path / "s")
    )
    got = onnx_model.predict_proba(texts)
    assert np.abs(got - expected).max() < 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()

    int8 = quantize_int8(onnx_path, tmp_path / "onnx" / "model.int8.onnx")
    assert int8.stat().st_size < onnx_path.stat().st_size
    quantized = TransformerClassifier(write_serving_dir(result.output_dir, int8, tmp_path / "q"))
    assert np.abs(quantized.predict_proba(texts) - expected).max() < 0.2


@pytest.mark.slow
def test_tiny_finetune_of_the_offline_encoder(e5_dir, sample_frame, tmp_path):
    result, val = tiny_finetune(e5_dir, sample_frame, tmp_path)
    assert result.best_epoch == 1 and len(result.epochs) == 1
    check_round_trip_and_onnx(result, val, tmp_path)


def test_tiny_finetune_of_a_distilbert_architecture(tiny_distilbert, sample_frame, tmp_path):
    result, val = tiny_finetune(tiny_distilbert, sample_frame, tmp_path, epochs=3)
    losses = [epoch.train_loss for epoch in result.epochs]
    assert losses[-1] < losses[0]  # it learns
    check_round_trip_and_onnx(result, val, tmp_path)


def test_train_transformer_logs_registers_and_evaluates(tiny_distilbert, prepared, tmp_path):
    import mlflow

    from callcenterai.models.store import load_classifier
    from callcenterai.pipeline import stage_evaluate, stage_train

    params = Params()
    params.transformer = TransformerParams(
        base_model=tiny_distilbert, max_length=32, batch_size=16, epochs=2, learning_rate=1e-3,
        max_train_samples=200, max_int8_f1_drop=1.0,
    )  # fmt: skip
    result = stage_train("transformer", prepared, params)
    assert result.registered_version == "1"
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["serving_precision"] == "int8"
    history = mlflow.MlflowClient().get_metric_history(result.run_id, "val_macro_f1_epoch")
    assert [m.step for m in history] == [1, 2]
    registered = load_classifier("models:/callcenterai-transformer@staging")
    assert registered.kind == "transformer" and registered.version == "1"
    local = load_classifier(str(result.model_dir))
    texts = ["printer on floor 2 is jammed", FRENCH]
    assert np.allclose(local.predict_proba(texts), registered.predict_proba(texts))
    metrics = stage_evaluate(
        str(result.model_dir), prepared.split("test"), tmp_path / "m.json", params
    )
    assert metrics["model"] == {"name": "callcenterai-transformer", "version": "1"}
    assert mlflow.get_run(result.run_id).data.metrics["test_macro_f1"] == metrics["macro_f1"]
    pyfunc = mlflow.pyfunc.load_model(str(result.model_dir))
    import pandas as pd

    assert list(pyfunc.predict(pd.DataFrame({"text": texts}))) == local.predict(texts)


@pytest.mark.slow
def test_offline_rebuild_into_an_empty_cache(tmp_path):
    """The rebuild itself (CI may already hold the cache): complete folder, no leftovers."""
    path = resolve_base_model(OFFLINE_E5, cache_dir=tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert files == {OFFLINE_E5}
    built = {p.name for p in Path(path).iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= built
    config = json.loads((Path(path) / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (
        384,
        12,
        250037,
    )
