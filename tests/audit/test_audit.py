"""Recording: what `audit_record` and the signals write, what the ORM refuses, and the compliance
officers' pages (list, filters, CSV export)."""

from __future__ import annotations

import csv
import datetime
import io
import uuid
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from audit.middleware import AuditRequestMiddleware
from audit.models import AuditEvent
from audit.services import audit_record, bound_request, current_request, describe_request, is_secret_key
from audit.views import CSV_COLUMNS
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def verify_passes() -> None:
    call_command("verify_audit", stdout=StringIO())


def user_in(role: str, **kwargs: Any) -> Any:
    user = UserFactory(**kwargs)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


# --- the ORM refuses ------------------------------------------------------------------------------


def test_the_orm_refuses_to_change_or_delete_entries(db: Any) -> None:
    event = audit_record(action="search", details={"query": "contracts"})
    before = list(AuditEvent.objects.values())

    event.action = "question"
    with pytest.raises(PermissionError, match="append-only"):
        event.save()
    with pytest.raises(PermissionError, match="append-only"):
        event.delete()
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.update(action="question")
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.filter(seq=1).update(details={})
    with pytest.raises(PermissionError, match="append-only"):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.bulk_create([AuditEvent(seq=2, action="search")])
    with pytest.raises(PermissionError):  # appending around audit_record: no valid hash
        AuditEvent.objects.create(seq=2, action="search", at=event.at, via="web", prev_hash=event.hash, hash="f" * 64)

    assert list(AuditEvent.objects.values()) == before
    verify_passes()


def test_the_admin_shows_the_trail_read_only(db: Any) -> None:
    admin = UserFactory(is_staff=True, is_superuser=True)
    event = audit_record(action="search")
    browser = Client()
    browser.force_login(admin)

    assert browser.get("/admin/audit/auditevent/").status_code == 200
    assert browser.get("/admin/audit/auditevent/add/").status_code == 403
    assert browser.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- details --------------------------------------------------------------------------------------


def test_secrets_are_dropped_from_details(db: Any) -> None:
    event = audit_record(
        action="export",
        details={
            "password": "hunter2",
            "api_key": "k-123",
            "Authorization": "Bearer abc",
            "nested": {"clientSecret": "s3cret", "kept": 1},
            "items": [{"token": "t-1", "n": 2}],
            "prompt_tokens": 12,
            "keywords": ["liability"],
        },
    )

    expected = {"nested": {"kept": 1}, "items": [{"n": 2}], "prompt_tokens": 12, "keywords": ["liability"]}
    assert event.details == expected
    assert AuditEvent.objects.get(pk=event.pk).details == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("new_password2", True),
        ("PASSWORD", True),
        ("X-Auth-Token", True),
        ("apiKey", True),
        ("client_secret", True),
        ("sessionid", False),
        ("session", True),
        ("prompt_tokens", False),
        ("keywords", False),
        ("question", False),
    ],
)
def test_which_detail_keys_count_as_secrets(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_details_and_addresses_hash_the_same_after_the_database_round_trip(db: Any) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="2001:DB8:0:0::1", HTTP_USER_AGENT="Agent\x00/1.0")
    audit_record(
        action="question",
        request=request,
        details={
            "when": datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
            "id": uuid.UUID(int=1),
            "amount": Decimal("1.50"),
            "pair": (1, 2),
            "big": 1e20,
            "minus_zero": -0.0,
            "score": 0.1,
            "name": "Müller \x00",
            7: "int key",
        },
    )

    stored = AuditEvent.objects.get()
    assert stored.ip == "2001:db8::1"
    assert stored.user_agent == "Agent/1.0"
    assert stored.details["name"] == "Müller "
    assert stored.details["7"] == "int key"
    assert stored.compute_hash() == stored.hash
    verify_passes()


# --- where a request came from --------------------------------------------------------------------


