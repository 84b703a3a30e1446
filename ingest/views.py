"""Browser pages for uploading and watching documents."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from docanalyst.http import HtmxHttpRequest
from ingest import selectors, services
from ingest.api import resolve_collection

INLINE_SAFE_TYPES = {"application/pdf", "text/plain", "image/png", "image/jpeg"}


@login_required
@require_http_methods(["GET", "POST"])
def documents_view(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        collection_value = request.POST.get("new_collection", "").strip() or request.POST.get("collection", "")
        try:
            collection = resolve_collection(request.user, collection_value)
            created = services.documents_create(
                collection=collection, uploaded_files=request.FILES.getlist("file"), user=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{len(created)} file(s) queued for ingestion into “{collection.name}”.")
        return redirect("documents")
    context = {
        "documents": selectors.documents_visible_to(request.user)[:200],
        "collections": selectors.collections_readable_by(request.user),
    }
    return render(request, "ingest/documents.html", context)


@login_required
def documents_table_partial(request: HtmxHttpRequest) -> HttpResponse:
    documents = selectors.documents_visible_to(request.user)[:200]
    return render(request, "ingest/_documents_table.html", {"documents": documents})


@login_required
def document_detail_view(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    summaries = document.summaries.all()[:5]
    return render(request, "ingest/document_detail.html", {"document": document, "summaries": summaries})


@login_required
def document_status_partial(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    response = render(request, "ingest/_document_status.html", {"document": document})
    if document.is_terminal and request.htmx:
        response["HX-Refresh"] = "true"  # the page now has text and a summary button to show
    return response


@login_required
def document_original(request: HtmxHttpRequest, document_id: int) -> FileResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    try:
        handle = document.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The original file is missing from storage.") from exc
    inline = document.mime_type in INLINE_SAFE_TYPES
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=document.original_name,
        content_type=document.mime_type if inline else "application/octet-stream",
    )
    response["Content-Security-Policy"] = "sandbox"
    return response


@login_required
@require_POST
def document_delete_view(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    services.document_delete(document)
    messages.success(request, f"Deleted “{document.title}”.")
    return redirect("documents")
