"""Web processes must not pay for the ML stack at import: torch, sentence-transformers,
unstructured and chromadb load only when first used (a search, a worker task)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "sentence_transformers", "unstructured", "chromadb", "transformers", "spacy")


def test_importing_every_url_and_view_loads_no_heavy_library() -> None:
    script = (
        "import django, sys; django.setup();"
        "import docanalyst.urls, search.views, search.api, ingest.views, ingest.api, ingest.tasks;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == ""
