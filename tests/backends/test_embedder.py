"""The CPU encoder: ONNX Runtime on the model exported from the packaged one gives the vectors
PyTorch gives; a CPU process encodes with whichever of the two, at whichever batch size, it
measured faster on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command

from backends import embedder as embedders
from backends import encoder_choice, onnx_embedder
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


def test_a_cpu_process_measures_the_backends_once_and_keeps_the_faster(model_path: Path, tmp_path: Path) -> None:
    backend, batch_size = embedding_backend(model_path)
    record = json.loads((tmp_path / "models" / encoder_choice.RECORD).read_text())

    (measured,) = record.values()
    rates = measured["passages_per_second"]
    assert set(rates) == {f"{b}/{n}" for b in ("onnx", "torch") for n in encoder_choice.BATCH_SIZES}
    assert rates[f"{backend}/{batch_size}"] == max(rates.values())
    # Recorded: the next process reads the choice instead of measuring again.
    (tmp_path / "models" / encoder_choice.RECORD).write_text(
        json.dumps({key: {**value, "backend": "torch", "batch_size": 4} for key, value in record.items()})
    )
    assert embedding_backend(model_path) == ("torch", 4)


def test_a_gpu_or_an_explicit_choice_is_not_measured(model_path: Path, settings: Any, tmp_path: Path) -> None:
    settings.EMBEDDING_DEVICE = "cuda"
    assert embedding_backend(model_path) == ("torch", 64)
    settings.EMBEDDING_DEVICE, settings.EMBEDDING_BACKEND, settings.EMBEDDING_BATCH_SIZE = "cpu", "torch", 8
    assert embedding_backend(model_path) == ("torch", 8)
    assert not (tmp_path / "models" / encoder_choice.RECORD).exists()


def test_the_fastest_backend_and_batch_size_win() -> None:
    assert encoder_choice.fastest({"onnx/4": 40.0, "onnx/32": 30.0, "torch/4": 52.5, "torch/32": 41.0}) == (
        encoder_choice.Choice("torch", 4)
    )


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


def test_the_process_embedder_is_the_one_measured_faster(model_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(embedders, "_embedder", None)
    backend, batch_size = embedding_backend(model_path)

    loaded = embedders.get_embedder()

    expected = onnx_embedder.OnnxEmbedder if backend == "onnx" else SentenceTransformerEmbedder
    assert isinstance(loaded, expected) and loaded.batch_size == batch_size
