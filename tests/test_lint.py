"""The code passes the project's own lint, format and type checks (`make lint`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "docanalyst.settings"}
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


def test_ruff_finds_no_lint_errors() -> None:
    completed = run(str(BIN / "ruff"), "check", ".")
    assert completed.returncode == 0, completed.stdout


def test_the_code_is_formatted() -> None:
    completed = run(str(BIN / "ruff"), "format", "--check", ".")
    assert completed.returncode == 0, completed.stdout


def test_mypy_finds_no_type_errors() -> None:
    completed = run(str(BIN / "mypy"))
    assert completed.returncode == 0, completed.stdout


def test_pre_commit_runs_what_make_lint_runs() -> None:
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    entries = [hook["entry"].removeprefix("env ") for hook in hooks]
    makefile = (ROOT / "Makefile").read_text().split("lint:\n", 1)[1].split("\n\n", 1)[0]
    lint = [line.strip() for line in makefile.splitlines() if line.startswith("\t.venv") or line.startswith("\tDEBUG")]
    assert entries == lint
