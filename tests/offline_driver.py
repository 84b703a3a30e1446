"""Run inside `unshare -n` (no network but loopback) by tests/test_offline.py.

Starts the app exactly as `make run` does (scripts/run.sh) with the network guard on, drives the
whole path through the API (token, upload, poll, search, ask, summarize, both exports, a corrupt
upload), then presses Ctrl-C and checks that everything stopped. Prints one JSON line; exits 0
only when every check held."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.documents import make_pdf  # noqa: E402

PLANTED = "The torque value for anchor bolt TC-4410-B is 42 newton metres."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def check(condition: bool, what: str, failures: list[str]) -> None:
    if not condition:
        failures.append(what)


def main() -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = Path(tempfile.mkdtemp(prefix="docanalyst-offline-"))
    ports = {"web": free_port(), "redis": free_port(), "chroma": free_port()}
    env = {
        **os.environ,
        "VAR_DIR": str(work / "var"),
        "PORT": str(ports["web"]),
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "CHROMA_HOST": "127.0.0.1",
        "CHROMA_PORT": str(ports["chroma"]),
        "NETWORK_GUARD": "1",
        "LLM_BASE_URL": "",
        "DJANGO_SUPERUSER_USERNAME": "offline-admin",
        "DJANGO_SUPERUSER_PASSWORD": "offline-admin-password-1",
        "WORKER_CONCURRENCY": "1",
        "WEB_WORKERS": "1",
    }
    for key in (
        "DJANGO_SETTINGS_MODULE",
        "DOCANALYST_TEST_RUN_DIR",
        "DATABASE_URL",
        "SECRET_KEY",
        "TEST_SQLITE_PATH",
        "CHROMA_COLLECTION_PREFIX",
        "MEDIA_ROOT",
        "CHROMA_PATH",
    ):
        env.pop(key, None)
    log_path = work / "run.log"
    failures: list[str] = []
    with log_path.open("wb") as log:
        app = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            base = f"http://127.0.0.1:{ports['web']}"
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.5)
            else:
                raise RuntimeError("the app did not come up")

            # The README's command lines, as a new shell runs them: none of the variables run.sh
            # exported (no SECRET_KEY or SECRET_KEY_FILE: manage.py finds the key run.sh generated),
            # only where this run's state and services are (not the defaults here: a test must not
            # collide with services on the machine).
            shell_env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": os.environ.get("HOME", str(work)),
                "VAR_DIR": env["VAR_DIR"],
                "REDIS_URL": env["REDIS_URL"],
                "CHROMA_HOST": env["CHROMA_HOST"],
                "CHROMA_PORT": env["CHROMA_PORT"],
            }

            def readme_line(*args: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [str(ROOT / ".venv/bin/python"), "manage.py", *args],
                    cwd=ROOT,
                    env=shell_env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )

            created_token = readme_line("create_api_token", "offline-admin")
            check(created_token.returncode == 0, f"create_api_token: {created_token.stderr[-500:]}", failures)
            token = created_token.stdout.strip()
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"

            pdf = make_pdf(
                work / "planted.pdf",
                [["Overview", "General maintenance notes for the bridge."], ["Fasteners", PLANTED]],
            )
            corrupt = work / "corrupt.pdf"
            corrupt.write_bytes(b"%PDF-1.7 this is not really a PDF")
            with pdf.open("rb") as good, corrupt.open("rb") as bad:
                created = api.post(f"{base}/api/v1/documents", files=[("file", good), ("file", bad)], timeout=30).json()
            ids = [d["id"] for d in created["documents"]]

            states: dict[int, dict[str, object]] = {}
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and len(states) < 2:
                for document_id in ids:
                    body = api.get(f"{base}/api/v1/documents/{document_id}", timeout=10).json()
                    if body["status"] in ("ready", "failed"):
                        states[document_id] = body
                time.sleep(1)
            check(states.get(ids[0], {}).get("status") == "ready", f"planted PDF ready: {states.get(ids[0])}", failures)
            check(
                states.get(ids[1], {}).get("status") == "failed" and bool(states[ids[1]].get("error")),
                f"corrupt PDF failed with a reason: {states.get(ids[1])}",
                failures,
            )

            results = api.get(f"{base}/api/v1/search", params={"q": "anchor bolt TC-4410-B torque"}, timeout=60).json()[
                "results"
            ]
            check(
                bool(results) and results[0]["page"] == 2 and PLANTED in results[0]["text"],
                "search: page 2 first",
                failures,
            )
            answer = api.post(
                f"{base}/api/v1/ask", json={"question": "What torque does anchor bolt TC-4410-B need?"}, timeout=60
            ).json()
            check(
                bool(answer.get("citations")) and answer["citations"][0]["page"] == 2,
                f"ask cites page 2: {answer}",
                failures,
            )
            summary = api.post(f"{base}/api/v1/summaries", json={"documents": [ids[0]]}, timeout=60).json()
            deadline = time.monotonic() + 120
            while summary.get("status") not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(1)
                summary = api.get(f"{base}/api/v1/summaries/{summary['id']}", timeout=10).json()
            check(summary.get("status") == "done", f"summary made by the worker: {summary}", failures)
            check(bool(summary.get("citations")), "summary has citations", failures)
            share = work / "share"
            share.mkdir()
            make_pdf(share / "notes.pdf", [["Site notes", "The crane was certified on 3 March."]])
            for line in (
                ("ingest", str(share), "--collection", "Engineering"),
                ("reindex", "--collection", "Engineering"),
                ("verify_audit",),
            ):
                done = readme_line(*line)
                check(
                    done.returncode == 0, f"manage.py {' '.join(line)}: {(done.stderr or done.stdout)[-500:]}", failures
                )
            markdown = api.get(base + summary["exports"]["md"], timeout=30)
            pdf_export = api.get(base + summary["exports"]["pdf"], timeout=30)
            check(markdown.status_code == 200 and "Provenance" in markdown.text, "markdown export", failures)
            check(pdf_export.status_code == 200 and pdf_export.content.startswith(b"%PDF"), "pdf export", failures)
        except Exception as exc:  # report, then still stop the app
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            os.killpg(app.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
            try:
                app.wait(60)
            except subprocess.TimeoutExpired:
                failures.append("Ctrl-C did not stop the app within 60 s")
                os.killpg(app.pid, signal.SIGKILL)
    time.sleep(1)
    still_open = [name for name, port in ports.items() if port_open(port)]
    check(not still_open, f"services still listening after Ctrl-C: {still_open}", failures)
    output = log_path.read_text(errors="replace")
    check("blocked outbound network access" not in output, "nothing tried to reach the network", failures)
    print(json.dumps({"failures": failures, "log_tail": output[-3000:] if failures else ""}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
