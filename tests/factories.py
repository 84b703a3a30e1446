from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from ingest.models import Collection, CollectionAccess


class UserFactory(factory.django.DjangoModelFactory):
    """A user; `UserFactory(roles=["admin"])` puts them in role groups (employee, admin, compliance)."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        for role in extracted or ():
            obj.groups.add(Group.objects.get_or_create(name=role)[0])
        if extracted:
            obj.refresh_from_db()


class CollectionFactory(factory.django.DjangoModelFactory):
    """A collection; `CollectionFactory(readers=[u], writers=[w])` grants them access."""

    class Meta:
        model = Collection
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Collection {n}")

    @factory.post_generation
    def readers(obj, create, extracted, **kwargs):
        for who in extracted or ():
            grant(obj, who)

    @factory.post_generation
    def writers(obj, create, extracted, **kwargs):
        for who in extracted or ():
            grant(obj, who, write=True)


def grant(collection: Collection, who: object, write: bool = False) -> CollectionAccess:
    """Read (or write) access to the collection for a user or a group."""
    field = "group" if isinstance(who, Group) else "user"
    access, _ = CollectionAccess.objects.update_or_create(
        collection=collection, **{field: who}, defaults={"can_write": write}
    )
    return access


def documents_uploaded(*, collection: Collection, uploaded_files: list, user: object) -> list:
    """Upload files as one batch the way the browser and the API do; the documents it created
    (a duplicate creates none)."""
    from ingest.models import Document
    from ingest.uploads import batch_create_from_uploads

    batch = batch_create_from_uploads(collection=collection, files=list(uploaded_files), user=user)
    return list(Document.objects.filter(batch=batch).order_by("pk"))
