"""deploy/ and .env.example stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_read_from_the_environment_is_documented_in_env_example() -> None:
    read = set(
        re.findall(r'env_(?:str|bool|int|float|list)\("([A-Z_]+)"', (ROOT / "docanalyst/settings.py").read_text())
    )
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))

    assert read - documented == set()


def test_the_compose_file_runs_every_part_of_the_product() -> None:
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    services = compose["services"]

    assert {"web", "worker-parse", "worker-embed", "beat", "redis", "postgres", "chroma", "vllm"} <= set(services)
    queues = " ".join(" ".join(services[name]["command"]) for name in ("worker-parse", "worker-embed"))
    assert "parse" in queues and "embed,default" in queues
    for name in ("web", "worker-parse", "worker-embed", "beat"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["CHROMA_HOST"] == "chroma"
        assert environment["LLM_BASE_URL"] == "http://vllm:8000/v1"
    assert "HF_HUB_OFFLINE" in services["vllm"]["environment"]
