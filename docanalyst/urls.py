from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView

from compliance import api as compliance_api
from compliance import views as compliance_views
from docanalyst import dependencies, tokens
from docanalyst.validation import ExportFormatConverter, IdConverter
from ingest import api as ingest_api
from ingest import views as ingest_views
from search import api as search_api
from search import views as search_views

register_converter(IdConverter, "id")  # ids that fit the database; anything longer is a 404, not a 500
register_converter(ExportFormatConverter, "export")  # pdf, docx, md, csv, xlsx


def healthz(request: HttpRequest) -> JsonResponse:
    """Each dependency's state; 503 when a required one is down (for load balancers and operators)."""
    healthy, checks = dependencies.health()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


handler500 = "docanalyst.dependencies.server_error"  # a dependency that is down: 503 with the reason
handler404 = "docanalyst.http.not_found"  # JSON under /api/
handler400 = "docanalyst.http.bad_request"
handler403 = "docanalyst.http.forbidden"


api_v1 = [
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("collections", ingest_api.CollectionListApi.as_view(), name="api-collections"),
    path("documents", ingest_api.DocumentListCreateApi.as_view(), name="api-documents"),
    path("documents/<id:document_id>", ingest_api.DocumentDetailApi.as_view(), name="api-document"),
    path("documents/<id:document_id>/retry", ingest_api.DocumentRetryApi.as_view(), name="api-document-retry"),
    path("batches", ingest_api.BatchListApi.as_view(), name="api-batches"),
    path("batches/<id:batch_id>", ingest_api.BatchDetailApi.as_view(), name="api-batch"),
    path("batches/<id:batch_id>/cancel", ingest_api.BatchCancelApi.as_view(), name="api-batch-cancel"),
    path("batches/<id:batch_id>/retry", ingest_api.BatchRetryApi.as_view(), name="api-batch-retry"),
    path("summaries", compliance_api.SummaryListCreateApi.as_view(), name="api-summaries"),
    path("summaries/<id:summary_id>", compliance_api.SummaryDetailApi.as_view(), name="api-summary"),
    path(
        "summaries/<id:summary_id>/export.<export:fmt>",
        compliance_api.SummaryExportApi.as_view(),
        name="api-summary-export",
    ),
    path("comparisons", compliance_api.ComparisonListCreateApi.as_view(), name="api-comparisons"),
    path("comparisons/<id:comparison_id>", compliance_api.ComparisonDetailApi.as_view(), name="api-comparison"),
    path(
        "comparisons/<id:comparison_id>/export.<export:fmt>",
        compliance_api.ComparisonExportApi.as_view(),
        name="api-comparison-export",
    ),
    path(
        "extraction-templates",
        compliance_api.ExtractionTemplateListCreateApi.as_view(),
        name="api-extraction-templates",
    ),
    path("extractions", compliance_api.ExtractionListCreateApi.as_view(), name="api-extractions"),
    path("extractions/<id:run_id>", compliance_api.ExtractionDetailApi.as_view(), name="api-extraction"),
    path(
        "extractions/<id:run_id>/values/<id:value_id>/review",
        compliance_api.ExtractionReviewApi.as_view(),
        name="api-extraction-review",
    ),
    path(
        "extractions/<id:run_id>/export.<export:fmt>",
        compliance_api.ExtractionExportApi.as_view(),
        name="api-extraction-export",
    ),
    path(
        "answers/<id:answer_id>/export.<export:fmt>", compliance_api.AnswerExportApi.as_view(), name="api-answer-export"
    ),
    path(
        "conversations/<id:conversation_id>/export.<export:fmt>",
        compliance_api.ConversationExportApi.as_view(),
        name="api-conversation-export",
    ),
    path("search", search_api.SearchApi.as_view(), name="api-search"),
    path("ask", search_api.AskApi.as_view(), name="api-ask"),
    path("conversations", search_api.ConversationListApi.as_view(), name="api-conversations"),
    path("tokens", tokens.TokenListCreateApi.as_view(), name="api-tokens"),
    path("tokens/<str:token_key>", tokens.TokenRevokeApi.as_view(), name="api-token"),
    path("conversations/<id:conversation_id>", search_api.ConversationDetailApi.as_view(), name="api-conversation"),
]

