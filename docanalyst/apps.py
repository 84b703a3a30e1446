from django.apps import AppConfig


class DocAnalystConfig(AppConfig):
    name = "docanalyst"
    verbose_name = "DocAnalyst"
