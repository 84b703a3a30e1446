from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """Summaries, comparisons, extraction runs and their exports."""

    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate  # Django's signals need the app registry

        from compliance.extractions import builtin_templates_sync

        post_migrate.connect(builtin_templates_sync, sender=self, dispatch_uid="compliance-builtin-templates")