urlpatterns = [
    path("", search_views.search_view, name="search"),
    path("ask/", search_views.ask_view, name="ask"),
    path("conversations/<id:conversation_id>/", search_views.conversation_view, name="conversation"),
    path(
        "conversations/<id:conversation_id>/delete", search_views.conversation_delete_view, name="conversation-delete"
    ),
    path("answers/<id:answer_id>/", search_views.answer_turn_partial, name="answer-turn"),
    path("answers/<id:answer_id>/stream", search_views.answer_stream_view, name="answer-stream"),
    path("documents/", ingest_views.documents_view, name="documents"),
    path("documents/table", ingest_views.documents_table_partial, name="documents-table"),
    path("documents/<id:document_id>/", ingest_views.document_detail_view, name="document-detail"),
    path("documents/<id:document_id>/status", ingest_views.document_status_partial, name="document-status"),
    path("documents/<id:document_id>/original", ingest_views.document_original, name="document-original"),
    path("documents/<id:document_id>/delete", ingest_views.document_delete_view, name="document-delete"),
    path("documents/<id:document_id>/retry", ingest_views.document_retry_view, name="document-retry"),
    path("batches/", ingest_views.batches_view, name="batches"),
    path("batches/<id:batch_id>/", ingest_views.batch_detail_view, name="batch-detail"),
    path("batches/<id:batch_id>/progress", ingest_views.batch_progress_partial, name="batch-progress"),
    path("batches/<id:batch_id>/cancel", ingest_views.batch_cancel_view, name="batch-cancel"),
    path("batches/<id:batch_id>/retry", ingest_views.batch_retry_view, name="batch-retry"),
    path("documents/<id:document_id>/page/<id:page>/", search_views.document_page_view, name="document-page"),
    path(
        "documents/<id:document_id>/page/<id:page>/image.png",
        search_views.document_page_image,
        name="document-page-image",
    ),
    path("compliance/", compliance_views.compliance_view, name="compliance"),
    path("summaries/new", compliance_views.summary_create_view, name="summary-create"),
    path("summaries/<id:summary_id>/", compliance_views.summary_detail_view, name="summary-detail"),
    path("summaries/<id:summary_id>/export.<export:fmt>", compliance_views.summary_export_view, name="summary-export"),
    path("comparisons/new", compliance_views.comparison_create_view, name="comparison-create"),
    path("comparisons/<id:comparison_id>/", compliance_views.comparison_detail_view, name="comparison-detail"),
    path(
        "comparisons/<id:comparison_id>/export.<export:fmt>",
        compliance_views.comparison_export_view,
        name="comparison-export",
    ),
    path("extractions/new", compliance_views.extraction_create_view, name="extraction-create"),
    path("extractions/<id:run_id>/", compliance_views.extraction_detail_view, name="extraction-detail"),
    path(
        "extractions/<id:run_id>/values/<id:value_id>/review",
        compliance_views.extraction_review_view,
        name="extraction-review",
    ),
    path(
        "extractions/<id:run_id>/export.<export:fmt>", compliance_views.extraction_export_view, name="extraction-export"
    ),
    path("extraction-templates/", compliance_views.extraction_templates_view, name="extraction-templates"),
    path("answers/<id:answer_id>/export.<export:fmt>", compliance_views.answer_export_view, name="answer-export"),
    path(
        "conversations/<id:conversation_id>/export.<export:fmt>",
        compliance_views.conversation_export_view,
        name="conversation-export",
    ),
    path("account/tokens/", tokens.tokens_view, name="tokens"),
    path("account/tokens/<str:token_key>/revoke", tokens.token_revoke_view, name="token-revoke"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(extra_context={"oidc_enabled": settings.OIDC_ENABLED}),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("audit/", include("audit.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include(api_v1)),
]

if settings.OIDC_ENABLED:  # single sign-on: /oidc/authenticate/, and the IdP redirects to /oidc/callback/
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))
