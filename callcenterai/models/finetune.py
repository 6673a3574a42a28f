"""Fine-tuning the transformer (PyTorch + ``transformers``), ONNX export and int8 quantisation.

A plain training loop: length-grouped batches with dynamic padding, AdamW with linear warm-up,
optional frozen word embeddings and class weights, early stopping on validation macro-F1, best
epoch kept. The result is exported to ONNX and served by
:class:`~callcenterai.models.transformer.TransformerClassifier`, which needs none of this
module's dependencies: serving never imports it.
"""

from __future__ import annotations

import copy
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from callcenterai.config import TransformerParams
from callcenterai.models.base import Classifier, top_labels
from callcenterai.models.transformer import LABELS_FILE, length_grouped_batches, softmax
from callcenterai.text import normalise_texts

logger = logging.getLogger(__name__)


@dataclass
class EpochLog:
    epoch: int
    train_loss: float
    val_macro_f1: float
    val_accuracy: float
    seconds: float


@dataclass
class FineTuneResult:
    output_dir: Path
    labels: list[str]
    best_epoch: int
    best_val_macro_f1: float
    epochs: list[EpochLog] = field(default_factory=list)
    train_seconds: float = 0.0
    train_rows: int = 0


class TorchClassifier(Classifier):
    """A fine-tuned Hugging Face model in PyTorch: used for validation, parity and benchmarks."""

    kind = "transformer-torch"

    def __init__(self, model, tokenizer, labels: list[str], max_length: int, batch_size: int = 64):
        self.model, self.tokenizer = model, tokenizer
        self.labels, self.max_length, self.batch_size = labels, max_length, batch_size
        self.name, self.version = "transformer-torch", "local"

    @classmethod
    def load(cls, path: Path, batch_size: int = 64) -> TorchClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        meta = json.loads((Path(path) / LABELS_FILE).read_text())
        # Local folders only (a fine-tuned checkpoint), never the hub.
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()  # nosec B615
        tokenizer = AutoTokenizer.from_pretrained(path)  # nosec B615
        return cls(model, tokenizer, meta["labels"], meta["max_length"], batch_size)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        encoded = self.tokenizer(
            normalise_texts(texts), truncation=True, max_length=self.max_length
        )["input_ids"]
        out = np.zeros((len(encoded), len(self.labels)), dtype=np.float32)
        self.model.eval()
        with torch.inference_mode():
            for batch in length_grouped_batches([len(x) for x in encoded], self.batch_size, None):
                padded = self.tokenizer.pad(
                    {"input_ids": [encoded[i] for i in batch]}, return_tensors="pt"
                )
                logits = self.model(**padded).logits.float().numpy()
                out[batch] = softmax(logits)
        return out


