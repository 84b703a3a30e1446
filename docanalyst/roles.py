"""The three roles, as Django groups of the same names (`manage.py ensure_roles` creates them).

- employee: search, ask and summarize within the collections they may read;
- admin: manage users, groups, collections and their permissions, upload, delete, re-index;
- compliance: what an employee may do, plus exports, the audit trail and extraction review.

A superuser holds every role. Roles say what a user may *do*; which documents they may *see* is
decided per collection (`ingest.selectors.collections_readable_by`).
"""

from __future__ import annotations

import enum
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group


class Role(enum.StrEnum):
    EMPLOYEE = "employee"
    ADMIN = "admin"
    COMPLIANCE = "compliance"


def has_role(user: Any, role: Role) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cache = getattr(user, "_role_names", None)
    if cache is None:
        cache = set(user.groups.filter(name__in=[r.value for r in Role]).values_list("name", flat=True))
        user._role_names = cache
    return role.value in cache


def is_admin(user: Any) -> bool:
    return has_role(user, Role.ADMIN)


def is_compliance_officer(user: Any) -> bool:
    return has_role(user, Role.COMPLIANCE)


def sync_staff_flag(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """Members of the admin group can sign in to the Django admin (where users, groups, collections
    and their access are managed); leaving the group takes that away (superusers keep it)."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return

    user_model = get_user_model()
    if reverse:  # group.user_set changed: instance is the group
        if instance.name != Role.ADMIN.value:
            return
        users = user_model.objects.filter(pk__in=pk_set or [])
        if action == "post_clear":
            users = user_model.objects.filter(is_staff=True, is_superuser=False).exclude(groups=instance)
    else:
        users = user_model.objects.filter(pk=instance.pk)
    admin_group = Group.objects.filter(name=Role.ADMIN.value).first()
    for user in users:
        should_be_staff = user.is_superuser or (
            admin_group is not None and user.groups.filter(pk=admin_group.pk).exists()
        )
        if user.is_staff != should_be_staff:
            user.is_staff = should_be_staff
            user.save(update_fields=["is_staff"])
        if hasattr(user, "_role_names"):
            del user._role_names
    if not reverse and hasattr(instance, "_role_names"):
        del instance._role_names
