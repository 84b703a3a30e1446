"""Settings come from the environment and fail loudly on bad values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    script = "from django.conf import settings; print(settings.DEBUG)"
    base = {
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": "/tmp/docanalyst-settings-test",
    }
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env={**base, **env}, timeout=60
    )


def test_debug_is_off_by_default() -> None:
    assert load_settings(SECRET_KEY="x").stdout.strip() == "False"


def test_a_secret_key_is_required_outside_debug() -> None:
    completed = load_settings()

    assert completed.returncode != 0
    assert "SECRET_KEY is required" in completed.stderr


def test_the_key_make_run_generated_is_used_when_no_secret_key_is_set(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("generated-by-make-run\n")
    script = "from django.conf import settings; print(settings.SECRET_KEY)"
    env = {"DJANGO_SETTINGS_MODULE": "docanalyst.settings", "PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path)}

    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "generated-by-make-run"  # a new shell's manage.py finds make run's key


def test_a_secret_key_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")

    assert load_settings(SECRET_KEY_FILE=str(secret)).returncode == 0


def test_a_malformed_boolean_is_refused() -> None:
    completed = load_settings(SECRET_KEY="x", DEBUG="maybe")

    assert completed.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in completed.stderr


def test_a_malformed_integer_is_refused() -> None:
    completed = load_settings(SECRET_KEY="x", CHROMA_PORT="eight thousand")

    assert "CHROMA_PORT='eight thousand' is not an integer" in completed.stderr


def test_an_llm_url_without_a_model_name_is_refused() -> None:
    completed = load_settings(SECRET_KEY="x", LLM_BASE_URL="http://127.0.0.1:8000/v1")

    assert "LLM_MODEL" in completed.stderr


def test_a_retrieval_setting_that_no_longer_exists_is_refused_rather_than_ignored() -> None:
    for name in ("SEARCH_LEXICAL_WEIGHT", "SEARCH_FRONT_MATTER_WEIGHT", "SEARCH_DOCUMENT_EVIDENCE", "ANSWER_MIN_SCORE"):
        completed = load_settings(SECRET_KEY="x", **{name: "0.5"})

        assert completed.returncode != 0, name
        assert f"{name} is no longer read" in completed.stderr, name


def test_a_support_threshold_outside_what_support_can_be_is_refused() -> None:
    completed = load_settings(SECRET_KEY="x", ANSWER_MIN_SUPPORT="2.5")

    assert completed.returncode != 0
    assert "ANSWER_MIN_SUPPORT must be between 0 and 2" in completed.stderr


def test_a_renamed_compliance_setting_is_refused_with_its_new_name() -> None:
    completed = load_settings(SECRET_KEY="x", WORK_STALL_SECONDS="30")

    assert completed.returncode != 0
    assert "WORK_STALL_SECONDS is no longer read: renamed COMPLIANCE_STALL_SECONDS" in completed.stderr


def test_the_onnx_encoder_on_a_gpu_is_refused() -> None:
    completed = load_settings(SECRET_KEY="x", EMBEDDING_BACKEND="onnx", EMBEDDING_DEVICE="cuda")

    assert completed.returncode != 0
    assert "EMBEDDING_BACKEND=onnx runs on the CPU" in completed.stderr
    assert load_settings(SECRET_KEY="x", EMBEDDING_BACKEND="torch", EMBEDDING_DEVICE="cuda").returncode == 0
