"""The CPU encoder: the packaged sentence-transformers model exported once to ONNX and run with
ONNX Runtime (mean pooling and normalisation as the model's own modules do them). Same vectors as
the PyTorch model (a test holds them within 1e-5), faster on a CPU, and no torch in the process.

The export happens offline from the local model files, the first time a process needs it (or at
build time: `manage.py export_embedder`), into `EMBEDDING_ONNX_DIR` (default `VAR_DIR/models/`),
named by the digest of the weights, written atomically under a file lock so that worker processes
starting together export it once."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

logger = logging.getLogger(__name__)
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def supports(path: Path) -> bool:
    """A BERT-style sentence-transformers model with mean pooling then normalisation: what this
    encoder reproduces exactly (anything else runs on PyTorch)."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        pooling.get(mode) for mode in ("pooling_mode_cls_token", "pooling_mode_max_tokens")
    )
    return modules == ["Transformer", "Pooling", "Normalize"] and bool(mean_only) and (path / "tokenizer.json").exists()


def exported_path(path: Path) -> Path:
    weights = next(path / name for name in ("model.safetensors", "pytorch_model.bin") if (path / name).exists())
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:16]
    name = path.parent.name if path.name == "model" else path.name
    return Path(settings.EMBEDDING_ONNX_DIR) / f"{name}-{digest}.onnx"


def export(path: Path) -> Path:
    """The model at `path` as ONNX (exported now unless already there); offline, from local files."""
    target = exported_path(path)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            _export(path, target)
    return target


def _export(path: Path, target: Path) -> None:
    # torch and transformers only to export, once per model: the encoder itself never loads them.
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example", "another, longer example sentence"], padding=True, return_tensors="pt")
    partial = target.with_suffix(f".{os.getpid()}.partial")
    torch.onnx.export(
        LastHiddenState(model),
        tuple(sample[name] for name in INPUTS),
        str(partial),
        input_names=list(INPUTS),
        output_names=["last_hidden_state"],
        dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")},
        opset_version=17,
        dynamo=False,
    )
    partial.replace(target)
    logger.info("exported the embedding model %s to %s", path, target)


class OnnxEmbedder:
    """Batched, normalised embeddings with ONNX Runtime; one session per thread count, so that
    `set_threads` (the fair share of cores among running stages) costs nothing after the first."""

    def __init__(self, path: Path, batch_size: int, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.path = path
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.name = path.name if path.name != "model" else path.parent.name
        self.model_file = export(path)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        pad = self.tokenizer.padding or {}  # the file's own pad token, before padding to the longest
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]")))
        self.threads = settings.EMBEDDING_THREADS or (os.cpu_count() or 1)
        self._sessions: dict[int, Any] = {}
        self.dimension = len(self.encode(["dimension"])[0])

    def set_threads(self, count: int) -> None:
        if count >= 1:
            self.threads = count

    def _session(self) -> Any:
        session = self._sessions.get(self.threads)
        if session is None:
            import onnxruntime  # the runtime loads only in processes that embed

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])
            self._sessions[self.threads] = session
        return session

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths pad little
        out: list[np.ndarray] = []
        for start in range(0, len(order), self.batch_size):
            batch = [texts[i] for i in order[start : start + self.batch_size]]
            encodings = self.tokenizer.encode_batch(batch)
            feed = {
                "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
            }
            hidden = self._session().run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out.append(pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None))
        vectors = np.vstack(out)
        result: list[list[float]] = [[] for _ in texts]
        for position, index in enumerate(order):
            result[index] = vectors[position].tolist()
        return result
