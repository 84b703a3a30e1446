from django.apps import AppConfig


class DocAnalystConfig(AppConfig):
    name = "docanalyst"
    verbose_name = "DocAnalyst"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed

        import docanalyst.schema  # noqa: F401 - registers the schema's Bearer scheme
        from docanalyst.roles import sync_staff_flag

        m2m_changed.connect(
            sync_staff_flag, sender=get_user_model().groups.through, dispatch_uid="docanalyst-sync-staff-flag"
        )
