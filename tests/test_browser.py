"""A person's path through the app in headless Chromium (Debian's `chromium`, driven by
Playwright): sign in, upload, watch the document become ready without reloading, ask, and
follow a citation to the cited page."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import UserFactory
from tests.ingest.test_tasks import PLANTED, planted_pdf

pytestmark = [pytest.mark.browser, pytest.mark.worker]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def page(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # the first question loads the embedding model
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # ordinary blocking calls all the same.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(base_url=live_server.url)
        context.set_default_timeout(30_000)
        page = context.new_page()
        yield page
        browser.close()


def test_sign_in_upload_watch_it_become_ready_ask_and_open_the_cited_page(
    ingest_stack: Any, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    UserFactory(username="engineer")
    pdf_path = planted_pdf(tmp_path)

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("input[name=username]", "engineer")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Search your documents")

    page.click("text=Documents")
    page.set_input_files("[data-testid=upload-input]", str(pdf_path))
    page.click("form.upload button[type=submit]")
    expect(page.locator(".messages")).to_contain_text("1 file(s) queued")

    page.click("table.documents a:has-text('bridge-manual')")
    status = page.locator("[data-testid=document-status]")
    expect(status).to_have_text("Ready", timeout=120_000)  # updated by polling, no manual reload
    expect(page.locator("text=Summarize")).to_be_visible()

    page.click("nav >> text=Ask")
    page.fill("textarea[name=question]", "What is the torque value for anchor bolt TC-4410-B?")
    page.click("form.ask button[type=submit]")
    answer = page.locator("[data-testid=answer]")
    expect(answer).to_contain_text("42 newton metres")
    expect(answer.locator("a.citation").first).to_contain_text("page 2")

    answer.locator("a.cite").first.click()
    expect(page).to_have_url(re.compile(r"/documents/\d+/page/2/"))
    cited = page.locator(".chunk.cited mark")
    expect(cited).to_contain_text(PLANTED)
    expect(page.locator("[data-testid=page-text]")).to_have_attribute("data-page", "2")
