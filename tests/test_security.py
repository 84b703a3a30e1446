"""Web safety: the Content-Security-Policy and pages it holds for, sign-in throttling, session
cookies, rate limits on asking and summarizing, log redaction, optional single sign-on, upload
size limits. (DEBUG off by default and a required SECRET_KEY: tests/test_settings.py.)"""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from audit.models import AuditEvent
from docanalyst.logging import RedactSecrets
from ingest.models import Batch, Chunk, Document
from ingest.services import document_pages_rebuild
from tests.factories import CollectionFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    cache.clear()  # rate-limit counters of earlier tests (user ids repeat after a rollback)


class InlineCode(HTMLParser):
    """Collects what a strict policy would block: inline scripts, style elements and attributes,
    event-handler attributes, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts_with_src: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script":
            if names.get("src"):
                self.scripts_with_src.append(names["src"])
            elif names.get("type", "").lower() not in {"application/json", "application/ld+json"}:
                self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        for name, value in names.items():
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"{name}= on <{tag}>")
            if value.strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL in {name}= on <{tag}>")


def inline_code(html: str) -> InlineCode:
    parser = InlineCode()
    parser.feed(html)
    return parser


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def ready_document(collection: Any, title: str = "Report", passages: tuple[str, ...] = ("Some text.",)) -> Document:
    document = Document.objects.create(
        collection=collection,
        title=title,
        original_name=f"{title}.txt",
        path=f"{hashlib.sha256(title.encode()).hexdigest()[:12]}.txt",
        file="originals/none",
        sha256=hashlib.sha256(title.encode()).hexdigest(),
        mime_type="text/plain",
        status=Document.Status.READY,
        chunk_count=len(passages),
    )
    Chunk.objects.bulk_create(
        Chunk(document=document, ordinal=i, text=text, token_count=len(text) // 4) for i, text in enumerate(passages)
    )
    document_pages_rebuild(document.pk)  # as the chunk stage writes them
    return document


# --- Content-Security-Policy -----------------------------------------------------------------------


def test_html_pages_carry_a_strict_content_security_policy(db: Any) -> None:
    response = Client().get(reverse("login"))

    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().partition(" ")[::2] for part in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'self'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style_for_the_policy_to_block(db: Any) -> None:
    user = UserFactory(roles=["employee"])
    collection = CollectionFactory(readers=[user])
    document = ready_document(collection)
    browser = signed_in(user)
    pages = {
        "login": Client().get(reverse("login")),
        "search": browser.get(reverse("search")),
        "ask": browser.get(reverse("ask")),
        "documents": browser.get(reverse("documents")),
        "document": browser.get(reverse("document-detail", args=[document.pk])),
    }

    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        scan = inline_code(html)
        assert scan.found == [], f"{name}: {scan.found}"
        assert all(src.startswith("/static/") for src in scan.scripts_with_src), name
        # htmx would otherwise inject an inline <style> for its indicators, which the policy refuses
        assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in html, name
    assert 'data-confirm="Delete this document' in pages["document"].content.decode()


def test_document_text_containing_markup_renders_as_text(db: Any) -> None:
    user = UserFactory(roles=["employee"])
    collection = CollectionFactory(readers=[user])
    document = ready_document(collection, title="<script>alert(1)</script>", passages=("<script>alert(2)</script>",))
    browser = signed_in(user)

    detail = browser.get(reverse("document-detail", args=[document.pk])).content.decode()
    page = browser.get(reverse("document-page", args=[document.pk, 1])).content.decode()

    assert "<script>alert(1)</script>" not in detail and "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "<script>alert(2)</script>" not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_the_admin_works_under_the_policy(db: Any) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    browser = signed_in(admin)

    admin_pages = (
        reverse("admin:index"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_user_add"),
        reverse("admin:auth_user_change", args=[admin.pk]),
        reverse("admin:axes_accessattempt_changelist"),
    )
    for url in admin_pages:
        response = browser.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert inline_code(response.content.decode()).found == [], url


# --- signing in ---------------------------------------------------------------------------------------


def sign_in(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_six_wrong_passwords_lock_out_that_username_from_that_address(db: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    victim, bystander = UserFactory(), UserFactory()
    browser = Client()

    responses = [sign_in(browser, victim.username, f"wrong-guess-{i}", "198.51.100.1") for i in range(6)]
    right_password = sign_in(browser, victim.username, PASSWORD, "198.51.100.1")

    assert [r.status_code for r in responses[:4]] == [200] * 4  # the form again, with its error
    assert responses[5].status_code == 429
    assert "Too many failed sign-ins" in responses[5].content.decode()
    assert "try again in 15 minutes" in responses[5].content.decode()
    assert right_password.status_code == 429 and "_auth_user_id" not in browser.session
    # the audit trail still records every refused sign-in, the locked-out right password included
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == 7
    # another user from the same address, and the same user from elsewhere, are unaffected
    assert sign_in(Client(), bystander.username, PASSWORD, "198.51.100.1").status_code == 302
    assert sign_in(Client(), victim.username, PASSWORD, "203.0.113.50").status_code == 302


def test_a_forged_x_forwarded_for_does_not_escape_a_lockout(db: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory()

    for i in range(3):
        sign_in(Client(), user.username, f"wrong-{i}", "198.51.100.9")
    forged = Client().post(
        reverse("login"),
        {"username": user.username, "password": PASSWORD},
        REMOTE_ADDR="198.51.100.9",
        HTTP_X_FORWARDED_FOR="203.0.113.77",
    )

    assert forged.status_code == 429


def test_behind_a_trusted_proxy_clients_are_told_apart_by_x_forwarded_for(db: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    user = UserFactory()

    def through_proxy(password: str, client_address: str) -> Any:
        return Client().post(
            reverse("login"),
            {"username": user.username, "password": password},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"{client_address}, 10.0.0.2",
        )

    for i in range(3):
        through_proxy(f"wrong-{i}", "198.51.100.20")

    assert through_proxy(PASSWORD, "198.51.100.20").status_code == 429
    assert through_proxy(PASSWORD, "198.51.100.21").status_code == 302


def test_a_successful_sign_in_clears_the_failure_count(db: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 5
    user = UserFactory()

    for i in range(4):
        sign_in(Client(), user.username, f"wrong-{i}", "198.51.100.2")
    assert sign_in(Client(), user.username, PASSWORD, "198.51.100.2").status_code == 302
    later = [sign_in(Client(), user.username, f"wrong-again-{i}", "198.51.100.2") for i in range(4)]

    assert [r.status_code for r in later] == [200] * 4  # 8 failures in all, but only 4 since success


def test_the_test_clients_login_is_not_throttled(db: Any) -> None:
    user = UserFactory()

    assert all(Client().login(username=user.username, password=PASSWORD) for _ in range(8))


def test_session_and_csrf_cookies_are_httponly_and_samesite_lax(db: Any) -> None:
    user = UserFactory()
    browser = Client()
    browser.get(reverse("login"))

    response = sign_in(browser, user.username, PASSWORD, "198.51.100.3")

    session = response.cookies["sessionid"]
    assert session["httponly"] is True and session["samesite"] == "Lax"
    assert session["max-age"] == 12 * 3600
    csrf = browser.cookies["csrftoken"]
    assert csrf["httponly"] is True and csrf["samesite"] == "Lax"


def test_hsts_and_the_forwarded_proto_apply_only_with_secure_cookies() -> None:
    script = "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
    https = {"HSTS_SECONDS": "3600", "TRUST_X_FORWARDED_PROTO": "true"}

    plain = load_settings(script, **https)
    secure = load_settings(script, SESSION_COOKIE_SECURE="true", **https)

    assert plain.stdout.strip() == "0 None", plain.stderr
    assert secure.stdout.strip() == "3600 ('HTTP_X_FORWARDED_PROTO', 'https')", secure.stderr


# --- rate limits on asking and summarizing --------------------------------------------------------------


def test_asking_too_often_in_the_browser_gives_429(db: Any, settings: Any) -> None:
    settings.RATE_LIMIT_ASK = "2/m"
    asker, other = UserFactory(roles=["employee"]), UserFactory(roles=["employee"])
    browser = signed_in(asker)

    asked = [browser.post(reverse("ask"), {"question": f"What is clause {i}?"}) for i in range(3)]

    assert [r.status_code for r in asked] == [302, 302, 429]
    assert "Too many questions: at most 2 per minute" in asked[2].content.decode()
    assert browser.get(reverse("ask")).status_code == 200  # the page itself is not limited
    assert signed_in(other).post(reverse("ask"), {"question": "Mine?"}).status_code == 302  # per user


def test_summarizing_too_often_in_the_browser_gives_429(db: Any, settings: Any) -> None:
    settings.RATE_LIMIT_SUMMARIZE = "1/h"
    user = UserFactory(roles=["employee"])
    document = ready_document(CollectionFactory(readers=[user]), passages=())  # "no text": no model, no Chroma
    browser = signed_in(user)
    url = reverse("summary-create")

    first, second = browser.post(url, {"document": document.pk}), browser.post(url, {"document": document.pk})

    assert first.status_code == 400 and "No text was found" in first.content.decode()
    assert second.status_code == 429
    assert "at most 1 per hour" in second.content.decode()


def test_the_api_throttles_asking_and_summarizing(db: Any, monkeypatch: Any) -> None:
    # DRF reads DEFAULT_THROTTLE_RATES once, into this class attribute
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"ask": "1/m", "summarize": "1/m"})
    user = UserFactory(roles=["employee"])
    document = ready_document(CollectionFactory(readers=[user]), passages=())
    api = APIClient()
    api.force_authenticate(user)
    summary_url = reverse("api-summaries")

    ask = [api.post(reverse("api-ask"), {}, format="json") for _ in range(2)]
    summarize = [api.post(summary_url, {"documents": [document.pk]}, format="json") for _ in range(2)]

    assert [r.status_code for r in ask] == [400, 429]  # the first counts even though it was refused
    assert [r.status_code for r in summarize] == [400, 429]  # limits are per scope: asking used none
    assert "throttled" in ask[1].json()["detail"] and ask[1].has_header("Retry-After")


def load_settings(script: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "DJANGO_SETTINGS_MODULE": "docanalyst.settings",
        "PATH": "/usr/bin:/bin",
        "VAR_DIR": "/tmp/docanalyst-settings-test",
        "SECRET_KEY": "x",
    }
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env={**base, **env}, timeout=120
    )


def test_rate_limits_come_from_the_environment_and_bad_ones_are_refused() -> None:
    script = (
        "from django.conf import settings as s; print(s.RATE_LIMIT_ASK, s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )

    configured = load_settings(script, RATE_LIMIT_ASK="7/h", RATE_LIMIT_SUMMARIZE="3/d")
    malformed = load_settings(script, RATE_LIMIT_ASK="lots")

    assert configured.stdout.strip() == "7/h {'ask': '7/h', 'summarize': '3/d'}", configured.stderr
    assert malformed.returncode != 0 and "RATE_LIMIT_ASK='lots' is not a rate" in malformed.stderr


def test_the_cache_defaults_to_database_1_of_the_redis_url() -> None:
    script = "from django.conf import settings as s; print(s.CACHES['default']['LOCATION'])"

    assert load_settings(script, REDIS_URL="redis://redis:6379/0").stdout.strip() == "redis://redis:6379/1"
    assert load_settings(script, CACHE_URL="redis://cache:6379/4").stdout.strip() == "redis://cache:6379/4"


# --- no secrets in logs -------------------------------------------------------------------------------


def test_secrets_are_masked_in_log_records() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("tests.security.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("call failed: headers=%s", {"Authorization": "Bearer 9f8e7d6c5b4a3210"})
        logger.warning("login attempt password=%s&user=%s", "hunter2-secret", "bob")
        logger.warning("LLM at %s failed: api_key=%s", "http://llm:s3cr3t-pw@10.0.0.9/v1", "sk-live-123456")
        logger.warning("usage prompt_tokens=%d completion_tokens=%d for token_key %s", 812, 64, "abcdef123456789")
        try:
            raise RuntimeError("connect to postgres://docanalyst:db-pass-42@postgres/docanalyst refused")
        except RuntimeError:
            logger.exception("database down")
    finally:
        logger.removeHandler(handler)

    output = stream.getvalue()
    for secret in ("9f8e7d6c5b4a3210", "hunter2-secret", "s3cr3t-pw", "sk-live-123456", "db-pass-42"):
        assert secret not in output
    assert "{'Authorization': '[redacted]'}" in output and "password=[redacted]&" in output
    assert "http://llm:[redacted]@10.0.0.9/v1 failed: api_key=[redacted]" in output
    assert "prompt_tokens=812 completion_tokens=64 for token_key abcdef123456789" in output  # not secrets
    assert "user=bob" in output and "RuntimeError: connect to postgres://docanalyst:[redacted]@postgres" in output


def test_the_console_handler_masks_secrets() -> None:
    filters = [f for h in logging.getLogger().handlers for f in h.filters]

    assert any(isinstance(f, RedactSecrets) for f in filters)


# --- optional single sign-on -------------------------------------------------------------------------

OIDC_ENV = {
    "OIDC_ENABLED": "true",
    "OIDC_RP_CLIENT_ID": "docanalyst",
    "OIDC_RP_CLIENT_SECRET": "client-secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example.test/auth",
    "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example.test/token",
    "OIDC_OP_USER_ENDPOINT": "https://idp.example.test/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://idp.example.test/jwks",
}
OIDC_SCRIPT = """
import django; django.setup()
from django.conf import settings
from django.test import Client
from django.urls import reverse
print(settings.AUTHENTICATION_BACKENDS[-1])
print(reverse("oidc_authentication_init"), reverse("oidc_authentication_callback"))
print("mozilla_django_oidc" in settings.INSTALLED_APPS, settings.OIDC_RP_SIGN_ALGO)
print("Sign in with single sign-on" in Client().get("/accounts/login/").content.decode())
"""


def test_single_sign_on_when_enabled_adds_the_backend_the_urls_and_the_login_link(tmp_path: Path) -> None:
    completed = load_settings(OIDC_SCRIPT, VAR_DIR=str(tmp_path), ALLOWED_HOSTS="testserver", **OIDC_ENV)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split("\n")[:4] == [
        "mozilla_django_oidc.auth.OIDCAuthenticationBackend",
        "/oidc/authenticate/ /oidc/callback/",
        "True RS256",
        "True",
    ]


def test_single_sign_on_without_a_client_id_fails_at_start_up() -> None:
    completed = load_settings(
        "from django.conf import settings; settings.DEBUG", **{**OIDC_ENV, "OIDC_RP_CLIENT_ID": ""}
    )

    assert completed.returncode != 0
    assert "OIDC_ENABLED is true, so these must be set too: OIDC_RP_CLIENT_ID." in completed.stderr


def test_single_sign_on_is_off_by_default(db: Any, settings: Any) -> None:
    assert "mozilla_django_oidc.auth.OIDCAuthenticationBackend" not in settings.AUTHENTICATION_BACKENDS
    with pytest.raises(NoReverseMatch):
        reverse("oidc_authentication_init")
    assert "single sign-on" not in Client().get(reverse("login")).content.decode()


# --- upload size -------------------------------------------------------------------------------------------


def test_a_single_file_over_the_upload_limit_is_refused_before_it_is_stored(db: Any, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 100
    user = UserFactory(roles=["admin"])
    collection = CollectionFactory(writers=[user])
    media = Path(settings.MEDIA_ROOT)
    stored_before = sorted(media.rglob("*")) if media.exists() else []

    def big() -> SimpleUploadedFile:
        return SimpleUploadedFile("big.txt", b"x" * 101, content_type="text/plain")

    page = signed_in(user).post(reverse("documents"), {"collection": collection.pk, "file": big()}, follow=True)
    api = APIClient()
    api.force_authenticate(user)
    refused = api.post(reverse("api-documents"), {"collection": collection.pk, "file": big()}, format="multipart")

    assert "“big.txt” (101\xa0bytes) is larger than the upload limit of 100\xa0bytes." in page.content.decode()
    assert refused.status_code == 400
    assert "larger than the upload limit" in refused.json()["detail"]
    assert not Document.objects.exists() and not Batch.objects.exists()
    assert (sorted(media.rglob("*")) if media.exists() else []) == stored_before


# --- in a real browser -----------------------------------------------------------------------------

CSP_PROBE = """
window.__csp_violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp_violations.push(
    e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber
  );
});
"""


@pytest.mark.browser
def test_chromium_reports_no_policy_violation_on_the_pages_and_the_admin(live_server: Any, monkeypatch: Any) -> None:
    import shutil

    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    document = ready_document(CollectionFactory(), passages=())
    violations: list[str] = []
    dialogs: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            headless=True,
        )
        context = browser.new_context(base_url=live_server.url)
        context.add_init_script(CSP_PROBE)
        page = context.new_page()
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

        def visit(path: str) -> None:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            violations.extend(page.evaluate("window.__csp_violations"))

        visit("/accounts/login/")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        for path in ("/", "/ask/", "/documents/", "/batches/", "/admin/", "/admin/auth/user/add/"):
            visit(path)
        visit("/compliance/")
        visit(f"/documents/{document.pk}/")
        page.click("button:has-text('Summarize')")  # a form POST; no text: refused with the reason
        page.wait_for_selector("[data-testid=work-refused]")
        visit(f"/documents/{document.pk}/")
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.click("button.danger")  # the static confirm.js asks; dismissed, nothing is sent
        page.wait_for_timeout(300)
        violations.extend(page.evaluate("window.__csp_violations"))
        browser.close()

    assert violations == []
    assert dialogs == ["Delete this document and its index entries?"]
    assert Document.objects.filter(pk=document.pk).exists()
