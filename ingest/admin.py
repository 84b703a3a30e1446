"""Admins manage collections and who may read or write them here (Django admin). Every change is
recorded in the audit trail (`permission.change`)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ingest.models import Collection, CollectionAccess


class CollectionAccessInline(admin.TabularInline):
    model = CollectionAccess
    extra = 1
    fields = ["group", "user", "can_write", "granted_by", "created_at"]
    readonly_fields = ["granted_by", "created_at"]
    autocomplete_fields = ["user", "group"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [CollectionAccessInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for grant in formset.save(commit=False):
            if grant.granted_by_id is None:
                grant.granted_by = request.user
            grant.save()
        for removed in formset.deleted_objects:
            removed.delete()
        formset.save_m2m()
