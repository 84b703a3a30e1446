from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Search, questions and their answers, conversations and the page viewer."""

    name = "search"
    verbose_name = "Search and answers"
