"""Browser pages for search, questions and citations; compliance work is in `compliance_views`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_ratelimit.decorators import ratelimit

from backends.llm import get_llm
from docanalyst.http import HtmxHttpRequest, page_url, rate_limited, sse_response
from docanalyst.validation import parse_id
from ingest import selectors as ingest_selectors
from ingest.models import Chunk
from search import answers, selectors, viewer
from search.forms import SearchForm
from search.http import audit_search
from search.models import Conversation
from search.retrieval import SearchFilters, chunks_search


def _ask_rate(group: str, request: HttpRequest) -> str:
    return str(settings.RATE_LIMIT_ASK)


@login_required
def search_view(request: HtmxHttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    context: dict[str, object] = {
        "form": form,
        "collections": ingest_selectors.collections_readable_by(request.user),
        "query": "",
        "results": [],
        "chosen": [],
    }
    if form.is_valid():
        query = form.cleaned_data["q"]
        filters = form.filters()
        hits = (
            chunks_search(user=request.user, query=query, filters=filters, method=form.search_method()) if query else []
        )
        if query:
            audit_search(request, query, form, hits)
        context.update(
            query=query,
            chosen=list(filters.collection_ids),
            results=[{"hit": h, "url": page_url(h.document.pk, h.page, h.chunk.pk)} for h in hits],
            within=ingest_selectors.documents_visible_to(request.user).filter(pk__in=filters.document_ids),
        )
    else:
        context["error"] = form.error_text()
    template = "search/_search_results.html" if request.htmx else "search/search.html"
    # A full page with a bad filter is a 400; an htmx partial stays 200 so that htmx swaps the message in.
    status = 400 if "error" in context and not request.htmx else 200
    return render(request, template, context, status=status)


def _conversation_context(request: HtmxHttpRequest, conversation: Conversation | None) -> dict[str, object]:
    filters = answers.filters_from_json(conversation.filters) if conversation else SearchFilters()
    return {
        "conversation": conversation,
        "conversations": selectors.conversations_of(request.user)[:30],
        "turns": selectors.answers_checked(request.user, conversation.answers.order_by("pk")) if conversation else [],
        "collections": ingest_selectors.collections_readable_by(request.user),
        "chosen": list(filters.collection_ids),
        "llm_configured": get_llm() is not None,
    }


def _turn_error(request: HtmxHttpRequest, error: str) -> HttpResponse:
    # htmx swaps only 2xx responses into the page; a plain form post gets the proper 400.
    return render(request, "search/_turn_error.html", {"error": error}, status=200 if request.htmx else 400)


@login_required
@ratelimit(key="user", rate=_ask_rate, method="POST", block=False)
def ask_view(request: HtmxHttpRequest) -> HttpResponse:
    """A new conversation (GET), or a question asked (POST): the pending answer's turn, which the
    browser then streams from `answer-stream`."""
    if request.method != "POST":
        return render(request, "search/ask.html", _conversation_context(request, None))
    if getattr(request, "limited", False):
        return rate_limited("questions", settings.RATE_LIMIT_ASK)
    conversation = None
    conversation_id = request.POST.get("conversation", "").strip()
    if conversation_id:
        number = parse_id(conversation_id)
        if number is None:
            return _turn_error(request, f"conversation: {conversation_id[:40]!r} is not an id.")
        conversation = get_object_or_404(selectors.conversations_of(request.user), pk=number)
    form = SearchForm(request.POST)
    if not form.is_valid():
        return _turn_error(request, form.error_text())
    try:
        answer = answers.answer_create(
            user=request.user,
            question=request.POST.get("question", ""),
            conversation=conversation,
            filters=None if conversation else form.filters(),
        )
    except ValueError as exc:
        return _turn_error(request, str(exc))
    if request.htmx and conversation is not None:  # a follow-up: its turn joins the page
        return render(request, "search/_turn.html", {"turn": answer})
    url = reverse("conversation", args=[answer.conversation_id])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@login_required
def conversation_view(request: HtmxHttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(selectors.conversations_of(request.user), pk=conversation_id)
    return render(request, "search/ask.html", _conversation_context(request, conversation))


@login_required
@require_POST
def conversation_delete_view(request: HtmxHttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(selectors.conversations_of(request.user), pk=conversation_id)
    conversation.delete()
    return redirect("ask")


@login_required
def answer_stream_view(request: HtmxHttpRequest, answer_id: int) -> StreamingHttpResponse:
    """Server-sent events for one answer: `delta` (text as generated), then `done` or `error`."""
    answer = get_object_or_404(selectors.answers_of(request.user), pk=answer_id)
    return sse_response(answers.answer_events(answer, request))


@login_required
def answer_turn_partial(request: HtmxHttpRequest, answer_id: int) -> HttpResponse:
    """One finished turn, rendered on the server (the stream's `done` swaps it in)."""
    answer = get_object_or_404(selectors.answers_of(request.user), pk=answer_id)
    (answer,) = selectors.answers_checked(request.user, [answer])
    return render(request, "search/_turn.html", {"turn": answer})


@login_required
def document_page_view(request: HtmxHttpRequest, document_id: int, page: int) -> HttpResponse:
    """The citation target: the page's extracted text with the cited passage highlighted."""
    document = get_object_or_404(ingest_selectors.documents_visible_to(request.user), pk=document_id)
    chunks = list(ingest_selectors.chunks_of_page(document, page))
    if not chunks and page == 1:
        chunks = list(document.chunks.filter(page_number__isnull=True).order_by("ordinal"))
    cited = request.GET.get("chunk", "")
    context = {
        "document": document,
        "page": page,
        "chunks": chunks,
        "cited_chunk_id": parse_id(cited) if cited else None,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if document.page_count and page < document.page_count else None,
    }
    return render(request, "search/document_page.html", context)


@login_required
def document_page_image(request: HtmxHttpRequest, document_id: int, page: int) -> HttpResponse:
    """A PDF page as a PNG, with the passage of `?chunk=` painted on it (only a chunk of this
    document: an id from elsewhere highlights nothing rather than leaking where its text is)."""
    document = get_object_or_404(ingest_selectors.documents_visible_to(request.user), pk=document_id)
    if not document.is_pdf:
        raise Http404("Only PDF pages are rendered.")
    cited = request.GET.get("chunk", "")
    cited_id = parse_id(cited) if cited else None
    chunk = Chunk.objects.filter(document=document, pk=cited_id).first() if cited_id else None
    try:
        path = Path(document.file.path)
        boxes = viewer.passage_boxes(path, page, chunk.text) if chunk else []
        png = viewer.render_page_png(path, page, boxes)
    except viewer.PageUnavailable as exc:
        raise Http404(str(exc)) from exc
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response
