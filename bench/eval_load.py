"""The load half of `bench/eval_retrieval.py --scale N --load-searchers S`: the app served as
`make run` serves it (gunicorn, 2 processes x 4 threads, loopback only) over the synthetic
collection, and S concurrent searchers calling `GET /api/v1/search` with an API token for a bounded
time; throughput, latency percentiles and errors."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from eval_sets import latency

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ingest.models import Collection

WEB_WORKERS, WEB_THREADS = 2, 4  # as scripts/run.sh (make run)
WARM_UP_REQUESTS = 8


def load_phase(
    collection: Collection,
    queries: list[str],
    user: User,
    scratch: Path,
    searchers: int,
    seconds: float,
    report: dict[str, Any],
) -> None:
    import httpx
    from knox.models import AuthToken

    from tests.stack import ServiceProcess, wait_until

    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    _, token = AuthToken.objects.create(user=user)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    web = ServiceProcess(
        "web",
        [
            gunicorn,
            "docanalyst.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WEB_WORKERS),
            "--threads",
            str(WEB_THREADS),
            "--timeout",
            "300",
        ],
        env={**os.environ, "ALLOWED_HOSTS": "127.0.0.1"},
        log_dir=scratch,
    ).start()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code in (200, 503), 120, "the web server")

        def search(client: httpx.Client, i: int) -> int:
            params = {"q": queries[i % len(queries)], "collection": collection.pk, "k": 10}
            return client.get(f"{base}/api/v1/search", params=params, headers=headers, timeout=60).status_code

        with httpx.Client() as client:  # every process loads its embedder before the clock starts
            for i in range(WARM_UP_REQUESTS):
                search(client, i)
        samples: list[float] = []
        statuses: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def searcher(n: int) -> None:
            with httpx.Client() as client:
                i = n
                while time.monotonic() < deadline:
                    started = time.perf_counter()
                    try:
                        outcome = str(search(client, i))
                    except httpx.HTTPError as exc:
                        outcome = type(exc).__name__
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        statuses[outcome] += 1
                        if outcome == "200":
                            samples.append(elapsed)
                    i += searchers

        started = time.monotonic()
        threads = [threading.Thread(target=searcher, args=(n,)) for n in range(searchers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
    finally:
        web.stop()
    errors = sum(count for status, count in statuses.items() if status != "200")
    figures = {
        "searchers": searchers,
        "seconds": round(wall, 1),
        "requests": sum(statuses.values()),
        "throughput_per_s": round(len(samples) / wall, 2),
        **latency(samples),
        "p99_ms": float(np.percentile(samples, 99)) if samples else 0.0,
        "errors": errors,
        "statuses": dict(statuses),
    }
    report["load"] = figures
    print(
        f"load {searchers} searchers x {figures['seconds']} s on GET /api/v1/search (gunicorn {WEB_WORKERS}x"
        f"{WEB_THREADS}, loopback): {figures['requests']} requests, {figures['throughput_per_s']} searches/s, "
        f"p50_ms={figures['p50_ms']:.1f} p95_ms={figures['p95_ms']:.1f} p99_ms={figures['p99_ms']:.1f}, "
        f"errors={errors} {dict(statuses)}",
        flush=True,
    )
