"""`{% load audit_tags %}`: `user|is_compliance` shows the audit trail's link to those who may read it."""

from __future__ import annotations

from typing import Any

from django import template

from docanalyst.roles import is_compliance_officer

register = template.Library()


@register.filter
def is_compliance(user: Any) -> bool:
    return is_compliance_officer(user)