def progress_bar(done: int, total: int, elapsed: float, width: int = 24) -> str:
    """``[#########---------] 40% (120/300 steps), 2:10 elapsed, about 3:15 left``."""
    share = done / max(total, 1)
    filled = int(share * width)
    left = elapsed / done * (total - done) if done else float("nan")
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] {share:.0%} ({done}/{total} steps), "
        f"{_clock(elapsed)} elapsed, about {_clock(left)} left"
    )


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN: not known yet
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def fine_tune(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    val_texts: Sequence[str],
    val_labels: Sequence[str],
    params: TransformerParams,
    base_model_path: str,
    output_dir: Path,
    seed: int = 42,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> FineTuneResult:
    """Fine-tune ``base_model_path`` for sequence classification; save the best epoch."""
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if params.torch_threads:
        torch.set_num_threads(params.torch_threads)
    labels = sorted(set(train_labels))
    label_ids = {label: i for i, label in enumerate(labels)}
    # base_model_path comes from resolve_base_model: a local folder or the user's hub choice.
    tokenizer = AutoTokenizer.from_pretrained(base_model_path)  # nosec B615
    model = AutoModelForSequenceClassification.from_pretrained(  # nosec B615
        base_model_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label_ids,
    )
    if params.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)

    encoded = tokenizer(
        normalise_texts(train_texts), truncation=True, max_length=params.max_length
    )["input_ids"]
    targets = torch.tensor([label_ids[label] for label in train_labels])
    weights = None
    if params.class_weighting == "balanced":
        counts = np.bincount(targets.numpy(), minlength=len(labels))
        weights = torch.tensor(len(targets) / (len(labels) * counts), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)

    rng = random.Random(seed)  # nosec B311
    steps_per_epoch = -(-len(encoded) // params.batch_size)
    total_steps = steps_per_epoch * params.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {
                "params": [p for n, p in trainable if not n.endswith(no_decay)],
                "weight_decay": params.weight_decay,
            },
            {"params": [p for n, p in trainable if n.endswith(no_decay)], "weight_decay": 0.0},
        ],
        lr=params.learning_rate,
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(params.warmup_ratio * total_steps), total_steps
    )
    validator = TorchClassifier(model, tokenizer, labels, params.max_length, params.eval_batch_size)
    result = FineTuneResult(output_dir, labels, 0, -1.0, train_rows=len(encoded))
    best_state, stale = None, 0
    started = reported = time.perf_counter()
    for epoch in range(1, params.epochs + 1):
        epoch_started = time.perf_counter()
        model.train()
        losses = []
        lengths = [len(x) for x in encoded]
        for step, batch in enumerate(length_grouped_batches(lengths, params.batch_size, rng)):
            padded = tokenizer.pad({"input_ids": [encoded[i] for i in batch]}, return_tensors="pt")
            loss = loss_fn(model(**padded).logits, targets[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            done = (epoch - 1) * steps_per_epoch + step + 1
            if step % 100 == 0 or time.perf_counter() - reported > 15:
                reported = time.perf_counter()
                logger.info(
                    "epoch %d step %d/%d loss %.4f", epoch, step, steps_per_epoch, np.mean(losses)
                )
                logger.info("progress: %s", progress_bar(done, total_steps, reported - started))
        probabilities = validator.predict_proba(val_texts)
        predicted, _ = top_labels(probabilities, labels)
        log = EpochLog(
            epoch=epoch,
            train_loss=float(np.mean(losses)),
            val_macro_f1=float(f1_score(val_labels, predicted, average="macro")),
            val_accuracy=float(np.mean(np.asarray(val_labels) == np.asarray(predicted))),
            seconds=time.perf_counter() - epoch_started,
        )
        result.epochs.append(log)
        logger.info("epoch %d: %s", epoch, log)
        if on_epoch:
            on_epoch(log)
        if log.val_macro_f1 > result.best_val_macro_f1:
            result.best_epoch, result.best_val_macro_f1 = epoch, log.val_macro_f1
            best_state, stale = copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale > params.early_stopping_patience:
                logger.info("early stopping after epoch %d", epoch)
                break
    result.train_seconds = time.perf_counter() - started
    model.load_state_dict(best_state)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / LABELS_FILE).write_text(
        json.dumps({"labels": labels, "max_length": params.max_length}, indent=2)
    )
    return result


def export_onnx(hf_dir: Path, onnx_path: Path) -> Path:
    """Export a fine-tuned classifier to ONNX (fp32) with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()  # nosec B615
    model.config.return_dict = False
    dummy = torch.ones((2, 16), dtype=torch.long)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy, torch.ones_like(dummy)),
        str(onnx_path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"},
            "logits": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    return onnx_path


def quantize_int8(onnx_path: Path, int8_path: Path, include_embeddings: bool = True) -> Path:
    """ONNX Runtime dynamic int8 quantisation (weights int8, activations quantised on the fly)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    op_types = ["MatMul", "Gemm"] + (["Gather"] if include_embeddings else [])
    quantize_dynamic(
        str(onnx_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=op_types,
    )
    return int8_path


def write_serving_dir(hf_dir: Path, onnx_model: Path, serving_dir: Path) -> Path:
    """Gather what serving needs (ONNX model, tokenizer, labels) into one folder."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    (serving_dir / "model.onnx").write_bytes(onnx_model.read_bytes())
    for name in ("tokenizer.json", LABELS_FILE):
        (serving_dir / name).write_bytes((hf_dir / name).read_bytes())
    return serving_dir