def test_a_request_with_a_knox_token_is_recorded_as_api_token_use(db: Any) -> None:
    owner = UserFactory()
    token, _ = AuthToken.objects.create(owner)
    request = RequestFactory().get("/api/v1/search", REMOTE_ADDR="198.51.100.4")
    request.auth = token  # type: ignore[attr-defined]

    facts = describe_request(request)

    assert (facts.via, facts.token_key, facts.ip) == ("api-token", token.token_key, "198.51.100.4")
    assert describe_request(RequestFactory().get("/")).via == "web"
    assert describe_request(RequestFactory().get("/")).token_key == ""
    assert describe_request(None).via == "system"


def test_a_drf_request_authenticated_by_knox_records_the_owner_and_the_token_key(db: Any) -> None:
    owner = UserFactory()
    out = StringIO()
    call_command("create_api_token", owner.username, stdout=out)
    token = out.getvalue().strip()
    http = APIRequestFactory().get("/api/v1/search", HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR="10.0.0.5")
    request = Request(http, authenticators=[TokenAuthentication()])

    event = audit_record(action="token.use", request=request, details={"path": "/api/v1/search"})

    assert (event.actor_id, event.actor_name) == (owner.pk, owner.username)
    assert (event.via, event.token_key, event.ip) == ("api-token", token[:15], "10.0.0.5")
    assert token not in str(list(AuditEvent.objects.values()))


def test_x_forwarded_for_is_used_only_when_trusted(db: Any, settings: Any) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")

    settings.AUDIT_TRUST_X_FORWARDED_FOR = False
    untrusted = audit_record(action="search", request=request)
    settings.AUDIT_TRUST_X_FORWARDED_FOR = True
    trusted = audit_record(action="search", request=request)

    assert (untrusted.ip, trusted.ip) == ("10.0.0.1", "203.0.113.9")


def test_invalid_action_names_and_via_values_are_refused(db: Any) -> None:
    with pytest.raises(ValueError):
        audit_record(action="Document Upload")
    with pytest.raises(ValueError):
        audit_record(action="search", via="email")
    assert AuditEvent.objects.count() == 0


def test_a_failure_to_record_is_logged_and_raised(db: Any, monkeypatch: Any, caplog: Any) -> None:
    def broken(fields: dict[str, Any]) -> AuditEvent:
        raise RuntimeError("disk full")

    monkeypatch.setattr("audit.services._append_locked", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        audit_record(action="document.delete", target_type="document", target_id=7)
    assert "Could not write the audit entry document.delete" in caplog.text


# --- signing in and out ---------------------------------------------------------------------------


def test_signing_in_through_the_form_records_the_user_and_address(db: Any) -> None:
    user = UserFactory()
    browser = Client(REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="Firefox/140")

    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})

    assert response.status_code == 302
    (login,) = events("auth.login")
    assert (login.actor_id, login.actor_name, login.ip) == (user.pk, user.username, "203.0.113.7")
    assert (login.via, login.user_agent) == ("web", "Firefox/140")


def test_a_wrong_password_records_the_attempted_username_and_never_the_password(db: Any) -> None:
    user = UserFactory()

    response = Client(REMOTE_ADDR="203.0.113.8").post(
        "/accounts/login/", {"username": user.username, "password": "Wrong-Guess-4711"}
    )

    assert response.status_code == 200
    (failed,) = events("auth.login_failed")
    assert failed.details == {"username": user.username}
    assert (failed.actor_id, failed.actor_name, failed.ip) == (None, "", "203.0.113.8")
    assert events("auth.login") == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent")
        everything = str(cursor.fetchall())
    assert "Wrong-Guess-4711" not in everything


def test_signing_out_is_recorded(db: Any) -> None:
    user = UserFactory()
    browser = Client()
    browser.login(username=user.username, password=PASSWORD)

    browser.post("/accounts/logout/")

    (logout,) = events("auth.logout")
    assert (logout.actor_id, logout.actor_name) == (user.pk, user.username)


# --- who may do what ------------------------------------------------------------------------------


