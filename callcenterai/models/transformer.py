"""The transformer's serving model: ONNX Runtime and ``tokenizers``, no PyTorch.

The fine-tuned encoder (:mod:`callcenterai.models.finetune`, which needs PyTorch) is exported to
ONNX and served from a folder holding ``model.onnx``, ``tokenizer.json`` and the labels. Input
text goes through the same normaliser as the TF-IDF model. Serving images install this module's
needs only.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from callcenterai.models.base import Classifier
from callcenterai.text import normalise_texts

LABELS_FILE = "labels.json"


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random | None, group: int = 50
) -> list[list[int]]:
    """Batches of similar lengths (little padding); shuffled when ``rng`` is given."""
    order = list(range(len(lengths)))
    if rng is not None:
        rng.shuffle(order)
    chunk = batch_size * group
    batches = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [block[i : i + batch_size] for i in range(0, len(block), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


class TransformerClassifier(Classifier):
    """The serving model: ONNX Runtime + ``tokenizers``, no PyTorch."""

    kind = "transformer"

    def __init__(
        self,
        serving_dir: Path,
        name: str = "transformer",
        version: str = "local",
        threads: int | None = None,
        batch_size: int = 32,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((Path(serving_dir) / LABELS_FILE).read_text())
        self.labels: list[str] = meta["labels"]
        self.max_length: int = meta["max_length"]
        self.tokenizer = Tokenizer.from_file(str(Path(serving_dir) / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()
        self.pad_id = self.tokenizer.token_to_id("<pad>") or 0
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(Path(serving_dir) / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.name, self.version, self.batch_size = name, version, batch_size
        self.serving_dir = Path(serving_dir)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        encoded = [e.ids for e in self.tokenizer.encode_batch(normalise_texts(texts))]
        out = np.zeros((len(encoded), len(self.labels)), dtype=np.float32)
        for batch in length_grouped_batches([len(x) for x in encoded], self.batch_size, None):
            width = max(len(encoded[i]) for i in batch)
            ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1
            (logits,) = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            out[batch] = softmax(logits)
        return out
