"""Hybrid retrieval: what the lexical evidence (BM25 of pages and of documents) adds to vector
search and how the fusion follows whichever leg stands out, filters applied inside the query (k
results stay k), statistics that never depend on documents the user cannot read, versions and
deletions, diversity and the optional reranker."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from backends import lexical
from backends.reranker import get_reranker
from ingest.models import Document
from ingest.services import document_delete, document_mark_ready
from search.retrieval import Method, SearchFilters, SearchHit, chunks_search
from tests.factories import CollectionFactory, UserFactory
from tests.search.corpus import DOCX, indexed_document

# Maintenance text in which a part number is one detail among many: an embedder sees "bridge
# maintenance", not the part number.
MAINTENANCE = (
    "Annual inspection of the east approach span covered bearings, drainage, expansion joints and "
    "the deck surface. Corrosion was found on two stiffeners and repainted. The replacement anchor "
    "bolt {part} was fitted to the north abutment after the old one sheared. Traffic management "
    "was arranged with the county and the lane closure lasted four hours."
)
# Short sentences that are nothing but near-identical part numbers: the embedder's favourites.
DECOYS = [f"Anchor bolt TC-44{n:02d}-B, spare part, catalogue entry." for n in range(11, 31)]


@pytest.fixture
def reader(transactional_db: Any, vector_store: Any) -> Any:
    return UserFactory(username="reader")


def titles(hits: list[Any]) -> list[str]:
    return [hit.document.title for hit in hits]


def test_hybrid_search_finds_a_part_number_that_vector_search_alone_misses(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    indexed_document(collection, "maintenance/2024-east-span.pdf", [MAINTENANCE.format(part="TC-4410-B")])
    indexed_document(collection, "catalogue/bolts.pdf", DECOYS)

    dense = chunks_search(user=reader, query="TC-4410-B", k=3, method=Method.DENSE)
    hybrid = chunks_search(user=reader, query="TC-4410-B", k=3)

    assert "2024-east-span.pdf" not in titles(dense)  # the premise: vectors alone miss it
    assert titles(hybrid)[0] == "2024-east-span.pdf"
    assert "lexical" in hybrid[0].legs


def test_an_exact_phrase_section_number_and_standard_are_found_by_hybrid_search(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    # The phrase once, inside a long passage about something else; paraphrases that are about
    # nothing but limits of liability — what a vector for the phrase lands on first.
    indexed_document(
        collection,
        "contracts/supply-a.pdf",
        [
            "Deliveries arrive at the north gate between seven and nine. The supplier keeps the goods insured "
            "until delivery, unloads them with its own crane and removes all packaging; site access passes are "
            "issued by the main contractor, and the limitation of liability in clause 14 applies to all of it."
        ],
    )
    paraphrases = [
        "A party's liability is limited to the fees paid in the previous twelve months.",
        "Liability limits do not apply to fraud or to death and personal injury.",
        "The limits on what either side can be held liable for are set out below.",
        "Damages recoverable under this agreement are capped and excluded as follows.",
        "Liability is limited: neither party is liable for indirect or consequential loss.",
    ]
    indexed_document(collection, "contracts/supply-b.pdf", paraphrases)
    indexed_document(
        collection,
        "specs/machining.pdf",
        [
            "§ 9.2 Surface finish: all machined faces Ra 3.2 unless noted otherwise.",
            "§ 9.3 Deburring: remove all sharp edges.",
            "General tolerances to ISO 2768-m apply to dimensions without a tolerance.",
            "General tolerances to ISO 2768-f apply to the gauge blocks.",
        ],
    )

    phrase = chunks_search(user=reader, query='"limitation of liability"', k=3)
    dense_phrase = chunks_search(user=reader, query='"limitation of liability"', k=3, method=Method.DENSE)
    section = chunks_search(user=reader, query="§ 9.2", k=1)
    standard = chunks_search(user=reader, query="ISO 2768-m", k=1)

    assert phrase[0].document.title == "supply-a.pdf" and "limitation of liability" in phrase[0].chunk.text
    assert "supply-a.pdf" not in titles(dense_phrase)  # the premise: vectors alone prefer the paraphrases
    assert section[0].chunk.text.startswith("§ 9.2")
    assert "ISO 2768-m" in standard[0].chunk.text


def test_lexical_query_syntax_cannot_be_injected_into_the_full_text_engine(reader: Any) -> None:
    indexed_document(CollectionFactory(readers=[reader]), "notes.pdf", ["Plain notes about NEAR and OR operators."])

    for hostile in ['" OR 1=1 --', "NEAR(a b)", "*", "col:value", "'; DROP TABLE ingest_page; --", '"""', "^"]:
        chunks_search(user=reader, query=hostile, k=3, method=Method.LEXICAL)  # must not raise

    parsed = lexical.parse_query('NEAR "x y" TC-4410-B')
    assert [t.tokens for t in parsed.required] == [("x", "y")]
    assert [t.tokens for t in parsed.terms] == [("x", "y"), ("near",), ("tc", "4410", "b")]
    assert Document.objects.count() == 1
    assert chunks_search(user=reader, query="NEAR operators", k=3, method=Method.LEXICAL)[0].document.title == (
        "notes.pdf"
    )


