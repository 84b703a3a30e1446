"""The services the tests and the benchmarks start, defined once for both (`tests/conftest.py`,
`bench/ingest.py`): Redis, the Chroma server and Celery workers as child processes in their own
session, each with its output in a log file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
INGEST_QUEUES = "parse,embed,default"
ALL_QUEUES = "parse,embed,compliance,default"


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `check` (an exception counts as not yet) until it is true; TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} was not reached within {timeout} s")


class ServiceProcess:
    """A child process with its output in `<log_dir>/<name>.log` (the tests' run directory unless
    given), stopped with its whole process group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None, log_dir: Path | None = None):
        self.name = name
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.log_path = (log_dir or Path(os.environ["DOCANALYST_TEST_RUN_DIR"])) / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT, start_new_session=True
        )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def redis_command(port: int, directory: Path) -> list[str]:
    """A Redis that keeps nothing on disk, on loopback."""
    redis_bin = shutil.which("redis-server")
    assert redis_bin, "redis-server is not installed (make test installs it)"
    return [
        redis_bin,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]


def chroma_command(path: Path, port: int) -> list[str]:
    """Chroma's own server over `path`, on loopback."""
    return [str(VENV_BIN / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)]


def chroma_answers(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
        return bool(response.status == 200)


def worker_command(queues: str, concurrency: int, name: str = "worker") -> list[str]:
    """A Celery worker of this project (prefetch 1, acks late: the settings) on `queues`."""
    return [
        str(VENV_BIN / "celery"),
        "-A",
        "docanalyst",
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
        "-n",
        f"{name}@%h",
    ]
