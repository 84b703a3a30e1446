"""API tokens: created per user (shown once), listed, revoked; a token acts as its user."""

from __future__ import annotations

from typing import Any

from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.factories import UserFactory


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_token_is_created_listed_used_and_revoked_through_the_api(db: Any) -> None:
    owner = UserFactory(username="owner")
    session = APIClient()
    session.force_authenticate(owner)

    created = session.post("/api/v1/tokens", {"expiry_days": 30}, format="json")
    secret = created.json()["token"]
    listed = session.get("/api/v1/tokens").json()["results"]
    used = bearer(secret).get("/api/v1/collections")
    revoked = session.delete(f"/api/v1/tokens/{created.json()['token_key']}")
    after = bearer(secret).get("/api/v1/collections")

    assert created.status_code == 201 and len(secret) == 64
    assert [t["token_key"] for t in listed] == [secret[:15]] and "token" not in listed[0]  # the secret is shown once
    assert listed[0]["expiry"] is not None
    assert used.status_code == 200
    assert revoked.status_code == 204 and after.status_code == 401
    uses = AuditEvent.objects.filter(action="token.use", actor=owner)
    assert uses.count() == 1 and uses.get().details["path"] == "/api/v1/collections"


def test_a_user_cannot_see_or_revoke_another_users_tokens(db: Any) -> None:
    owner, other = UserFactory(username="owner"), UserFactory(username="other")
    _, secret = AuthToken.objects.create(user=owner)
    key = secret[:15]
    client = APIClient()
    client.force_authenticate(other)

    assert client.get("/api/v1/tokens").json()["results"] == []
    assert client.delete(f"/api/v1/tokens/{key}").status_code == 404
    assert bearer(secret).get("/api/v1/tokens").json()["results"][0]["token_key"] == key  # still valid


def test_the_tokens_page_shows_a_new_secret_once_and_revokes(db: Any) -> None:
    owner = UserFactory(username="owner")
    browser = Client()
    browser.force_login(owner)

    created = browser.post("/account/tokens/", {"expiry_days": ""}).content.decode()
    token = AuthToken.objects.get(user=owner)
    shown_again = browser.get("/account/tokens/").content.decode()
    browser.post(f"/account/tokens/{token.token_key}/revoke")

    assert 'data-testid="new-token"' in created and token.token_key in created
    assert 'data-testid="new-token"' not in shown_again and token.token_key in shown_again
    assert not AuthToken.objects.filter(user=owner).exists()
