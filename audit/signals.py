"""What the audit trail records without being called: sign-ins, sign-outs, failed sign-ins,
changes to who may do what (user flags, group and permission memberships), API tokens created and
revoked. Connected by `AuditConfig.ready`.

Model signals carry no request: they take the one `audit.middleware.AuditRequestMiddleware` binds
(so a change made in the admin names the admin who made it), or record no actor when none is bound.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from knox.models import get_token_model

from audit.services import Action, audit_record, current_request

_USER_FLAGS = ("is_superuser", "is_staff", "is_active")
# through model -> (the m2m field, what it grants: "groups" or "permissions")
_M2M: dict[type[models.Model], tuple[Any, str]] = {}


def connect() -> None:
    user_model = get_user_model()
    user_logged_in.connect(_on_login, dispatch_uid="audit.auth.login")
    user_login_failed.connect(_on_login_failed, dispatch_uid="audit.auth.login_failed")
    user_logged_out.connect(_on_logout, dispatch_uid="audit.auth.logout")
    pre_save.connect(_before_user_save, sender=user_model, dispatch_uid="audit.user.pre_save")
    post_save.connect(_after_user_save, sender=user_model, dispatch_uid="audit.user.post_save")
    post_delete.connect(_after_holder_delete, sender=user_model, dispatch_uid="audit.user.post_delete")
    post_delete.connect(_after_holder_delete, sender=Group, dispatch_uid="audit.group.post_delete")
    for model, field_name, granted_key in (
        (user_model, "groups", "groups"),
        (user_model, "user_permissions", "permissions"),
        (Group, "permissions", "permissions"),
    ):
        field = model._meta.get_field(field_name)
        through = field.remote_field.through  # type: ignore[union-attr]
        _M2M[through] = (field, granted_key)
        m2m_changed.connect(_on_m2m_changed, sender=through, dispatch_uid=f"audit.m2m.{through._meta.label_lower}")
    token_model = get_token_model()
    post_save.connect(_after_token_save, sender=token_model, dispatch_uid="audit.token.post_save")
    post_delete.connect(_after_token_delete, sender=token_model, dispatch_uid="audit.token.post_delete")


# --- signing in and out ---------------------------------------------------------------------------


def _on_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action=Action.LOGIN, request=request, actor=user, target_type="user", target_id=user.pk)


def _on_login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the sensitive credentials; only the username is kept anyway.
    username_field = get_user_model().USERNAME_FIELD
    attempted = credentials.get("username", credentials.get(username_field, ""))
    audit_record(action=Action.LOGIN_FAILED, request=request, details={"username": str(attempted or "")[:150]})


def _on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None or not user.is_authenticated:
        return
    audit_record(action=Action.LOGOUT, request=request, actor=user, target_type="user", target_id=user.pk)


# --- who may do what ------------------------------------------------------------------------------


def _label(obj: Any) -> str:
    if isinstance(obj, Permission):
        return f"{obj.content_type.app_label}.{obj.codename}"
    if isinstance(obj, Group):
        return obj.name
    return str(obj.get_username())


def _permission_change(holder: Any, details: dict[str, Any]) -> None:
    holder_type = "group" if isinstance(holder, Group) else "user"
    audit_record(
        action=Action.PERMISSION_CHANGE,
        request=current_request(),
        target_type=holder_type,
        target_id=holder.pk,
        details={holder_type: _label(holder), **details},
    )


def _before_user_save(sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(_USER_FLAGS):
        return  # e.g. last_login at every sign-in: no need to read the row
    instance.__dict__["_audit_old_flags"] = sender._default_manager.filter(pk=instance.pk).values(*_USER_FLAGS).first()


def _after_user_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    old = instance.__dict__.pop("_audit_old_flags", None)
    if raw:
        return
    if created:
        _permission_change(instance, {"created": True, **{f: getattr(instance, f) for f in _USER_FLAGS}})
        return
    if old is None:
        return
    changes = {f: [old[f], getattr(instance, f)] for f in _USER_FLAGS if old[f] != getattr(instance, f)}
    if changes:
        _permission_change(instance, {"changes": changes})


def _after_holder_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    _permission_change(instance, {"deleted": True})


def _on_m2m_changed(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    spec = _M2M.get(sender)
    if spec is None:
        return
    field, granted_key = spec
    if action == "pre_clear":  # post_clear does not say what was cleared: remember it now
        source, other = field.m2m_field_name(), field.m2m_reverse_field_name()
        if reverse:
            source, other = other, source
        rows = sender._default_manager.filter(**{f"{source}_id": instance.pk}).values_list(f"{other}_id", flat=True)
        instance.__dict__["_audit_cleared"] = set(rows)
        return
    if action == "post_clear":
        pk_set, change = instance.__dict__.pop("_audit_cleared", set()), "removed"
    elif action in ("post_add", "post_remove"):
        change = "added" if action == "post_add" else "removed"
    else:
        return
    if not pk_set:
        return
    others = model._default_manager.filter(pk__in=pk_set)
    if model is Permission:
        others = others.select_related("content_type")
    if not reverse:  # instance is the user or group; the others are what it gained or lost
        _permission_change(instance, {f"{granted_key}_{change}": sorted(_label(o) for o in others)})
    else:  # instance is the group or permission; the others are the users or groups concerned
        for holder in others.order_by("pk"):
            _permission_change(holder, {f"{granted_key}_{change}": [_label(instance)]})


# --- API tokens -----------------------------------------------------------------------------------


def _token_owner(token: Any) -> str:
    user_model = get_user_model()
    name = user_model._default_manager.filter(pk=token.user_id).values_list(user_model.USERNAME_FIELD, flat=True)
    return str(name.first() or "")


def _after_token_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not created or raw:
        return
    audit_record(
        action=Action.TOKEN_CREATE,
        request=current_request(),
        target_type="token",
        target_id=instance.token_key,
        details={"owner": _token_owner(instance), "expiry": instance.expiry.isoformat() if instance.expiry else None},
    )


def _after_token_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(
        action=Action.TOKEN_REVOKE,
        request=current_request(),
        target_type="token",
        target_id=instance.token_key,
        details={"owner": _token_owner(instance)},
    )
