"""The LLM boundary: the `openai` backend against a real OpenAI-compatible server on the CPU
(llama.cpp serving SmolLM2-135M, tiny and often wrong, so these tests check the plumbing, not
the quality), and against a stub that fails in each way a real server can."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from backends import llm as llm_backend
from backends.llm import LLMUnavailable, Message, OpenAICompatibleLLM
from search.models import Answer
from tests.docanalyst.llm_stub import StubServer
from tests.ingest.test_tasks import ingest_planted
from tests.search.asking import answer_question
from tests.search.test_api import bearer_client, token_for

pytestmark = pytest.mark.llm

QUESTION = "What is the torque value for anchor bolt TC-4410-B?"


class FaultyServer(StubServer):
    """An OpenAI-compatible endpoint that misbehaves on purpose: `slow`, `error` or `garbage`."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                outer.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.mode == "slow":
                    time.sleep(3)
                    self.send_response(200)
                    self.end_headers()
                elif outer.mode == "error":
                    body = json.dumps({"error": {"message": "CUDA out of memory"}}).encode()
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:  # garbage: a stream that breaks off mid-way
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(
                        b'data: {"id":"1","object":"chat.completion.chunk","created":1,"model":"m",'
                        b'"choices":[{"index":0,"delta":{"content":"The torque"},"finish_reason":null}]}\n\n'
                    )
                    self.wfile.write(b"data: {this is not json\n\n")
                    self.wfile.flush()

        super().__init__(Handler)


@pytest.fixture
def use_llm(settings: Any) -> Iterator[Any]:
    """Point the app at an LLM for one test (the factory caches the client)."""

    def configure(base_url: str, model: str = "smollm2", timeout: float = 60.0, retries: int = 0) -> None:
        settings.LLM_BASE_URL = base_url
        settings.LLM_MODEL = model
        settings.LLM_TIMEOUT_SECONDS = timeout
        settings.LLM_MAX_RETRIES = retries
        settings.LLM_CONTEXT_TOKENS = 2048
        settings.LLM_MAX_ANSWER_TOKENS = 128
        llm_backend.get_llm.cache_clear()

    yield configure
    llm_backend.get_llm.cache_clear()


def test_the_openai_backend_completes_against_a_real_server(llama_server: str) -> None:
    client = OpenAICompatibleLLM(llama_server, "smollm2", "none", timeout=60, max_retries=0)

    reply = client.complete([Message("user", "Say hello in one word.")], max_tokens=16)

    assert isinstance(reply, str) and reply.strip()


def test_the_openai_backend_streams_token_by_token_from_a_real_server(llama_server: str) -> None:
    client = OpenAICompatibleLLM(llama_server, "smollm2", "none", timeout=60, max_retries=0)

    deltas = list(client.stream([Message("user", "Count from one to five in words.")], max_tokens=32))

    assert len(deltas) > 3
    assert "".join(deltas).strip()


@pytest.mark.parametrize(
    ("mode", "message"),
    [("slow", "did not answer in time"), ("error", "answered with HTTP 500"), ("garbage", "could not be read")],
)
def test_a_failing_server_gives_one_clear_message(mode: str, message: str) -> None:
    with FaultyServer(mode) as server:
        client = OpenAICompatibleLLM(server.base_url, "m", "none", timeout=1, max_retries=1)
        with pytest.raises(LLMUnavailable, match=message):
            if mode == "garbage":
                list(client.stream([Message("user", "hi")], max_tokens=8))
            else:
                client.complete([Message("user", "hi")], max_tokens=8)
        if mode != "garbage":
            assert server.requests == 2  # one bounded retry, then give up