def test_group_membership_changes_are_recorded(db: Any) -> None:
    user = UserFactory()
    other = UserFactory()
    compliance = Group.objects.get_or_create(name="compliance")[0]
    admins = Group.objects.create(name="reviewers")  # not the admin role: joining that also flips is_staff

    user.groups.add(compliance, admins)
    user.groups.remove(admins)
    compliance.user_set.add(other)
    user.groups.clear()

    changes = [(e.target_id, e.details) for e in events("permission.change") if "created" not in e.details]
    assert changes == [
        (str(user.pk), {"user": user.username, "groups_added": ["compliance", "reviewers"]}),
        (str(user.pk), {"user": user.username, "groups_removed": ["reviewers"]}),
        (str(other.pk), {"user": other.username, "groups_added": ["compliance"]}),
        (str(user.pk), {"user": user.username, "groups_removed": ["compliance"]}),
    ]


def test_user_creation_and_flag_changes_are_recorded(db: Any) -> None:
    user = UserFactory()
    (created,) = events("permission.change")
    assert created.details == {
        "user": user.username,
        "created": True,
        "is_superuser": False,
        "is_staff": False,
        "is_active": True,
    }

    user.first_name = "Ada"
    user.save()
    assert len(events("permission.change")) == 1

    user.is_staff = True
    user.save()
    assert events("permission.change")[-1].details == {"user": user.username, "changes": {"is_staff": [False, True]}}


def test_changes_made_while_serving_a_request_name_who_made_them(db: Any) -> None:
    admin = UserFactory(username="the-admin")
    target = UserFactory()
    group = Group.objects.get_or_create(name="admin")[0]
    request = RequestFactory().post("/admin/", REMOTE_ADDR="192.0.2.10")
    request.user = admin

    with bound_request(request):
        target.groups.add(group)

    change = events("permission.change")[-1]
    assert (change.actor_name, change.ip, change.target_id) == ("the-admin", "192.0.2.10", str(target.pk))
    assert current_request() is None


def test_the_middleware_binds_the_request_while_the_view_runs() -> None:
    seen: list[Any] = []
    request = RequestFactory().get("/")

    def view(request: Any) -> Any:
        seen.append(current_request())
        return None

    middleware = AuditRequestMiddleware(view)

    middleware(request)

    assert seen == [request]
    assert current_request() is None


def test_api_tokens_created_and_revoked_are_recorded(db: Any) -> None:
    owner = UserFactory()
    token, _ = AuthToken.objects.create(owner)
    token.delete()

    (created,) = events("token.create")
    (revoked,) = events("token.revoke")
    assert (created.target_id, created.details["owner"]) == (token.token_key, owner.username)
    assert (revoked.target_id, revoked.details) == (token.token_key, {"owner": owner.username})


def test_deleting_a_user_keeps_their_entries_and_the_chain_intact(db: Any) -> None:
    user = UserFactory()
    Client().login(username=user.username, password=PASSWORD)
    user_id = user.pk

    user.delete()

    (login,) = events("auth.login")
    assert (login.actor_id, login.actor_name) == (user_id, user.username)
    assert events("permission.change")[-1].details == {"user": user.username, "deleted": True}
    verify_passes()


# --- the compliance pages -------------------------------------------------------------------------


@pytest.fixture
def officer(db: Any) -> Any:
    return user_in("compliance", username="officer")


@pytest.fixture
def officer_browser(officer: Any) -> Client:
    browser = Client()
    browser.force_login(officer)
    return browser


def listed(response: Any) -> list[str]:
    return [e.action for e in response.context["page"].object_list]


def test_a_compliance_officer_sees_the_trail_newest_first(officer_browser: Client) -> None:
    alice = UserFactory(username="alice")
    audit_record(action="document.upload", actor=alice, target_type="document", target_id=1)
    audit_record(action="question", actor=alice, details={"question": "What is the <b>notice</b> period?"})

    response = officer_browser.get("/audit/")

    assert response.status_code == 200
    assert listed(response)[:2] == ["question", "document.upload"]
    body = response.content.decode()
    assert "What is the &lt;b&gt;notice&lt;/b&gt; period?" in body
    assert "<b>notice</b>" not in body
    assert 'href="/audit/"' in body  # the navigation link


