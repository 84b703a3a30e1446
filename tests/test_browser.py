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

    UserFactory(username="engineer", roles=["admin"])
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
    expect(page.locator("button:has-text('Summarize')")).to_be_visible()

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
    image = page.locator("[data-testid=page-image]")  # the PDF page itself, rendered, passage painted on
    expect(image).to_be_visible()
    # it loaded (a function, not a string: the page's CSP forbids evaluating strings)
    page.wait_for_function("() => document.querySelector('[data-testid=page-image]').naturalWidth > 0")


def test_a_summary_asked_for_on_a_document_page_is_made_by_the_worker_and_shown_with_its_citations(
    ingest_stack: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from tests.compliance.contracts import long_specification
    from tests.factories import CollectionFactory
    from tests.search.corpus import indexed_document

    officer = UserFactory(username="cora", roles=["employee", "compliance"])
    pages, sections = long_specification(sections=6, pages_per_section=5)
    document = indexed_document(CollectionFactory(readers=[officer]), "specs/plant-spec.pdf", pages, sections=sections)

    page.goto("/accounts/login/")
    page.fill("input[name=username]", "cora")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.goto(f"/documents/{document.pk}/")
    page.select_option("select[name=kind]", "engineering")
    page.click("button:has-text('Summarize')")

    expect(page).to_have_url(re.compile(r"/summaries/\d+/$"))
    body = page.locator("[data-testid=summary]")
    expect(body).to_have_attribute("data-status", "done", timeout=120_000)  # polled, no reload
    expect(page.locator("[data-testid=summary-text]").first).to_contain_text("±")
    expect(page.locator("h3", has_text="Section 6: Decommissioning")).to_be_visible()
    page.locator("a.cite").first.click()
    expect(page).to_have_url(re.compile(rf"/documents/{document.pk}/page/\d+/"))
    page.go_back()
    expect(page.locator("[data-testid=exports] a", has_text="Word")).to_be_visible()


# Records the length of a streaming answer's text every time it changes, from the first byte.
RECORD_STREAM = """
window.__lengths = [];
new MutationObserver(() => {
  const el = document.querySelector('.answer-text.streaming');
  if (el) window.__lengths.push(el.textContent.length);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def test_an_answer_streams_into_the_page_chunk_by_chunk_and_a_follow_up_keeps_the_conversation(
    transactional_db: Any, vector_store: Any, page: Any, settings: Any
) -> None:
    from playwright.sync_api import expect

    from backends import llm as llm_backend
    from tests.docanalyst.llm_stub import RecordingLLM
    from tests.factories import CollectionFactory
    from tests.search.corpus import indexed_document

    user = UserFactory(username="streamer")
    indexed_document(
        CollectionFactory(readers=[user]), "bolts.pdf", ["Anchor bolt TC-4410-B is torqued to 42 newton metres."]
    )
    reply = "The anchor bolt TC-4410-B is torqued to 42 newton metres according to the bolt schedule [1]."
    with RecordingLLM(reply, delay=0.15) as server:
        settings.LLM_BASE_URL, settings.LLM_MODEL, settings.LLM_MAX_RETRIES = server.base_url, "stub", 0
        llm_backend.get_llm.cache_clear()
        try:
            page.context.add_init_script(RECORD_STREAM)
            page.goto("/accounts/login/")
            page.fill("input[name=username]", user.username)
            page.fill("input[name=password]", "correct-horse-battery")
            page.click("button[type=submit]")
            page.goto("/ask/")
            page.fill("textarea[name=question]", "What torque does anchor bolt TC-4410-B need?")
            page.click("form.ask button[type=submit]")

            answer = page.locator("[data-testid=answer][data-status=done]")
            expect(answer).to_contain_text("42 newton metres according to the bolt schedule", timeout=60_000)
            lengths = page.evaluate("window.__lengths")
            growing = sorted(set(n for n in lengths if n > 0))
            assert len(growing) >= 5, lengths  # text arrived in pieces while it was generated
            expect(answer.locator("a.cite")).to_have_count(1)
            expect(page).to_have_url(re.compile(r"/conversations/\d+/"))

            page.fill("textarea[name=question]", "What is it made of?")
            page.click("form.ask button[type=submit]")
            expect(page.locator("[data-testid=answer][data-status=done]")).to_have_count(2, timeout=60_000)
            follow_up = server.requests[-1]["messages"]
            assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "user"]
        finally:
            llm_backend.get_llm.cache_clear()


XSS_PAYLOADS = (
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    '"><svg onload=window.__xss=3>',
)
# One sentence (no sentence break inside), so that the extractive answer quotes all of it.
XSS_SENTENCE = f"The calibration gauge on test rig seven reads forty two units {' '.join(XSS_PAYLOADS)} in the log."
XSS_TITLE = "<b>bold</b> rig seven report"
# Elements the payloads would have created had they been parsed as markup (legitimate pages have none).
INJECTED = "main script:not([src]), main img[src='x'], main svg, main b"


def test_an_xss_payload_inside_a_document_is_shown_as_text_and_never_runs(
    transactional_db: Any, vector_store: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    from ingest.models import Document
    from tests.factories import CollectionFactory
    from tests.search.corpus import indexed_document

    user = UserFactory(username="xss-reader")
    document = indexed_document(
        CollectionFactory(readers=[user]), "rigs/rig-seven.pdf", [XSS_SENTENCE, "Rig seven was repainted in May."]
    )
    Document.objects.filter(pk=document.pk).update(
        title=XSS_TITLE, original_name=f"{XSS_TITLE}.pdf", path=f"rigs/{XSS_TITLE}.pdf"
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto("/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Search your documents")

    def assert_inert(where: str, shows_title: bool = True) -> None:
        assert page.evaluate("typeof window.__xss") == "undefined", where
        assert page.locator(INJECTED).count() == 0, where
        text = page.locator("main").inner_text()
        for payload in XSS_PAYLOADS:
            assert payload in text, f"{where}: {payload!r} is not shown as text"
        if shows_title:
            assert XSS_TITLE in text, f"{where}: the title is not shown as text"

    page.goto("/?q=calibration+gauge+test+rig+seven")
    expect(page.locator("[data-testid=results]")).to_contain_text("forty two units")
    assert_inert("search results")

    page.goto(f"/documents/{document.pk}/page/1/")
    expect(page.locator("[data-testid=page-text]")).to_contain_text("forty two units")
    assert_inert("document page")

    page.goto(f"/documents/{document.pk}/")
    expect(page.locator("h1")).to_have_text(XSS_TITLE)
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator(INJECTED).count() == 0
    assert XSS_TITLE in page.locator("main").inner_text()  # the detail page shows the names, not the text

    page.goto("/ask/")
    page.fill("textarea[name=question]", "What does the calibration gauge on test rig seven read?")
    page.click("form.ask button[type=submit]")
    answer = page.locator("[data-testid=answer][data-status=done]")
    expect(answer).to_contain_text("forty two units")
    expect(answer.locator("a.citation").first).to_contain_text(XSS_TITLE)
    assert_inert("the answer")

    page.reload()  # the same conversation rendered by the server from the stored answer
    expect(page.locator("[data-testid=answer][data-status=done]")).to_contain_text("forty two units")
    assert_inert("the conversation")
    assert dialogs == []