@pytest.mark.worker
def test_answers_from_the_openai_backend_record_and_cite_only_the_passages_sent(
    ingest_stack: Any, llama_server: str, use_llm: Any, tmp_path: Path
) -> None:
    user, _, document = ingest_planted(tmp_path)
    use_llm(llama_server)

    record = answer_question(user=user, question=QUESTION)

    assert record.backend == "openai" and record.model_name == "smollm2"
    assert record.status == Answer.Status.DONE
    planted_chunk = document.chunks.get(page_number=2)
    assert planted_chunk.vector_id in record.chunks_sent  # retrieval put the right passage in the prompt
    assert set(record.chunks_sent) <= set(record.chunks_retrieved)
    if record.supported:  # a 135M model may or may not answer; when it does, citations are real
        assert record.citations
        sent_chunk_ids = set(
            document.chunks.filter(ordinal__in=[int(v.split(":")[1]) for v in record.chunks_sent]).values_list(
                "pk", flat=True
            )
        )
        assert {c["chunk_id"] for c in record.citations} <= sent_chunk_ids

    client = bearer_client(token_for(user.username))
    response = client.post("/api/v1/ask", {"question": QUESTION, "stream": True}, format="json")
    assert response["Content-Type"] == "text/event-stream"
    events = [
        json.loads(line[6:])
        for line in b"".join(response.streaming_content).decode().splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events].count("done") == 1
    assert events[-1]["type"] == "done"
    deltas = [e for e in events if e["type"] == "delta"]
    assert len(deltas) > 1  # it really streamed
    assert events[-1]["answer"] == "".join(d["text"] for d in deltas).strip() or not events[-1]["supported"]


@pytest.mark.worker
def test_an_llm_outage_gives_a_clear_message_and_search_still_answers(
    ingest_stack: Any, use_llm: Any, tmp_path: Path
) -> None:
    user, _, document = ingest_planted(tmp_path)
    client = bearer_client(token_for(user.username))

    with FaultyServer("error") as server:
        use_llm(server.base_url)
        ask = client.post("/api/v1/ask", {"question": QUESTION}, format="json")
        search = client.get("/api/v1/search", {"q": "anchor bolt torque"})
        summary = client.post("/api/v1/summaries", {"documents": [document.pk]}, format="json")

    assert ask.status_code == 503
    assert "language model is unavailable" in ask.json()["detail"]
    assert "Search still works" in ask.json()["detail"]
    assert summary.status_code == 202  # queued for the worker, which retries the model, then fails it visibly
    assert search.status_code == 200
    assert search.json()["results"][0]["page"] == 2


def test_an_unconfigured_llm_means_the_extractive_backend(settings: Any) -> None:
    settings.LLM_BASE_URL = ""
    llm_backend.get_llm.cache_clear()

    assert llm_backend.get_llm() is None


def test_the_llama_cpp_build_runs_on_any_x86_64_v3_cpu_with_no_avx512_or_amx_instruction() -> None:
    """Built without -march=native (scripts/setup.sh): a native build on a CPU that advertises AMX
    died with a general protection fault on its first completion."""
    import platform
    import shutil
    import subprocess

    import llama_cpp

    if platform.machine() != "x86_64":
        pytest.skip("an x86-64 build property")
    objdump = shutil.which("objdump")
    assert objdump, "objdump (binutils) is needed to read the build"
    libraries = sorted(Path(llama_cpp.__file__).parent.rglob("libggml-cpu*.so*"))
    assert libraries, "llama-cpp-python ships no libggml-cpu"
    for library in libraries:
        listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
        code = listing.stdout
        assert "%zmm" not in code, f"{library.name} uses AVX-512 registers"
        assert "tdpb" not in code and "ldtilecfg" not in code, f"{library.name} uses AMX tiles"
        assert "%ymm" in code  # AVX2 kept: x86-64-v3


def test_a_model_server_that_dies_is_reported_as_that_with_its_log(tmp_path: Path) -> None:
    import signal

    from tests.conftest import _died
    from tests.stack import ServiceProcess, wait_until

    crashing = ServiceProcess(
        "crashing-model-server",
        ["python3", "-c", "import os, signal; print('loading model'); os.kill(os.getpid(), signal.SIGSEGV)"],
    ).start()
    assert crashing.process is not None
    wait_until(lambda: crashing.process.poll() is not None, 20, "the crash")  # type: ignore[union-attr]

    reason = _died(crashing)

    assert f"killed by signal {int(signal.SIGSEGV)}" in reason and "loading model" in reason
