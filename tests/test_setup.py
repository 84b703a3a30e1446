"""`make run` / `make test` set-up is idempotent: run again, it installs nothing and is quick."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_running_setup_a_second_time_installs_nothing_and_is_quick() -> None:
    subprocess.run(["bash", "scripts/setup.sh", "test"], cwd=ROOT, check=True, capture_output=True, timeout=1800)

    started = time.monotonic()
    again = subprocess.run(["bash", "scripts/setup.sh", "test"], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert again.returncode == 0, again.stderr
    assert "Installing" not in again.stdout + again.stderr
    assert time.monotonic() - started < 10
