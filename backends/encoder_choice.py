"""Which CPU encoder, and which batch size, is fastest on this machine — measured once, not assumed.

ONNX Runtime and PyTorch give the same vectors (within 1e-5) but not the same speed: on one 2-core
AMD EPYC ONNX Runtime encoded qa-10q's chunks 1.2x faster than PyTorch; on a 2-core Intel Xeon
(AVX-512) PyTorch was 1.5x faster, and both were fastest with small batches (4 passages, against
32: about 1.3x). So with EMBEDDING_BACKEND=auto and EMBEDDING_BATCH_SIZE=0 on a CPU, the first
process that needs the encoder times each backend at each candidate batch size on the same
passages, keeps the fastest, and records the result in `EMBEDDING_ONNX_DIR/encoder-choice.json`
under the CPU's model name, core count and the model's weights (a file lock: worker processes that
start together measure once). Later processes read the record.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

BATCH_SIZES = (4, 32)
RECORD = "encoder-choice.json"
# The passages timed: ordinary prose at about the chunker's target length.
_PASSAGE = (
    "The supplier shall deliver the equipment described in Schedule A within thirty days of the purchase "
    "order, at its own cost and risk, to the site named by the buyer. Revenue for the quarter increased "
    "by eight percent compared with the same quarter of the prior year, driven by higher unit sales and "
    "services. The maintenance interval of the pump is 2,000 operating hours; the seals are replaced at "
    "every second interval and the bearings are inspected for wear, noise and temperature."
)


@dataclass(frozen=True)
class Choice:
    backend: str  # "onnx" or "torch"
    batch_size: int


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _key(model_file_name: str) -> str:
    return f"{_cpu_name()} | {os.cpu_count()} cores | {model_file_name}"


def _seconds(encode: Callable[[Sequence[str]], Any], texts: list[str]) -> float:
    encode(texts[:4])  # warm-up: first-call allocations
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        encode(texts)
        best = min(best, time.perf_counter() - started)
    return best


def measure(make: Mapping[str, Callable[[int], Any]], batch_sizes: Sequence[int], texts: list[str]) -> dict[str, float]:
    """Passages per second of each backend (`make[name](batch_size)` builds its encoder) at each
    candidate batch size, keyed "backend/batch"."""
    rates: dict[str, float] = {}
    for name, build in make.items():
        encoder = build(batch_sizes[0])
        for batch_size in batch_sizes:
            encoder.batch_size = batch_size
            rates[f"{name}/{batch_size}"] = len(texts) / _seconds(encoder.encode, texts)
    return rates


def fastest(rates: dict[str, float]) -> Choice:
    best = max(rates, key=lambda key: rates[key])
    backend, batch = best.split("/")
    return Choice(backend, int(batch))


def choose(model_file_name: str, make: Mapping[str, Callable[[int], Any]], batch_sizes: Sequence[int]) -> Choice:
    """The recorded choice among these backends and batch sizes for this CPU and model, or a new
    measurement recorded now."""
    directory = Path(settings.EMBEDDING_ONNX_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    record = directory / RECORD
    key = f"{_key(model_file_name)} | {'/'.join(sorted(make))} | {'/'.join(map(str, batch_sizes))}"
    with (directory / ".encoder-choice.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            known = json.loads(record.read_text()) if record.exists() else {}
        except ValueError:
            known = {}
        if key in known:
            return Choice(known[key]["backend"], int(known[key]["batch_size"]))
        texts = [f"{index}. {_PASSAGE} {_PASSAGE}" for index in range(32)]
        rates = measure(make, batch_sizes, texts)
        choice = fastest(rates)
        known[key] = {
            "backend": choice.backend,
            "batch_size": choice.batch_size,
            "passages_per_second": {name: round(rate, 1) for name, rate in rates.items()},
            "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        partial = record.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(known, indent=2))
        partial.replace(record)
    logger.info("encoder measured on this CPU: %s; using %s, batches of %d", rates, choice.backend, choice.batch_size)
    return choice