def test_the_trail_filters_by_action_and_by_actor(officer_browser: Client) -> None:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    audit_record(action="search", actor=alice)
    audit_record(action="question", actor=alice)
    audit_record(action="search", actor=bob)

    by_action = officer_browser.get("/audit/", {"action": "search"})
    by_actor = officer_browser.get("/audit/", {"actor": "ALI"})
    both = officer_browser.get("/audit/", {"action": "search", "actor": "bob"})
    prefix = officer_browser.get("/audit/", {"action": "auth."})

    assert [e.actor_name for e in by_action.context["page"].object_list] == ["bob", "alice"]
    assert listed(by_actor) == ["question", "search"]
    assert [(e.action, e.actor_name) for e in both.context["page"].object_list] == [("search", "bob")]
    assert set(listed(prefix)) == {"auth.login"}  # the officer's own sign-in


def test_the_trail_filters_by_date_target_and_details(officer_browser: Client, monkeypatch: Any) -> None:
    for day, target in ((1, "10"), (2, "20"), (3, "30")):
        monkeypatch.setattr(
            "audit.services.timezone.now", lambda day=day: datetime.datetime(2024, 3, day, 23, 59, tzinfo=datetime.UTC)
        )
        audit_record(
            action="document.delete", target_type="document", target_id=target, details={"title": f"Día {day}"}
        )
    monkeypatch.undo()

    days = officer_browser.get("/audit/", {"date_from": "2024-03-02", "date_to": "2024-03-03"})
    target = officer_browser.get("/audit/", {"target_type": "document", "target_id": "10"})
    text = officer_browser.get("/audit/", {"q": "día 2"})
    invalid = officer_browser.get("/audit/", {"date_from": "not a date"})

    assert [e.target_id for e in days.context["page"].object_list] == ["30", "20"]
    assert [e.target_id for e in target.context["page"].object_list] == ["10"]
    assert [e.target_id for e in text.context["page"].object_list] == ["20"]
    assert invalid.status_code == 400


def test_the_trail_is_paginated_by_fifty(officer_browser: Client) -> None:
    for i in range(60):
        audit_record(action="search", details={"i": i})

    first = officer_browser.get("/audit/", {"action": "search"})
    second = officer_browser.get("/audit/", {"action": "search", "page": 2})

    assert len(first.context["page"].object_list) == 50
    assert [e.details["i"] for e in second.context["page"].object_list] == list(range(9, -1, -1))
    assert "page=2" in first.content.decode()


def test_an_employee_is_refused_and_a_visitor_sent_to_sign_in(db: Any) -> None:
    employee = user_in("employee")
    browser = Client()
    browser.force_login(employee)

    assert browser.get("/audit/").status_code == 403
    assert browser.get("/audit/export.csv").status_code == 403
    assert 'href="/audit/"' not in browser.get("/batches/").content.decode()
    anonymous = Client().get("/audit/")
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/?next=/audit/")
    assert events("audit.export") == []


def test_the_csv_export_has_one_row_per_filtered_entry_and_is_itself_recorded(
    officer: Any, officer_browser: Client
) -> None:
    for i in range(3):
        audit_record(action="document.upload", target_type="document", target_id=i, details={"name": f"f{i}.pdf"})
    audit_record(action="search", details={"query": "not exported"})

    response = officer_browser.get("/audit/export.csv", {"action": "document.upload"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == CSV_COLUMNS
    assert [(r[6], r[8]) for r in rows[1:]] == [
        ("document.upload", "0"),
        ("document.upload", "1"),
        ("document.upload", "2"),
    ]
    stored = AuditEvent.objects.get(seq=int(rows[1][0]))
    assert rows[1][-2:] == [stored.prev_hash, stored.hash]
    (export,) = events("audit.export")
    assert (export.actor_name, export.details) == ("officer", {"filters": {"action": "document.upload"}})
    # An export holds the trail as it stood when asked for: not its own entry.
    again = officer_browser.get("/audit/export.csv", {"action": "audit.export"})
    rows = list(csv.reader(io.StringIO(b"".join(again.streaming_content).decode())))
    assert [int(r[0]) for r in rows[1:]] == [export.seq]


def test_the_csv_export_defuses_spreadsheet_formulas(officer_browser: Client) -> None:
    audit_record(action="search", actor=UserFactory(username="=HYPERLINK(1)"))

    response = officer_browser.get("/audit/export.csv", {"action": "search"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1][2] == "'=HYPERLINK(1)"
