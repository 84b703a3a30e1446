"""A small OpenAI-compatible chat server for the tests that must see what the app sends and
control what comes back (the real llama.cpp server is used where the content does not matter)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class StubServer:
    """An HTTP server on a free loopback port, serving `handler` in a thread while in a `with` block."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class RecordingLLM(StubServer):
    """Records every request body; replies with `reply` (or what `reply(request)` returns), streamed
    word by word `delay` apart (non-streamed replies wait `delay` once)."""

    def __init__(self, reply: str | Callable[[dict[str, Any]], str], delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [{"id": "stub", "object": "model"}]}).encode()
                self._send(200, "application/json", body)

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests.append(request)
                reply = outer.reply(request) if callable(outer.reply) else outer.reply
                if request.get("stream"):
                    self._stream(reply)
                else:
                    time.sleep(outer.delay)
                    message = {"role": "assistant", "content": reply}
                    body = json.dumps(
                        {
                            "id": "c1",
                            "object": "chat.completion",
                            "created": 1,
                            "model": "stub",
                            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        }
                    ).encode()
                    self._send(200, "application/json", body)

            def _send(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, reply: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = reply.split(" ")
                for i, word in enumerate(words):
                    delta = {"content": word + (" " if i < len(words) - 1 else "")}
                    self._event({"index": 0, "delta": delta, "finish_reason": None})
                    time.sleep(outer.delay)
                self._event({"index": 0, "delta": {}, "finish_reason": "stop"})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, choice: dict[str, Any]) -> None:
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "stub",
                    "choices": [choice],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

        super().__init__(Handler)