def _filtered_corpus(collection: Any, other_collection: Any) -> dict[str, Document]:
    """Many passages about the same topic, spread over collections, types, folders and dates."""

    def passages(where: str) -> list[str]:
        return [
            f"Fire door inspection record {i} for the {where}: closers, seals and signage checked." for i in range(6)
        ]

    return {
        "old_pdf": indexed_document(
            collection, "archive/2019/doors.pdf", passages("warehouse"), uploaded=datetime.date(2019, 5, 1)
        ),
        "docx": indexed_document(
            collection, "site/office/doors.docx", passages("office"), mime_type=DOCX, uploaded=datetime.date(2024, 3, 1)
        ),
        "new_pdf": indexed_document(
            collection, "site/lab/doors.pdf", passages("laboratory"), uploaded=datetime.date(2024, 6, 1)
        ),
        "other": indexed_document(
            other_collection, "site/depot/doors.pdf", passages("depot"), uploaded=datetime.date(2024, 6, 1)
        ),
    }


@pytest.mark.parametrize("method", [Method.HYBRID, Method.DENSE, Method.LEXICAL])
def test_each_filter_narrows_the_results_and_still_returns_k(reader: Any, method: Method) -> None:
    collection, other_collection = CollectionFactory(readers=[reader]), CollectionFactory(readers=[reader])
    docs = _filtered_corpus(collection, other_collection)
    query = "fire door inspection closers seals"
    cases = {
        "collection": (SearchFilters(collection_ids=[other_collection.pk]), {docs["other"].pk}),
        "document": (SearchFilters(document_ids=[docs["docx"].pk]), {docs["docx"].pk}),
        "file type": (SearchFilters(file_types=["word"]), {docs["docx"].pk}),
        "folder": (SearchFilters(folder="site/lab"), {docs["new_pdf"].pk}),
        "date range": (
            SearchFilters(uploaded_from=datetime.date(2019, 1, 1), uploaded_to=datetime.date(2019, 12, 31)),
            {docs["old_pdf"].pk},
        ),
    }

    unfiltered = chunks_search(user=reader, query=query, k=10, method=method)
    assert len({hit.document.pk for hit in unfiltered}) > 1
    for name, (filters, expected) in cases.items():
        hits = chunks_search(user=reader, query=query, k=5, filters=filters, method=method)
        assert len(hits) == 5, name  # applied inside the query: k results, not k minus the filtered
        assert {hit.document.pk for hit in hits} == expected, name


