from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.audit_events_view, name="events"),
    path("export.csv", views.audit_export_view, name="export"),
]
