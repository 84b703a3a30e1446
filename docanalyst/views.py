"""Browser pages for search, questions, citations and summaries."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from docanalyst import selectors as read_selectors
from docanalyst.api import citations_with_urls, export_response, page_url
from docanalyst.backends.llm import LLMUnavailable, get_llm
from docanalyst.http import HtmxHttpRequest
from docanalyst.services import answers, summaries
from docanalyst.services.search import chunks_search
from ingest import selectors


def _selected_collections(request: HtmxHttpRequest) -> list[int]:
    source = request.POST if request.method == "POST" else request.GET
    return [int(c) for c in source.getlist("collection") if c.isdigit()]


@login_required
def search_view(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    chosen = _selected_collections(request)
    hits = chunks_search(user=request.user, query=query, collection_ids=chosen or None) if query else []
    results = [{"hit": h, "url": page_url(h.document.pk, h.page, h.chunk.pk)} for h in hits]
    context = {
        "query": query,
        "results": results,
        "collections": selectors.collections_readable_by(request.user),
        "chosen": chosen,
    }
    template = "docanalyst/_search_results.html" if request.htmx else "docanalyst/search.html"
    return render(request, template, context)


@login_required
def ask_view(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "collections": selectors.collections_readable_by(request.user),
        "llm_configured": get_llm() is not None,
    }
    return render(request, "docanalyst/ask.html", context)


@login_required
@require_POST
def ask_answer_partial(request: HtmxHttpRequest) -> HttpResponse:
    question = request.POST.get("question", "").strip()
    context: dict[str, object] = {"question": question}
    if not question:
        context["error"] = "Type a question first."
    else:
        try:
            result = answers.answer_question(
                user=request.user, question=question, collection_ids=_selected_collections(request) or None
            )
        except LLMUnavailable as exc:
            context["error"] = str(exc)
        else:
            context["result"] = result
            context["citations"] = citations_with_urls(result.citations_as_dicts())
            context["closest"] = [] if result.supported else result.passages[:3]
    return render(request, "docanalyst/_answer.html", context)


@login_required
def document_page_view(request: HtmxHttpRequest, document_id: int, page: int) -> HttpResponse:
    """The citation target: the page's extracted text with the cited passage highlighted."""
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    chunks = list(selectors.chunks_of_page(document, page))
    if not chunks and page == 1:
        chunks = list(document.chunks.filter(page_number__isnull=True).order_by("ordinal"))
    cited = request.GET.get("chunk", "")
    context = {
        "document": document,
        "page": page,
        "chunks": chunks,
        "cited_chunk_id": int(cited) if cited.isdigit() else None,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if document.page_count and page < document.page_count else None,
    }
    return render(request, "docanalyst/document_page.html", context)


@login_required
@require_POST
def summary_create_partial(request: HtmxHttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(selectors.documents_visible_to(request.user), pk=document_id)
    context: dict[str, object] = {"document": document}
    try:
        summary = summaries.summary_create(user=request.user, document=document)
    except (summaries.SummaryNotPossible, LLMUnavailable) as exc:
        context["error"] = str(exc)
    else:
        context["summary"] = summary
        context["citations"] = citations_with_urls(summary.citations)
    return render(request, "docanalyst/_summary.html", context)


@login_required
def summary_export_view(request: HtmxHttpRequest, summary_id: int, fmt: str) -> HttpResponse:
    summary = get_object_or_404(read_selectors.summaries_visible_to(request.user), pk=summary_id)
    return export_response(summary, fmt)
