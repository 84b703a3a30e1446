"""`python manage.py reindex [--collection NAME]`: embed every ready document again (after a change
of embedding model, or to rebuild a lost Chroma store), through the workers, with a progress bar."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from backends.vectorstore import get_vector_store
from docanalyst import dispatch
from ingest.models import Collection, Document
from ingest.services import EMBED_QUEUED


class Command(BaseCommand):
    help = "Re-embed and re-index the ready documents of one collection or of all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collection", help="Only this collection (by name).")
        parser.add_argument("--no-wait", action="store_true", help="Queue the work and return at once.")

    def handle(self, *args: Any, collection: str | None, no_wait: bool, **options: Any) -> None:
        collections = Collection.objects.all()
        if collection:
            collections = collections.filter(name=collection)
            if not collections.exists():
                raise CommandError(f"No collection named {collection!r}.")
        store = get_vector_store()
        ids: list[int] = []
        for target in collections:
            store.drop_collection(target.pk)  # a new model may have another dimension: start clean
            documents = Document.objects.filter(collection=target, status=Document.Status.READY)
            batch_ids = list(documents.values_list("pk", flat=True))
            documents.update(
                status=Document.Status.EMBEDDING, stage=EMBED_QUEUED, progress=50, attempts=0, updated_at=timezone.now()
            )
            ids += batch_ids
        for document_id in ids:
            dispatch.embed_document(document_id)
        self.stdout.write(f"Re-indexing {len(ids)} documents in {collections.count()} collection(s).")
        if no_wait or not ids:
            return
        with tqdm(total=len(ids), unit="doc", desc="re-indexing", disable=None) as bar:
            while True:
                finished = Document.objects.filter(pk__in=ids, status__in=Document.TERMINAL_STATUSES).count()
                bar.n = finished
                bar.refresh()
                if finished == len(ids):
                    break
                time.sleep(1)
        failed = Document.objects.filter(pk__in=ids, status=Document.Status.FAILED).count()
        self.stdout.write(f"Done: {len(ids) - failed} re-indexed, {failed} failed.")
