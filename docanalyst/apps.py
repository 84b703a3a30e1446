from django.apps import AppConfig


class DocAnalystConfig(AppConfig):
    name = "docanalyst"
    verbose_name = "DocAnalyst"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_migrate

        import docanalyst.schema  # noqa: F401 - registers the schema's Bearer scheme
        from docanalyst.roles import sync_staff_flag
        from docanalyst.services.extractions import builtin_templates_sync

        post_migrate.connect(builtin_templates_sync, sender=self, dispatch_uid="docanalyst-builtin-templates")

        m2m_changed.connect(
            sync_staff_flag, sender=get_user_model().groups.through, dispatch_uid="docanalyst-sync-staff-flag"
        )