def test_one_long_document_does_not_fill_every_slot(reader: Any, settings: Any) -> None:
    settings.SEARCH_MAX_PER_DOCUMENT = 3
    collection = CollectionFactory(readers=[reader])
    long_document = [f"Concrete curing procedure step {i}: keep the slab moist and covered." for i in range(30)]
    indexed_document(collection, "long.pdf", long_document)
    indexed_document(collection, "short-a.pdf", ["Curing concrete slabs: cover them and keep them moist."])
    indexed_document(collection, "short-b.pdf", ["Concrete curing takes seven days in mild weather."])
    indexed_document(collection, "short-c.pdf", ["Keep a fresh concrete slab moist while it cures."])

    hits = chunks_search(user=reader, query="concrete curing procedure keep slab moist", k=6)

    assert titles(hits).count("long.pdf") == 3
    assert {"short-a.pdf", "short-b.pdf", "short-c.pdf"} <= set(titles(hits))
    inside = chunks_search(
        user=reader, query="concrete curing", k=6, filters=SearchFilters(document_ids=[hits[0].document.pk])
    )
    assert len(inside) == 6  # inside one document the cap gives way: the slots are filled


def test_superseded_versions_and_deleted_documents_never_appear(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    v1 = indexed_document(collection, "spec.pdf", ["Revision A: the beam is grade S275 quartzite-tested steel."])
    v2 = indexed_document(
        collection, "spec.pdf", ["Revision B: the beam is grade S355 steel."], version=2, is_latest=False, previous=v1
    )
    Document.objects.filter(pk=v2.pk).update(status=Document.Status.EMBEDDING)
    v2.refresh_from_db()
    assert document_mark_ready(v2)
    doomed = indexed_document(collection, "memo.pdf", ["The quartzite memo is withdrawn."])

    document_delete(doomed)
    for method in Method:
        hits = chunks_search(user=reader, query="quartzite", k=10, method=method)
        assert [h.document.pk for h in hits if h.document.pk in (v1.pk, doomed.pk)] == [], method

    with_versions = chunks_search(
        user=reader, query="quartzite", k=10, filters=SearchFilters(include_old_versions=True)
    )
    assert v1.pk in {h.document.pk for h in with_versions}
    assert doomed.pk not in {h.document.pk for h in with_versions}


def test_a_vector_whose_row_is_gone_is_not_returned(reader: Any, vector_store: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    ghost = indexed_document(collection, "ghost.pdf", ["Ghost passage about cathodic protection of piles."])
    Document.objects.filter(pk=ghost.pk).delete()  # the row goes, the vector stays behind (a race)

    assert vector_store.count(collection.pk, ghost.pk) == 1
    assert chunks_search(user=reader, query="cathodic protection of piles", k=5) == []


def test_the_reranker_orders_results_when_one_is_configured(reader: Any, settings: Any, tmp_path: Path) -> None:
    from sentence_transformers import CrossEncoder

    from backends.embedder import embedding_model_path

    model_dir = tmp_path / "cross-encoder"
    CrossEncoder(str(embedding_model_path()), num_labels=1).save(str(model_dir))  # a local model, any weights
    settings.RERANKER_MODEL = str(model_dir)
    get_reranker.cache_clear()
    collection = CollectionFactory(readers=[reader])
    for i in range(5):
        indexed_document(collection, f"report-{i}.pdf", [f"Pump station {i} report: flow, pressure and vibration."])
    try:
        hits = chunks_search(user=reader, query="pump station vibration", k=5)
        reranker = get_reranker()
        assert reranker is not None
        expected = reranker.scores("pump station vibration", [h.chunk.text for h in hits])
    finally:
        settings.RERANKER_MODEL = ""
        get_reranker.cache_clear()

    assert [round(h.score, 5) for h in hits] == sorted((round(s, 5) for s in expected), reverse=True)


def test_the_search_api_applies_filters_and_explains_bad_ones(reader: Any) -> None:
    from rest_framework.test import APIClient

    collection, other_collection = CollectionFactory(readers=[reader]), CollectionFactory(readers=[reader])
    docs = _filtered_corpus(collection, other_collection)
    client = APIClient()
    client.force_authenticate(reader)
    query = "fire door inspection"

    by_type = client.get("/api/v1/search", {"q": query, "type": "word", "k": 4}).json()
    by_folder_and_date = client.get(
        "/api/v1/search", {"q": query, "folder": "/site/", "from": "2024-05-01", "to": "2024-12-31", "k": 8}
    ).json()
    inside = client.get("/api/v1/search", {"q": query, "document": docs["old_pdf"].pk, "method": "lexical"}).json()
    bad_type = client.get("/api/v1/search", {"q": query, "type": "banana"})
    bad_dates = client.get("/api/v1/search", {"q": query, "from": "2024-05-01", "to": "2024-01-01"})

    assert len(by_type["results"]) == 4 and {r["document_id"] for r in by_type["results"]} == {docs["docx"].pk}
    assert {r["document_id"] for r in by_folder_and_date["results"]} == {docs["new_pdf"].pk, docs["other"].pk}
    assert inside["method"] == "lexical" and {r["document_id"] for r in inside["results"]} == {docs["old_pdf"].pk}
    assert all(r["matched_by"][0] == "lexical" and "dense" not in r["matched_by"] for r in inside["results"])
    assert bad_type.status_code == 400 and "banana" in bad_type.json()["detail"]
    assert bad_dates.status_code == 400 and "ends before it starts" in bad_dates.json()["detail"]


def test_the_search_page_shows_filters_and_searches_inside_one_document(reader: Any) -> None:
    from django.test import Client

    collection, other_collection = CollectionFactory(readers=[reader]), CollectionFactory(readers=[reader])
    docs = _filtered_corpus(collection, other_collection)
    browser = Client()
    browser.force_login(reader)

    page = browser.get("/", {"q": "fire door inspection", "document": docs["docx"].pk}).content.decode()

    assert "Searching inside: <strong>doors.docx</strong>" in page
    assert page.count('class="result"') == 6 and "the office" in page and "the warehouse" not in page
    assert 'name="type" value="pdf"' in page and 'name="folder"' in page and 'name="from"' in page


# A filing names its company on the cover page and never again in its tables.
COVER = (
    "QUARTERLY REPORT pursuant to the Securities Exchange Act for the quarterly period ended 30 June 2024. "
    "{company} (exact name of registrant as specified in its charter), {address}."
)
CONTENTS = "Table of contents: Part I financial information; Part II other information; signatures."
TABLE = "Total net sales by segment (in millions): Products {a}; Services {b}; total net sales {c}."
REVENUE = "Net sales by reportable segment, in millions: hardware 3,010; maintenance 2,240; total 5,250."


def test_a_company_named_only_on_the_cover_lifts_its_filings_table_above_another_filings(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    acme = indexed_document(
        collection, "filings/q2-a.pdf", [COVER.format(company="Acme Turbines Inc.", address="Leeds"), CONTENTS, REVENUE]
    )
    others = [
        indexed_document(
            collection,
            f"filings/q2-{name}.pdf",
            [
                COVER.format(company=f"{name.title()} plc", address="Oslo"),
                CONTENTS,
                TABLE.format(a=n, b=n + 1, c=n + 2),
            ],
        )
        for n, name in enumerate(["borealis", "cobalt", "dunmore"], start=4000)
    ]
    query = "What were Acme Turbines' total net sales by segment?"

    def first_table(hits: list[SearchHit]) -> int:
        return next(hit.document.pk for hit in hits if hit.chunk.ordinal == 2)

    # The premise: the other filings' tables say "total net sales by segment" word for word.
    assert first_table(chunks_search(user=reader, query=query, k=8, method=Method.DENSE)) != acme.pk
    # Acme is on one cover of four: its filing's pages, its table included, come first.
    assert first_table(chunks_search(user=reader, query=query, k=8)) == acme.pk
    assert first_table(chunks_search(user=reader, query=query, k=8, method=Method.LEXICAL)) == acme.pk
    assert {o.pk for o in others}  # four filings searched


def test_a_documents_title_is_part_of_its_evidence(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    body = ["Contents.", "Seals are checked monthly and replaced every two years."]
    indexed_document(collection, "manuals/borealis-valve.pdf", body)
    kestrel = indexed_document(collection, "manuals/kestrel-pump.pdf", body)
    indexed_document(collection, "manuals/cobalt-fan.pdf", body)

    hits = chunks_search(
        user=reader, query="How often are the Kestrel pump seals replaced?", k=3, method=Method.LEXICAL
    )

    assert (hits[0].document, hits[0].page) == (kestrel, 2)  # the same page text everywhere: the title decides


def test_a_page_that_holds_the_questions_words_outranks_a_closer_paraphrase(reader: Any) -> None:
    """The fusion follows the leg whose best page stands out: here the words. A fixed small weight
    on the lexical leg (the previous default) ranked the paraphrase first."""
    collection = CollectionFactory(readers=[reader])
    exact = indexed_document(
        collection,
        "depot/notes.pdf",
        [
            "Welcome to the depot. Opening hours are posted at the gate.",
            "Depot notes, week 12. Forklift 3 is back from service and the gate code changes on Monday. Sodium "
            "hypochlorite drums are stored in bay 7 and the duty chemist inspects the bay. The canteen closes early "
            "on Friday; parking behind the workshop is reserved for visitors.",
        ],
    )
    indexed_document(
        collection,
        "handbook/safety.pdf",
        [
            "Where should chemical drums be stored? Chemical drums are stored in a bunded bay and inspected regularly.",
            "Corrosive liquids are kept in a ventilated cabinet.",
        ],
    )
    question = "Which bay are the sodium hypochlorite drums stored in, and who inspects it?"

    dense = chunks_search(user=reader, query=question, k=4, method=Method.DENSE)
    hybrid = chunks_search(user=reader, query=question, k=4)

    assert dense[0].document.title == "safety.pdf"  # the premise: by meaning alone the paraphrase wins
    assert (hybrid[0].document, hybrid[0].page) == (exact, 2)
    assert hybrid[0].coverage is not None and hybrid[0].coverage > 0.8
    assert "lexical" in hybrid[0].legs


def test_a_users_ranking_never_depends_on_documents_they_cannot_read(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    indexed_document(collection, "kestrel.pdf", ["Kestrel Dynamics pump handbook.", "Pump seals are checked monthly."])
    indexed_document(collection, "other.pdf", ["Borealis valve handbook.", "Valve seals are checked monthly."])
    query = "Kestrel seals ZX-9001 checked"

    def seen() -> list[tuple[int, float, float | None]]:
        return [(h.chunk.pk, round(h.score, 9), h.support) for h in chunks_search(user=reader, query=query, k=4)]

    before = seen()
    hidden = CollectionFactory()
    for n in range(3):  # many pages with the same words, where the reader cannot look
        indexed_document(hidden, f"secret-{n}.pdf", ["Kestrel seals.", "Prototype ZX-9001 seals are checked."])

    assert seen() == before  # BM25's statistics are the reader's scope, not the table


def test_pages_group_a_documents_chunks_and_a_page_less_chunk_stands_alone() -> None:
    from ingest.pipeline.chunk import ChunkDraft, pages

    drafts = [
        ChunkDraft("Cover: Acme Inc.", 1, ""),
        ChunkDraft("Net sales 5,990.", 2, ""),
        ChunkDraft("Services 1,870.", 2, ""),
        ChunkDraft("Late text for the cover.", 1, ""),
        ChunkDraft("An e-mail body.", None, ""),
        ChunkDraft("Its signature.", None, ""),
    ]

    found = pages(drafts)

    assert [(p.number, p.ordinal, p.ordinals) for p in found] == [
        (1, 0, [0, 3]),
        (2, 1, [1, 2]),
        (None, 4, [4]),
        (None, 5, [5]),
    ]
    assert found[0].text == "Cover: Acme Inc.\nLate text for the cover." and found[0].words == 8
    assert pages([]) == []


def test_the_stored_pages_are_what_the_full_text_index_counts(reader: Any) -> None:
    collection = CollectionFactory(readers=[reader])
    document = indexed_document(collection, "bolts.pdf", ["Anchor bolt TC-4410-B.", "Anchor, anchor, ANCHOR; Ånchor."])
    scope = Document.objects.filter(pk=document.pk).order_by().values("pk").query.sql_with_params()
    page_two = document.pages.get(number=2)

    counts, words = lexical.page_counts(lexical.parse_query("anchor TC-4410-B"), scope)

    assert {t.term.tokens: t.counts for t in counts} == {
        ("anchor",): {document.pages.get(number=1).pk: 1, page_two.pk: 4},  # case and diacritics folded
        ("tc", "4410", "b"): {document.pages.get(number=1).pk: 1},
    }
    assert words[page_two.pk] == 4 and lexical.scope_statistics(scope).pages == 2
    assert lexical.pages_containing_all(lexical.parse_query('"bolt tc 4410"').required, scope) == {
        document.pages.get(number=1).pk
    }
    assert lexical.titles_containing(lexical.parse_query("BOLTS pdf anchor"), scope) == {
        ("bolts",): {document.pk},
        ("pdf",): {document.pk},
        ("anchor",): set(),
    }


def test_the_dense_leg_runs_in_its_own_thread_while_the_lexical_leg_reads_the_database(
    reader: Any, monkeypatch: Any
) -> None:
    import threading
    import time

    from search import evidence, retrieval

    collection = CollectionFactory(readers=[reader])
    indexed_document(collection, "maintenance/2024-east-span.pdf", [MAINTENANCE.format(part="TC-4410-B")])
    spans: dict[str, tuple[float, float, str]] = {}
    nearest, gather = retrieval._nearest, evidence.LexicalEvidence.gather

    def timed(name: str, call: Any) -> Any:
        def run(*args: Any) -> Any:
            started = time.monotonic()
            time.sleep(0.4)  # each leg slower than the other's whole run
            result = call(*args)
            spans[name] = (started, time.monotonic(), threading.current_thread().name)
            return result

        return run

    monkeypatch.setattr(retrieval, "_nearest", timed("dense", nearest))
    monkeypatch.setattr(evidence.LexicalEvidence, "gather", timed("lexical", gather))

    hits = chunks_search(user=reader, query="anchor bolt TC-4410-B", k=3)

    assert titles(hits)[0] == "2024-east-span.pdf" and set(hits[0].legs) == {"dense", "lexical"}
    (dense_start, dense_end, dense_thread), (lexical_start, lexical_end, lexical_thread) = (
        spans["dense"],
        spans["lexical"],
    )
    assert dense_thread.startswith("dense-leg") and lexical_thread == threading.current_thread().name
    assert dense_start < lexical_end and lexical_start < dense_end  # they overlapped


def test_with_no_dense_threads_the_legs_run_one_after_the_other_with_the_same_results(
    reader: Any, settings: Any, monkeypatch: Any
) -> None:
    import threading

    from search import retrieval

    collection = CollectionFactory(readers=[reader])
    indexed_document(collection, "maintenance/2024-east-span.pdf", [MAINTENANCE.format(part="TC-4410-B")])
    indexed_document(collection, "catalogue/bolts.pdf", DECOYS)
    threaded = chunks_search(user=reader, query="anchor bolt TC-4410-B", k=5)
    seen: list[str] = []
    nearest = retrieval._nearest
    monkeypatch.setattr(
        retrieval, "_nearest", lambda *a: (seen.append(threading.current_thread().name), nearest(*a))[1]
    )
    settings.SEARCH_DENSE_THREADS = 0

    inline = chunks_search(user=reader, query="anchor bolt TC-4410-B", k=5)

    assert seen == [threading.current_thread().name]
    assert [(h.chunk.pk, h.score, h.legs) for h in inline] == [(h.chunk.pk, h.score, h.legs) for h in threaded]
