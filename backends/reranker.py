"""An optional cross-encoder that reorders fused search candidates.

Used only when `RERANKER_MODEL` names a local model directory; loaded on first use, like the
embedder, so a web process without one never imports torch for it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence

from django.conf import settings


class CrossEncoderReranker:
    def __init__(self, path: str, device: str) -> None:
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(path, device=device, local_files_only=True)
        self._lock = threading.Lock()

    def scores(self, query: str, texts: Sequence[str]) -> list[float]:
        """Relevance of each text to the query; higher is more relevant."""
        if not texts:
            return []
        with self._lock:
            predicted = self.model.predict([(query, text) for text in texts], show_progress_bar=False)
        return [float(score) for score in predicted]


@functools.cache
def get_reranker() -> CrossEncoderReranker | None:
    if not settings.RERANKER_MODEL:
        return None
    return CrossEncoderReranker(settings.RERANKER_MODEL, settings.EMBEDDING_DEVICE)
