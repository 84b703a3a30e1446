"""`python manage.py ingest PATH --collection NAME`: ingest a folder, a file or an archive through
the same workers as an upload, with a progress bar until the batch finishes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from audit.services import Action, audit_record
from ingest import selectors, services, uploads


class Command(BaseCommand):
    help = "Ingest a folder, file or archive into a collection through the Celery workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--collection", required=True, help="Collection name (created if new).")
        parser.add_argument("--user", help="Record this user as the uploader.")
        parser.add_argument("--no-wait", action="store_true", help="Queue the batch and return at once.")
        parser.add_argument("--timeout", type=float, default=0, help="Give up waiting after this many seconds.")

    def handle(
        self, *args: Any, path: Path, collection: str, user: str | None, no_wait: bool, timeout: float, **options: Any
    ) -> None:
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        uploader = get_user_model().objects.filter(username=user).first() if user else None
        if user and uploader is None:
            raise CommandError(f"No user named {user!r}.")
        target = services.collection_get_or_create(name=collection)
        batch = uploads.batch_create_from_path(collection=target, path=path.resolve(), user=uploader)
        audit_record(
            action=Action.BATCH_CREATE,
            actor=uploader,
            via="cli",
            target_type="batch",
            target_id=batch.pk,
            details={"collection_id": target.pk, "path": str(path.resolve())},
        )
        self.stdout.write(f"Batch {batch.pk}: {batch.name} → {target.name}")
        if no_wait:
            return
        started = time.monotonic()
        with tqdm(total=0, unit="doc", desc="ingesting", disable=None) as bar:
            while True:
                batch.refresh_from_db()
                progress = selectors.batch_progress(batch)
                bar.total = progress.documents
                bar.n = progress.ready + progress.failed
                bar.set_postfix(ready=progress.ready, failed=progress.failed, pages_s=progress.pages_per_second)
                bar.refresh()
                if progress.state not in ("processing", "unpacking"):
                    break
                if timeout and time.monotonic() - started > timeout:
                    raise CommandError(f"Batch {batch.pk} is still {progress.state} after {timeout:.0f} s.")
                time.sleep(1)
        summary = (
            f"{progress.state}: {progress.ready} ready, {progress.failed} failed, {progress.duplicates} duplicate, "
            f"{progress.skipped} skipped in {progress.elapsed_seconds:.0f} s"
        )
        self.stdout.write(summary)
        for entry in selectors.batch_manifest(batch):
            if entry.outcome in ("failed", "skipped"):
                self.stdout.write(f"  {entry.outcome}: {entry.path}: {entry.reason}")
