"""`manage.py export_embedder`: export the embedding model to ONNX now (a container build runs it,
so that no worker exports at start-up); workers otherwise export it on first use."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from backends import onnx_embedder
from backends.embedder import embedding_model_path, onnx_allowed


class Command(BaseCommand):
    help = "Export the embedding model to ONNX under VAR_DIR/models (offline, from the local model files)."

    def handle(self, *args: Any, **options: Any) -> None:
        path = embedding_model_path()
        if not onnx_allowed(path):
            raise CommandError(f"The embedder runs on PyTorch here (EMBEDDING_BACKEND / EMBEDDING_DEVICE): {path}.")
        self.stdout.write(str(onnx_embedder.export(path)))
