"""Moving the models out of `docanalyst` (into `search` and `compliance`) keeps every row and
every permission: only Django's state moves."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("docanalyst", "0005_summary_documents_replace_document"), ("search", None), ("compliance", None)]
AFTER = [("docanalyst", "0006_models_moved_to_search_and_compliance")]


def test_rows_and_permissions_made_before_the_move_are_the_new_apps_after_it(transactional_db: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE[:1]).apps
    User = old.get_model("auth", "User")
    ContentType, Permission = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Permission")
    owner = User.objects.create(username="officer")
    summary = old.get_model("docanalyst", "Summary").objects.create(created_by=owner, title="Q2 summary", text="kept")
    conversation = old.get_model("docanalyst", "Conversation").objects.create(owner=owner, title="leases")
    summary_type = ContentType.objects.get_or_create(app_label="docanalyst", model="summary")[0]
    view_summary = Permission.objects.get_or_create(
        codename="view_summary", content_type=summary_type, defaults={"name": "Can view summary"}
    )[0]
    owner.user_permissions.add(view_summary)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    from django.contrib.auth.models import User as CurrentUser

    from compliance.models import Summary
    from search.models import Conversation

    assert Summary.objects.get(pk=summary.pk).text == "kept"
    assert Conversation.objects.get(pk=conversation.pk).title == "leases"
    assert CurrentUser.objects.get(pk=owner.pk).has_perm("compliance.view_summary")


def test_the_move_can_be_undone_without_losing_rows(transactional_db: Any) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    state = executor.loader.project_state(AFTER).apps
    owner = state.get_model("auth", "User").objects.create(username="officer")
    conversation = state.get_model("search", "Conversation").objects.create(owner=owner, title="leases")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(BEFORE)

    old = executor.loader.project_state(BEFORE[:1]).apps
    assert old.get_model("docanalyst", "Conversation").objects.get(pk=conversation.pk).title == "leases"
