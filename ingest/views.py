"""Browser pages for uploading and watching documents."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from compliance.models import Summary
from compliance.selectors import records_checked, summaries_visible_to
from docanalyst.http import HtmxHttpRequest
from docanalyst.roles import is_admin
from ingest import selectors, services, uploads
from ingest.http import (
    audit_batch_created,
    audit_document_deleted,
    resolve_collection,
    writable_batch,
    writable_document,
)

INLINE_SAFE_TYPES = {"application/pdf", "text/plain", "image/png", "image/jpeg"}


@login_required
@require_http_methods(["GET", "POST"])
def documents_view(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        collection_value = request.POST.get("new_collection", "").strip() or request.POST.get("collection", "")
        try:
            collection = resolve_collection(request.user, collection_value)
            batch = uploads.batch_create_from_uploads(
                collection=collection, files=request.FILES.getlist("file"), user=request.user
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("documents")
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            return redirect("documents")
        audit_batch_created(request, batch)
        messages.success(
            request, f"{len(request.FILES.getlist('file'))} file(s) queued for ingestion into “{collection.name}”."
        )
        return redirect("batch-detail", batch.pk)
    context = {
        "documents": selectors.documents_visible_to(request.user)[:200],
        "collections": selectors.collections_writable_by(request.user),
        "can_create_collections": is_admin(request.user),
    }
    return render(request, "ingest/documents.html", context)


@login_required
def documents_table_partial(request: HtmxHttpRequest) -> HttpResponse:
    documents = selectors.documents_visible_to(request.user)[:200]
    return render(request, "ingest/_documents_table.html", {"documents": documents})


@login_required
def document_detail_view(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    context = {
        "document": document,
        "summaries": records_checked(request.user, summaries_visible_to(request.user).filter(documents=document)[:10]),
        "summary_kinds": Summary.Kind.choices,
        "versions": selectors.document_versions(document),
        "attachments": selectors.documents_visible_to(request.user).filter(parent=document),
    }
    return render(request, "ingest/document_detail.html", context)


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
    document = writable_document(request.user, document_id)
    audit_document_deleted(request, document)
    services.document_delete(document)
    messages.success(request, f"Deleted “{document.title}”.")
    return redirect("documents")


@login_required
@require_POST
def document_retry_view(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = writable_document(request.user, document_id)
    if services.document_retry(document):
        messages.success(request, f"“{document.title}” is queued again.")
    return redirect("document-detail", document.pk)


@login_required
def batches_view(request: HtmxHttpRequest) -> HttpResponse:
    batches = [(b, selectors.batch_progress(b)) for b in selectors.batches_visible_to(request.user)[:50]]
    return render(request, "ingest/batches.html", {"batches": batches})


def _batch_context(request: HtmxHttpRequest, batch_id: int) -> dict[str, object]:
    batch = get_object_or_404(selectors.batches_visible_to(request.user), pk=batch_id)
    return {"batch": batch, "progress": selectors.batch_progress(batch), "manifest": selectors.batch_manifest(batch)}


@login_required
def batch_detail_view(request: HtmxHttpRequest, batch_id: int) -> HttpResponse:
    return render(request, "ingest/batch_detail.html", _batch_context(request, batch_id))


@login_required
def batch_progress_partial(request: HtmxHttpRequest, batch_id: int) -> HttpResponse:
    return render(request, "ingest/_batch_progress.html", _batch_context(request, batch_id))


@login_required
@require_POST
def batch_cancel_view(request: HtmxHttpRequest, batch_id: int) -> HttpResponse:
    batch = writable_batch(request.user, batch_id)
    count = uploads.batch_cancel(batch)
    messages.success(request, f"Batch cancelled; {count} document(s) not yet ready were stopped.")
    return redirect("batch-detail", batch.pk)


@login_required
@require_POST
def batch_retry_view(request: HtmxHttpRequest, batch_id: int) -> HttpResponse:
    batch = writable_batch(request.user, batch_id)
    count = uploads.batch_retry_failed(batch)
    messages.success(request, f"{count} failed document(s) queued again.")
    return redirect("batch-detail", batch.pk)
