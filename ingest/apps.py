from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Ingestion"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from ingest.models import CollectionAccess
        from ingest.signals import access_deleted, access_saved

        post_save.connect(access_saved, sender=CollectionAccess, dispatch_uid="ingest-access-saved")
        post_delete.connect(access_deleted, sender=CollectionAccess, dispatch_uid="ingest-access-deleted")
