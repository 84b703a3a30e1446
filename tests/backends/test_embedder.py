"""The CPU encoder: ONNX Runtime on the model exported from the packaged one gives the vectors
PyTorch gives, and is what a CPU process loads by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from backends import embedder as embedders
from backends import onnx_embedder
from backends.embedder import SentenceTransformerEmbedder, embedding_backend, embedding_model_path

TEXTS = [
    "Inspect every anchor bolt annually for corrosion.",
    "The aggregate liability of the supplier shall not exceed the fees paid in the twelve months.",
    "Net sales 5,990",
    "ü " * 300,  # longer than the window: truncated the same way
    "",
]


@pytest.fixture
def model_path(settings: Any, tmp_path: Path) -> Path:
    settings.EMBEDDING_ONNX_DIR = tmp_path / "models"
    return embedding_model_path()


def test_onnx_vectors_match_the_pytorch_models_within_1e_5(model_path: Path) -> None:
    onnx = onnx_embedder.OnnxEmbedder(model_path, batch_size=2, max_tokens=256)
    torch = SentenceTransformerEmbedder(model_path, device="cpu", batch_size=2)

    exported, reference = np.asarray(onnx.encode(TEXTS)), np.asarray(torch.encode(TEXTS))

    assert exported.shape == reference.shape == (len(TEXTS), 384)
    assert float(np.abs(exported - reference).max()) < 1e-5
    assert onnx.dimension == torch.dimension and onnx.max_tokens == torch.max_tokens


def test_the_export_is_made_once_in_its_directory_and_reused(model_path: Path, tmp_path: Path) -> None:
    first = onnx_embedder.export(model_path)
    modified = first.stat().st_mtime_ns

    assert first.parent == tmp_path / "models" and first.suffix == ".onnx"
    assert onnx_embedder.export(model_path) == first and first.stat().st_mtime_ns == modified


def test_a_thread_count_change_keeps_the_vectors(model_path: Path) -> None:
    onnx = onnx_embedder.OnnxEmbedder(model_path, batch_size=8, max_tokens=256)
    onnx.set_threads(1)
    one = onnx.encode(TEXTS[:3])
    onnx.set_threads(2)

    assert np.allclose(one, onnx.encode(TEXTS[:3]), atol=1e-6)


def test_a_cpu_process_uses_onnx_and_a_gpu_or_an_explicit_choice_pytorch(model_path: Path, settings: Any) -> None:
    assert embedding_backend(model_path) == "onnx"
    settings.EMBEDDING_DEVICE = "cuda"
    assert embedding_backend(model_path) == "torch"
    settings.EMBEDDING_DEVICE, settings.EMBEDDING_BACKEND = "cpu", "torch"
    assert embedding_backend(model_path) == "torch"


def test_a_model_with_other_pooling_is_not_run_on_onnx(tmp_path: Path, model_path: Path) -> None:
    copy = tmp_path / "cls-model"
    copy.mkdir()
    for name in ("modules.json", "tokenizer.json"):
        (copy / name).write_bytes((model_path / name).read_bytes())
    (copy / "1_Pooling").mkdir()
    (copy / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')

    assert onnx_embedder.supports(model_path) and not onnx_embedder.supports(copy)


def test_export_embedder_writes_the_model_for_a_build(model_path: Path, tmp_path: Path, capsys: Any) -> None:
    call_command("export_embedder")

    assert Path(capsys.readouterr().out.strip()).is_file()
    assert list((tmp_path / "models").glob("*.onnx"))


def test_the_process_embedder_is_the_onnx_one_on_a_cpu(model_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(embedders, "_embedder", None)

    assert isinstance(embedders.get_embedder(), onnx_embedder.OnnxEmbedder)
