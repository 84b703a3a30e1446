"""The offline promise, end to end: the whole stack started by scripts/run.sh (what `make run`
runs) inside a network namespace with no network, with an audit hook that refuses and logs any
non-loopback connection, serves ingest, search, ask, summaries and exports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.offline

ROOT = Path(__file__).resolve().parent.parent


def test_the_whole_path_works_with_the_network_cut_and_nothing_tries_to_reach_out() -> None:
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is required"

    completed = subprocess.run(
        [unshare, "-n", sys.executable, str(ROOT / "tests" / "offline_driver.py")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )

    assert completed.stdout.strip(), completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["failures"] == [], report["log_tail"]
    assert completed.returncode == 0


def test_the_network_guard_refuses_outside_addresses_and_allows_loopback() -> None:
    script = (
        "import socket, os; os.environ['NETWORK_GUARD']='1';"
        "from docanalyst import offline; offline.apply_environment();"
        "s=socket.socket(); s.settimeout(0.2)\n"
        "try:\n    s.connect(('192.0.2.1', 80)); print('connected')\n"
        "except offline.OutboundConnectionBlocked: print('blocked')\n"
        "l=socket.socket(); l.bind(('127.0.0.1',0)); l.listen();"
        "c=socket.socket(); c.connect(l.getsockname()); print('loopback ok')"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)

    assert completed.stdout.split() == ["blocked", "loopback", "ok"], completed.stderr
