"""Which documents a compliance request is about: a selection of ids, or a folder of a collection.
Only documents the user can read are ever selected; an id the user cannot see is a 404, exactly
like an id that does not exist."""

from __future__ import annotations

from collections.abc import Sequence

from django.http import Http404

from ingest import selectors
from ingest.models import Collection, Document
from ingest.selectors import User

MAX_SELECTED = 2000


def documents_selected(
    user: User, document_ids: Sequence[int], collection_id: int | None = None, folder: str | None = None
) -> tuple[list[Document], Collection | None]:
    """The documents named by id, in the order given; or the latest ready documents of a
    collection (under `folder` when one is given), in path order."""
    visible = selectors.documents_visible_to(user)
    if document_ids:
        ids = list(dict.fromkeys(int(i) for i in document_ids))[:MAX_SELECTED]
        found = {d.pk: d for d in visible.filter(pk__in=ids)}
        if len(found) != len(ids):
            raise Http404("No such document.")
        return [found[i] for i in ids], None
    if collection_id is None:
        return [], None
    collection = selectors.collections_readable_by(user).filter(pk=collection_id).first()
    if collection is None:
        raise Http404("No such collection.")
    documents = visible.filter(collection=collection, is_latest=True, status=Document.Status.READY)
    folder = (folder or "").strip().strip("/")
    if folder:
        documents = documents.filter(path__startswith=f"{folder}/")
    return list(documents.order_by("path")[:MAX_SELECTED]), collection
