"""Collection permissions and roles: who reads and writes which collection, who manages them,
and every grant recorded in the audit trail."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditEvent
from ingest import selectors
from ingest.models import CollectionAccess
from tests.factories import CollectionFactory, UserFactory, grant


def test_users_read_what_is_granted_to_them_or_their_groups_and_admins_read_everything(db: Any) -> None:
    team = Group.objects.create(name="structures")
    member, outsider, admin = UserFactory(), UserFactory(), UserFactory(roles=["admin"])
    member.groups.add(team)
    by_group, by_user, nobody = (
        CollectionFactory(readers=[team]),
        CollectionFactory(readers=[outsider]),
        CollectionFactory(),
    )

    assert set(selectors.collections_readable_by(member)) == {by_group}
    assert set(selectors.collections_readable_by(outsider)) == {by_user}
    assert set(selectors.collections_readable_by(admin)) == {by_group, by_user, nobody}
    assert not selectors.collections_writable_by(member).exists()
    grant(by_group, team, write=True)
    assert set(selectors.collections_writable_by(member)) == {by_group}


def test_an_inactive_user_reads_nothing(db: Any) -> None:
    user = UserFactory()
    collection = CollectionFactory(readers=[user])
    user.is_active = False
    user.save()

    assert not selectors.collections_readable_by(user).exists()
    assert collection.pk not in selectors.collection_ids_readable_by(user)


def test_uploading_needs_write_access_and_only_admins_create_collections(db: Any) -> None:
    reader, admin = UserFactory(), UserFactory(roles=["admin"])
    readable = CollectionFactory(readers=[reader])
    browser = Client()
    browser.force_login(reader)

    def upload(client: Client, **fields: Any) -> Any:
        return client.post(
            "/documents/", {"file": SimpleUploadedFile("notes.txt", b"hello", "text/plain"), **fields}, follow=True
        )

    into_readable = upload(browser, collection=readable.pk).content.decode()
    new_collection = upload(browser, new_collection="Mine").content.decode()
    admin_browser = Client()
    admin_browser.force_login(admin)
    by_admin = upload(admin_browser, new_collection="Projects")

    assert "may read “" in into_readable and "but not upload into it" in into_readable
    assert "Only admins create collections" in new_collection
    assert by_admin.status_code == 200 and selectors.collections_readable_by(admin).filter(name="Projects").exists()
    assert not readable.documents.exists()


def test_joining_the_admin_group_opens_the_django_admin_and_leaving_closes_it(db: Any) -> None:
    user = UserFactory()
    admins = Group.objects.get(name="admin")

    user.groups.add(admins)
    user.refresh_from_db()
    staff_after_joining = user.is_staff
    user.groups.remove(admins)
    user.refresh_from_db()

    assert staff_after_joining is True and user.is_staff is False


def test_every_grant_change_and_revocation_is_in_the_audit_trail(db: Any) -> None:
    user = UserFactory()
    collection = CollectionFactory()

    access = grant(collection, user)
    access.can_write = True
    access.save()
    access.delete()

    changes = AuditEvent.objects.filter(action="permission.change", target_type="collection").order_by("seq")
    assert [e.details["change"] for e in changes] == ["granted", "changed", "revoked"]
    assert all(e.target_id == str(collection.pk) and e.details["user_id"] == user.pk for e in changes)
    assert not CollectionAccess.objects.exists()
