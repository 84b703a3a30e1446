"""The leak probe: two users in two groups, each with a collection that holds documents with
distinctive words planted in their text. For every endpoint of the browser UI and of the API, alice
(signed in, and with an API token) asks for bob's objects and must get 404 (403 only where the app
deliberately says "forbidden": exports for non-compliance users, writes to a collection one may only
read); listings, search, answers, summaries and the audit trail never show bob's words, and do show
alice's own (so that a probe which finds nothing would fail). Filters cannot widen access, revoked
and expired tokens are refused, and writes into bob's collection store nothing.

The endpoint table is checked against the URL resolver: a new route (or a new method of an API
view) without a probe here, or an explicit entry in the allow-list of routes without user data,
fails `test_every_route_has_a_probe`.

The world is built once for the module (real embeddings, the real Chroma server, real PDF files)
inside a transaction rolled back at the end of the module; every test runs inside a savepoint that
is rolled back, so the probes that would change something (a revoked token, a deleted
conversation) leave the next test the same world.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from django.http import HttpResponseBase
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from compliance.comparisons import comparison_build, comparison_request
from compliance.extractions import extraction_build, extraction_request
from compliance.models import ComplianceRecord, ExtractionTemplate, Summary
from compliance.records import record_claim
from compliance.summaries import summary_build, summary_request
from ingest.models import Batch, BatchMember, Collection, Document
from search.models import Answer, Conversation
from tests.documents import make_pdf
from tests.factories import CollectionFactory, UserFactory, grant
from tests.search.asking import answer_question
from tests.search.corpus import indexed_document

# --- the two parties ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    username: str
    group: str
    word: str  # planted in the document text; alice types bob's in one probe, nobody types their own
    secret: str  # planted in the document text and never typed by anyone
    tag: str  # in the collection's, the document's and the batch's names; typed in the owner's question
    page_two: str  # the sentence that carries the planted words

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.word, self.secret, self.tag)

    @property
    def text_words(self) -> tuple[str, ...]:
        """What only the documents' text holds (the audit trail must never contain it)."""
        return (self.word, self.secret)


ALPHA = Party(
    username="alice",
    group="alpha-team",
    word="ZEPHYRQUARTZ-ALPHA",
    secret="SILENTHERONALPHA",
    tag="KINGFISHER",
    page_two="The emergency shutdown code for the alpha cooling pump is ZEPHYRQUARTZ-ALPHA, "
    "countersigned by SILENTHERONALPHA.",
)
BETA = Party(
    username="bob",
    group="beta-team",
    word="MORDANTVIOLET-BETA",
    secret="SILENTMARLINBETA",
    tag="TAMARIND",
    page_two="The vault combination for the beta archive room is MORDANTVIOLET-BETA, "
    "countersigned by SILENTMARLINBETA.",
)
OWN_QUESTION = {
    ALPHA: "What is the emergency shutdown code for the alpha cooling pump in the KINGFISHER report?",
    BETA: "What is the vault combination for the beta archive room in the TAMARIND ledger?",
}
# What alice types to go after bob's text: it names bob's subject (so that it would find his
# passage at once if the scope let it through) but none of his markers (so that an echo of the
# query in a response does not read as a leak).
PROBE_QUERY = "vault combination for the beta archive room"
PROBE_QUESTION = "What is the vault combination for the beta archive room?"


def pages_of(party: Party) -> list[list[str]]:
    return [
        [f"{party.tag} quarterly report", "Routine inspection notes for the plant room and its pumps."],
        ["Access codes", party.page_two],
    ]


@dataclass(frozen=True)
class Objects:
    """One user's objects: everything an endpoint can name by id."""

    collection: int
    document: int
    revision: int  # a second document: the one the owner's comparison compares with
    summary: int
    comparison: int
    extraction: int
    value: int  # one extracted value of the extraction
    template: int  # the built-in contract template (shared): foreign probes name the owner's documents
    conversation: int
    answer: int
    batch: int
    token_key: str  # a spare token of the owner's (revoking one's own answers 204/302)


GHOST = Objects(
    collection=2_000_000_001,
    document=2_000_000_002,
    revision=2_000_000_007,
    summary=2_000_000_003,
    comparison=2_000_000_008,
    extraction=2_000_000_009,
    value=2_000_000_010,
    template=2_000_000_011,
    conversation=2_000_000_004,
    answer=2_000_000_005,
    batch=2_000_000_006,
    token_key="ghostghostghost",
)


@dataclass
class World:
    alice: User
    bob: User
    carol: User  # employee only, reads alpha's collection through a grant to her as a user
    objects: dict[str, Objects]  # "alice", "bob"
    tokens: dict[str, str]  # username -> the secret of the user's main API token

    def web(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def api(self, username: str) -> APIClient:
        return bearer_client(self.tokens[username])


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_for(username: str) -> str:
    out = io.StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().strip()


def planted_document(collection: Collection, party: Party, user: User, media: Path) -> Document:
    """A ready PDF, indexed in-process (real embeddings, real Chroma), whose original is a real
    file under MEDIA_ROOT (so that the download and the page image work), in a batch of its own."""
    pages = pages_of(party)
    document = indexed_document(collection, f"reports/{party.tag}-report.pdf", ["\n\n".join(p) for p in pages])
    source = make_pdf(media / f"{party.tag}-report.pdf", pages)
    with source.open("rb") as handle:
        stored = default_storage.save(f"originals/{party.tag}/{source.name}", File(handle))
    batch = Batch.objects.create(collection=collection, name=f"{party.tag} upload", uploaded_by=user)
    BatchMember.objects.create(
        batch=batch,
        path=document.path,
        outcome=BatchMember.Outcome.INGESTED,
        document=document,
        size_bytes=source.stat().st_size,
    )
    Document.objects.filter(pk=document.pk).update(
        file=stored, size_bytes=source.stat().st_size, batch=batch, uploaded_by=user
    )
    document.refresh_from_db()
    return document


def made_in_process(record: ComplianceRecord, build: Any) -> Any:
    """Claim and make a queued record here (the world's transaction never commits, so no worker
    sees it; the worker path is tested in tests/compliance/test_compliance.py)."""
    claimed = record_claim(type(record), record.pk, "in-process")
    assert claimed is not None
    build(claimed, lambda *_: None)
    claimed.refresh_from_db()
    assert claimed.status == "done", claimed.error
    return claimed


def build_party(user: User, collection: Collection, party: Party, media: Path) -> Objects:
    document = planted_document(collection, party, user, media)
    revised = [[*page[:-1], page[-1] + " Revised after the audit."] for page in pages_of(party)]
    revision = indexed_document(collection, f"reports/{party.tag}-report-rev.pdf", ["\n\n".join(p) for p in revised])
    summary = made_in_process(summary_request(user=user, documents=[document]), summary_build)
    comparison = made_in_process(comparison_request(user=user, left=document, right=revision), comparison_build)
    template = ExtractionTemplate.objects.get(name="contract")
    extraction = made_in_process(
        extraction_request(user=user, template=template, documents=[document]), extraction_build
    )
    answer = answer_question(user=user, question=OWN_QUESTION[party])
    assert party.word in answer.text, "the world's own answers must quote the planted sentence"
    spare, _ = AuthToken.objects.create(user=user)
    return Objects(
        collection=collection.pk,
        document=document.pk,
        revision=revision.pk,
        summary=summary.pk,
        comparison=comparison.pk,
        extraction=extraction.pk,
        value=extraction.values.first().pk,
        template=template.pk,
        conversation=answer.conversation_id or 0,
        answer=answer.pk,
        batch=document.batch_id or 0,
        token_key=spare.token_key,
    )


@pytest.fixture(scope="module")
def world(
    django_db_setup: Any, django_db_blocker: Any, chroma_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """Built once, inside a transaction that stays open for the module (each test's own transaction
    is a savepoint in it) and is rolled back at the end, as Django's TestCase does with
    setUpTestData: the database is left exactly as it was found (a flush would also remove what
    the data migrations created: the role groups, the audit chain head)."""
    from backends.llm import get_llm
    from backends.vectorstore import get_vector_store

    media = tmp_path_factory.mktemp("leak-probe-media")
    module_settings = override_settings(MEDIA_ROOT=str(media), LLM_BASE_URL="")
    module_settings.enable()
    get_llm.cache_clear()  # extractive answers and summaries: no model configured
    outer = transaction.atomic()
    collections: list[int] = []
    with django_db_blocker.unblock():
        outer.__enter__()
    try:
        with django_db_blocker.unblock():
            alpha_team, beta_team = Group.objects.create(name=ALPHA.group), Group.objects.create(name=BETA.group)
            alice = UserFactory(username=ALPHA.username, roles=["employee", "compliance"])
            bob = UserFactory(username=BETA.username, roles=["employee", "compliance"])
            carol = UserFactory(username="carol", roles=["employee"])
            alice.groups.add(alpha_team)
            bob.groups.add(beta_team)
            alpha = CollectionFactory(name=f"Alpha ledger {ALPHA.tag}", readers=[alpha_team])
            beta = CollectionFactory(name=f"Beta ledger {BETA.tag}", readers=[beta_team])
            grant(alpha, carol)
            collections += [alpha.pk, beta.pk]
            objects = {
                "alice": build_party(alice, alpha, ALPHA, media),
                "bob": build_party(bob, beta, BETA, media),
            }
            tokens = {name: token_for(name) for name in ("alice", "bob", "carol")}
            world = World(alice=alice, bob=bob, carol=carol, objects=objects, tokens=tokens)
            # Some of bob's own activity for the audit trail (none of it types his planted words).
            bob_web = world.web(bob)
            assert bob_web.get(reverse("search"), {"q": "archive room countersigned"}).status_code == 200
            export = bob_web.get(reverse("summary-export", args=[objects["bob"].summary, "md"]))
            assert export.status_code == 200 and BETA.word in export.content.decode()
        yield world
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            store = get_vector_store()
            for collection_id in collections:
                store.drop_collection(collection_id)
        module_settings.disable()
        get_llm.cache_clear()


@pytest.fixture
def probe_world(world: World, db: Any) -> World:
    """The world, inside a transaction rolled back after the test."""
    for user in (world.alice, world.bob, world.carol):
        user.__dict__.pop("_role_names", None)
    return world


# --- reading responses -------------------------------------------------------------------------------


def body_text(response: HttpResponseBase) -> str:
    """Everything a response says, as text: streamed bodies read to the end, PDFs with their text."""
    # A streamed body is read to the end: the test client then closes the response itself (closing
    # it again here would send request_finished, which closes the database connection under the test).
    streamed = getattr(response, "streaming", False)
    raw = b"".join(response.streaming_content) if streamed else response.content  # type: ignore[attr-defined]
    text = raw.decode("utf-8", errors="replace")
    if raw.startswith(b"%PDF"):
        from pypdf import PdfReader

        text += "\n" + "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(raw)).pages)
    elif raw.startswith(b"PK"):  # DOCX or XLSX: read what the zip's XML says
        import zipfile

        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            text += "\n".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    return text


def assert_shows_nothing_of(party: Party, text: str, where: str) -> None:
    lowered = text.lower()
    for marker in party.markers:
        assert marker.lower() not in lowered, f"{where}: {party.username}'s {marker!r} leaked"


def assert_shows(party: Party, what: str, text: str, where: str) -> None:
    marker = getattr(party, what)
    assert marker in text, f"{where}: {party.username}'s own {marker!r} is missing (the probe could never fail)"


def assert_bobs_world_intact(world: World) -> None:
    """Nothing alice tried changed bob's objects."""
    bob = world.objects["bob"]
    document = Document.objects.get(pk=bob.document)
    assert document.status == Document.Status.READY and document.chunks.count() == 2
    assert Batch.objects.get(pk=bob.batch).status == Batch.Status.PROCESSING
    assert Summary.objects.filter(pk=bob.summary).exists()
    assert Conversation.objects.filter(pk=bob.conversation, owner=world.bob).exists()
    assert Answer.objects.filter(pk=bob.answer, conversation_id=bob.conversation).exists()
    assert AuthToken.objects.filter(token_key=bob.token_key, user=world.bob).exists()


# --- (a) naming bob's objects -------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A request that names one user's object. `args` and `data` values starting with "@" are
    attributes of `Objects` (the document id, the summary id...)."""

    route: str
    method: str = "get"
    args: tuple[object, ...] = ()
    data: tuple[tuple[str, object], ...] = ()
    api: bool = False
    own_status: int = 200  # when alice names her own object
    shows: str | None = "word"  # which of alice's markers her own response shows (None: nothing to show)

    @property
    def id(self) -> str:
        extra = "".join(f",{a}" for a in self.args if not str(a).startswith("@"))
        return f"{'api' if self.api else 'ui'}:{self.method.upper()}:{self.route}{extra}"

    def url(self, objects: Objects) -> str:
        return reverse(self.route, args=[resolve(a, objects) for a in self.args])

    def payload(self, objects: Objects) -> dict[str, object]:
        return {key: resolve(value, objects) for key, value in self.data}


def resolve(value: object, objects: Objects) -> object:
    if isinstance(value, list):
        return [resolve(v, objects) for v in value]
    return getattr(objects, value[1:]) if isinstance(value, str) and value.startswith("@") else value


def send(client: Client, probe: Probe, objects: Objects) -> HttpResponseBase:
    url, data = probe.url(objects), probe.payload(objects)
    request = getattr(client, probe.method)
    if probe.api and probe.method != "get":
        return request(url, data, format="json")  # type: ignore[no-any-return]
    return request(url, data)  # type: ignore[no-any-return]


# Foreign objects always answer 404 (as an id that does not exist does); the own column says what
# the same request answers for alice's own object: 403 where alice may only read the collection
# (delete, retry, cancel: a deliberate "forbidden" for what she can see), 302/204 where it acts.
OBJECT_PROBES = [
    # conversations and answers: private to their owner
    Probe("conversation", args=("@conversation",)),
    Probe("conversation-delete", "post", args=("@conversation",), own_status=302, shows=None),
    Probe("answer-turn", args=("@answer",)),
    Probe("answer-stream", args=("@answer",)),
    Probe(
        "ask",
        "post",
        data=(("question", OWN_QUESTION[ALPHA]), ("conversation", "@conversation")),
        own_status=302,
        shows=None,
    ),
    Probe("api-conversation", args=("@conversation",), api=True),
    Probe("api-conversation", "delete", args=("@conversation",), api=True, own_status=204, shows=None),
    Probe("api-ask", "post", data=(("question", OWN_QUESTION[ALPHA]), ("conversation", "@conversation")), api=True),
    # documents
    Probe("document-detail", args=("@document",), shows="tag"),
    Probe("document-status", args=("@document",), shows=None),
    Probe("document-original", args=("@document",)),
    Probe("document-page", args=("@document", 2)),
    Probe("document-page-image", args=("@document", 2), shows=None),
    Probe("document-delete", "post", args=("@document",), own_status=403, shows=None),
    Probe("document-retry", "post", args=("@document",), own_status=403, shows=None),
    Probe("api-document", args=("@document",), api=True, shows="tag"),
    Probe("api-document", "delete", args=("@document",), api=True, own_status=403, shows=None),
    Probe("api-document-retry", "post", args=("@document",), api=True, own_status=403, shows=None),
    # summaries, comparisons, extractions and their exports (alice is a compliance officer: her own
    # exports answer 200); asking for them names documents, which must be readable
    Probe("summary-create", "post", data=(("document", "@document"),), own_status=302, shows=None),
    Probe("summary-detail", args=("@summary",)),
    Probe("summary-export", args=("@summary", "md")),
    Probe("summary-export", args=("@summary", "pdf")),
    Probe("summary-export", args=("@summary", "docx")),
    Probe("api-summaries", "post", data=(("documents", ["@document"]),), api=True, own_status=202, shows="tag"),
    Probe("api-summary", args=("@summary",), api=True),
    Probe("api-summary-export", args=("@summary", "md"), api=True),
    Probe("api-summary-export", args=("@summary", "pdf"), api=True),
    Probe(
        "comparison-create", "post", data=(("left", "@document"), ("right", "@revision")), own_status=302, shows=None
    ),
    Probe("comparison-detail", args=("@comparison",)),
    Probe("comparison-export", args=("@comparison", "md")),
    Probe("comparison-export", args=("@comparison", "csv")),
    Probe("comparison-export", args=("@comparison", "xlsx")),
    Probe("comparison-export", args=("@comparison", "docx")),
    Probe(
        "api-comparisons",
        "post",
        data=(("left", "@document"), ("right", "@revision")),
        api=True,
        own_status=202,
        shows="tag",
    ),
    Probe("api-comparison", args=("@comparison",), api=True),
    Probe("api-comparison-export", args=("@comparison", "pdf"), api=True),
    Probe(
        "extraction-create",
        "post",
        data=(("template", "@template"), ("document", "@document")),
        own_status=302,
        shows=None,
    ),
    Probe("extraction-detail", args=("@extraction",), shows="tag"),
    Probe(
        "extraction-review",
        "post",
        args=("@extraction", "@value"),
        data=(("action", "approved"),),
        own_status=302,
        shows=None,
    ),
    Probe("extraction-export", args=("@extraction", "csv"), shows="tag"),
    Probe("extraction-export", args=("@extraction", "xlsx"), shows="tag"),
    Probe(
        "api-extractions",
        "post",
        data=(("template", "@template"), ("documents", ["@document"])),
        api=True,
        own_status=202,
        shows="tag",
    ),
    Probe("api-extraction", args=("@extraction",), api=True, shows="tag"),
    Probe(
        "api-extraction-review",
        "post",
        args=("@extraction", "@value"),
        data=(("action", "approved"),),
        api=True,
        shows=None,
    ),
    Probe("api-extraction-export", args=("@extraction", "pdf"), api=True, shows="tag"),
    Probe("answer-export", args=("@answer", "md")),
    Probe("api-answer-export", args=("@answer", "docx"), api=True),
    Probe("conversation-export", args=("@conversation", "pdf")),
    Probe("api-conversation-export", args=("@conversation", "md"), api=True),
    # batches
    Probe("batch-detail", args=("@batch",), shows="tag"),
    Probe("batch-progress", args=("@batch",), shows=None),
    Probe("batch-cancel", "post", args=("@batch",), own_status=403, shows=None),
    Probe("batch-retry", "post", args=("@batch",), own_status=403, shows=None),
    Probe("api-batch", args=("@batch",), api=True, shows="tag"),
    Probe("api-batch-cancel", "post", args=("@batch",), api=True, own_status=403, shows=None),
    Probe("api-batch-retry", "post", args=("@batch",), api=True, own_status=403, shows=None),
    # tokens (by token_key, which is not a secret: it is shown in the token list and the audit trail)
    Probe("token-revoke", "post", args=("@token_key",), own_status=302, shows=None),
    Probe("api-token", "delete", args=("@token_key",), api=True, own_status=204, shows=None),
]


def alice_client(world: World, probe: Probe) -> Client:
    return world.api("alice") if probe.api else world.web(world.alice)


@pytest.mark.parametrize("probe", OBJECT_PROBES, ids=lambda p: p.id)
def test_alice_naming_bobs_object_gets_404_like_an_id_that_does_not_exist(probe_world: World, probe: Probe) -> None:
    client = alice_client(probe_world, probe)

    foreign = send(client, probe, probe_world.objects["bob"])
    foreign_text = body_text(foreign)
    ghost = send(client, probe, GHOST)
    ghost_text = body_text(ghost)

    assert foreign.status_code == 404, foreign_text[:500]
    assert ghost.status_code == 404
    assert foreign_text == ghost_text  # not even the wording tells bob's ids from unused ones
    assert_shows_nothing_of(BETA, foreign_text, probe.id)
    assert_bobs_world_intact(probe_world)


@pytest.mark.parametrize("probe", OBJECT_PROBES, ids=lambda p: p.id)
def test_the_same_request_for_alices_own_object_answers_so_the_probe_can_fail(probe_world: World, probe: Probe) -> None:
    response = send(alice_client(probe_world, probe), probe, probe_world.objects["alice"])
    text = body_text(response)

    assert response.status_code == probe.own_status, text[:500]
    if probe.shows:
        assert_shows(ALPHA, probe.shows, text, probe.id)
    assert_shows_nothing_of(BETA, text, probe.id)
    if probe.own_status == 403:  # refused for a reader: nothing changed
        alice = probe_world.objects["alice"]
        assert Document.objects.filter(pk=alice.document, status=Document.Status.READY).exists()
        assert Document.objects.get(pk=alice.document).chunks.count() == 2
        assert Batch.objects.get(pk=alice.batch).status == Batch.Status.PROCESSING


# --- (b) listings, search and answers -----------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    route: str
    method: str = "get"
    data: tuple[tuple[str, object], ...] = ()
    api: bool = False
    shows: str = "word"

    @property
    def id(self) -> str:
        return f"{'api' if self.api else 'ui'}:{self.method.upper()}:{self.route}"


LISTINGS = [
    Listing("search", data=(("q", PROBE_QUERY),)),
    Listing("api-search", data=(("q", PROBE_QUERY),), api=True),
    Listing("api-ask", "post", data=(("question", PROBE_QUESTION),), api=True),  # the closest passages are alice's
    Listing("ask", shows="tag"),  # the conversation list: alice's question names her tag
    Listing("api-conversations", api=True, shows="tag"),
    Listing("documents", shows="tag"),
    Listing("documents-table", shows="tag"),
    Listing("api-documents", api=True, shows="tag"),
    Listing("api-collections", api=True, shows="tag"),
    Listing("batches", shows="tag"),
    Listing("api-batches", api=True, shows="tag"),
    Listing("compliance", shows="tag"),
    Listing("api-summaries", api=True, shows="tag"),
    Listing("api-comparisons", api=True, shows="tag"),
    Listing("api-extractions", api=True, shows="tag"),
]


@pytest.mark.parametrize("listing", LISTINGS, ids=lambda p: p.id)
def test_listings_show_alices_own_and_nothing_of_bobs(probe_world: World, listing: Listing) -> None:
    client: Client = probe_world.api("alice") if listing.api else probe_world.web(probe_world.alice)
    data = dict(listing.data)
    url = reverse(listing.route)
    if listing.api and listing.method != "get":
        response = getattr(client, listing.method)(url, data, format="json")
    else:
        response = getattr(client, listing.method)(url, data)
    text = body_text(response)

    assert response.status_code == 200, text[:500]
    assert_shows(ALPHA, listing.shows, text, listing.id)
    assert_shows_nothing_of(BETA, text, listing.id)


def test_the_probe_query_and_question_do_find_bobs_text_for_bob(probe_world: World) -> None:
    """The control: the words alice probes with reach bob's passage at once when one may read it."""
    bob = probe_world.api("bob")

    found = bob.get(reverse("api-search"), {"q": PROBE_QUERY}).json()["results"]
    answered = bob.post(reverse("api-ask"), {"question": PROBE_QUESTION}, format="json").json()

    assert found[0]["document_id"] == probe_world.objects["bob"].document and BETA.word in found[0]["text"]
    assert answered["supported"] and BETA.word in answered["answer"]
    assert_shows_nothing_of(ALPHA, json.dumps(found) + json.dumps(answered), "bob's own search")


def test_a_search_for_bobs_exact_planted_word_finds_only_alices_passages(probe_world: World) -> None:
    found = probe_world.api("alice").get(reverse("api-search"), {"q": BETA.word}).json()["results"]
    page = body_text(probe_world.web(probe_world.alice).get(reverse("search"), {"q": BETA.word}))

    assert found and {r["collection_id"] for r in found} == {probe_world.objects["alice"].collection}
    for result in found:
        assert_shows_nothing_of(BETA, json.dumps(result), "api search result")
    # The page echoes the typed word ("No passages match …" or the query box); the passage bob's
    # word lives in carries his secret word and his tag, which must not be there.
    for marker in (BETA.secret, BETA.tag):
        assert marker.lower() not in page.lower()


def test_a_summary_of_a_folder_selects_only_documents_alice_may_read(probe_world: World) -> None:
    alice, bob = probe_world.objects["alice"], probe_world.objects["bob"]
    api = probe_world.api("alice")

    own = api.post(reverse("api-summaries"), {"collection": alice.collection, "folder": "reports"}, format="json")
    foreign = api.post(reverse("api-summaries"), {"collection": bob.collection, "folder": "reports"}, format="json")

    assert own.status_code == 202 and {d["document_id"] for d in own.json()["documents"]} == {
        alice.document,
        alice.revision,
    }
    assert foreign.status_code == 404
    assert_shows_nothing_of(BETA, body_text(own) + body_text(foreign), "folder summary")


def test_a_record_made_from_a_document_alice_can_no_longer_read_is_withheld(probe_world: World) -> None:
    """Summaries quote their documents: when access to one of them goes, so does the record."""
    alice = probe_world.objects["alice"]
    Collection.objects.get(pk=alice.collection).access.all().delete()
    web, api = probe_world.web(probe_world.alice), probe_world.api("alice")

    assert web.get(reverse("summary-detail", args=[alice.summary])).status_code == 404
    assert web.get(reverse("comparison-detail", args=[alice.comparison])).status_code == 404
    assert api.get(reverse("api-extraction", args=[alice.extraction])).status_code == 404
    assert ALPHA.word not in body_text(web.get(reverse("compliance")))


# --- (c) filters cannot widen access ------------------------------------------------------------------

FILTERS = {
    "bobs-collection": lambda o: {"collection": [o["bob"].collection]},
    "bobs-document": lambda o: {"document": [o["bob"].document]},
    "bobs-and-alices-collections": lambda o: {"collection": [o["bob"].collection, o["alice"].collection]},
    "alices-collection-bobs-document": lambda o: {
        "collection": [o["alice"].collection],
        "document": [o["bob"].document],
    },
}


@pytest.mark.parametrize("name", FILTERS)
def test_search_filters_naming_bobs_ids_return_nothing_of_bobs(probe_world: World, name: str) -> None:
    params = {"q": PROBE_QUERY, **FILTERS[name](probe_world.objects)}

    api = probe_world.api("alice").get(reverse("api-search"), params)
    web = probe_world.web(probe_world.alice).get(reverse("search"), params)

    results = api.json()["results"]
    assert api.status_code == web.status_code == 200
    assert {r["collection_id"] for r in results} <= {probe_world.objects["alice"].collection}
    assert_shows_nothing_of(BETA, json.dumps(results), f"api search {name}")
    assert_shows_nothing_of(BETA, body_text(web), f"search page {name}")
    if name == "bobs-and-alices-collections":
        assert results and ALPHA.word in json.dumps(results)  # alice's half of the filter still works


def test_a_user_who_may_read_no_collection_finds_nothing_rather_than_an_error(probe_world: World) -> None:
    newcomer = UserFactory(username="newcomer", roles=["employee"])
    api = APIClient()
    api.force_authenticate(newcomer)
    web = probe_world.web(newcomer)

    found = api.get(reverse("api-search"), {"q": PROBE_QUERY})
    page = web.get(reverse("search"), {"q": PROBE_QUERY})

    assert found.status_code == page.status_code == 200
    assert found.json()["results"] == []
    for party in (ALPHA, BETA):
        assert_shows_nothing_of(party, body_text(page), "a newcomer's search")


@pytest.mark.parametrize("name", FILTERS)
def test_ask_filters_naming_bobs_ids_quote_nothing_of_bobs(probe_world: World, name: str) -> None:
    chosen = FILTERS[name](probe_world.objects)
    body: dict[str, Any] = {"question": PROBE_QUESTION, "collections": chosen.get("collection", [])}
    if "document" in chosen:
        body["filters"] = {"document": chosen["document"]}

    response = probe_world.api("alice").post(reverse("api-ask"), body, format="json")

    assert response.status_code == 200, response.content
    assert_shows_nothing_of(BETA, body_text(response), f"api ask {name}")
    quoted = response.json()["citations"] + response.json()["closest"]
    alice = probe_world.objects["alice"]
    assert {c["document_id"] for c in quoted} <= {alice.document, alice.revision}


@pytest.mark.parametrize("name", [None, *FILTERS])
def test_asking_in_the_browser_never_quotes_bobs_documents(probe_world: World, name: str | None) -> None:
    web = probe_world.web(probe_world.alice)
    chosen = FILTERS[name](probe_world.objects) if name else {}

    asked = web.post(reverse("ask"), {"question": PROBE_QUESTION, **chosen})
    answer = Answer.objects.filter(user=probe_world.alice).latest("pk")
    texts = {
        "stream": body_text(web.get(reverse("answer-stream", args=[answer.pk]))),
        "turn": body_text(web.get(reverse("answer-turn", args=[answer.pk]))),
        "conversation": body_text(web.get(asked["Location"])),
    }

    assert asked.status_code == 302 and asked["Location"] == reverse("conversation", args=[answer.conversation_id])
    for where, text in texts.items():
        assert_shows_nothing_of(BETA, text, f"ask {name}: {where}")
    if name is None:  # unfiltered, the closest passages are alice's own
        assert ALPHA.word in texts["turn"]


# --- (d) the audit trail ------------------------------------------------------------------------------
#
# The rule: the audit trail is the organisation's record, so a compliance officer sees the entries of
# every user (that is their job), whichever collections they may read. It records identifiers and
# hashes, never document text: no planted word (they come from documents) appears in it. What it does
# record verbatim is what people typed (search queries, questions): a word appears in the trail only
# inside the query or question of the user who typed it.


def audit_csv(client: Client, **params: str) -> list[dict[str, str]]:
    response = client.get(reverse("audit:export"), params)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(body_text(response))))


def test_a_compliance_officer_sees_every_users_entries_and_no_document_text(probe_world: World) -> None:
    web = probe_world.web(probe_world.alice)

    rows = audit_csv(web)
    page = body_text(web.get(reverse("audit:events"), {"actor": "bob"}))
    everything = json.dumps(rows) + page

    actors = {row["actor"] for row in rows}
    assert {"alice", "bob"} <= actors
    assert {("bob", "question"), ("bob", "search"), ("bob", "export")} <= {(r["actor"], r["action"]) for r in rows}
    assert OWN_QUESTION[BETA] in everything  # bob's typed question: the record of what he asked
    for party in (ALPHA, BETA):
        for word in party.text_words:
            assert word.lower() not in everything.lower(), f"document text {word!r} in the audit trail"


def test_a_typed_query_appears_in_the_trail_only_as_the_typists_query(probe_world: World) -> None:
    searched = probe_world.api("alice").get(reverse("api-search"), {"q": BETA.word})
    assert searched.status_code == 200

    rows = audit_csv(probe_world.web(probe_world.alice))

    mentioning = [r for r in rows if BETA.word in json.dumps(r)]
    assert mentioning, "the search was not recorded"
    for row in mentioning:
        assert (row["actor"], row["action"], json.loads(row["details"])["query"]) == ("alice", "search", BETA.word)
    assert not [r for r in rows if BETA.secret in json.dumps(r)]


@pytest.mark.parametrize("route", ["audit:events", "audit:export"])
def test_an_employee_without_the_compliance_role_gets_403_on_the_audit_trail(probe_world: World, route: str) -> None:
    assert probe_world.web(probe_world.carol).get(reverse(route)).status_code == 403


# --- exports: compliance officers only ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "pdf"])
@pytest.mark.parametrize("route,api", [("summary-export", False), ("api-summary-export", True)])
def test_exports_are_403_for_a_reader_without_the_compliance_role_and_404_for_others_summaries(
    probe_world: World, route: str, api: bool, fmt: str
) -> None:
    """carol reads alpha's collection through a grant to her as a user: she sees alice's summary
    (so the export answers the deliberate 403 "exports are for compliance officers") but not bob's."""
    client: Client = probe_world.api("carol") if api else probe_world.web(probe_world.carol)

    own_collection = client.get(reverse(route, args=[probe_world.objects["alice"].summary, fmt]))
    foreign = client.get(reverse(route, args=[probe_world.objects["bob"].summary, fmt]))

    assert own_collection.status_code == 403
    assert foreign.status_code == 404
    for response in (own_collection, foreign):
        text = body_text(response)
        assert_shows_nothing_of(BETA, text, route)
        assert ALPHA.word not in text


def test_a_direct_user_grant_reads_the_collection_and_nothing_else(probe_world: World) -> None:
    results = probe_world.api("carol").get(reverse("api-search"), {"q": PROBE_QUERY}).json()["results"]
    page = body_text(probe_world.web(probe_world.carol).get(reverse("search"), {"q": PROBE_QUERY}))

    assert results and {r["collection_id"] for r in results} == {probe_world.objects["alice"].collection}
    assert ALPHA.word in page
    assert_shows_nothing_of(BETA, json.dumps(results) + page, "carol's search")


# --- tokens -------------------------------------------------------------------------------------------


def test_alices_token_lists_and_the_token_page_show_only_her_own_tokens(probe_world: World) -> None:
    mine = set(AuthToken.objects.filter(user=probe_world.alice).values_list("token_key", flat=True))
    bobs = set(AuthToken.objects.filter(user=probe_world.bob).values_list("token_key", flat=True))

    created = probe_world.api("alice").post(reverse("api-tokens"), {}, format="json")
    listed = {t["token_key"] for t in probe_world.api("alice").get(reverse("api-tokens")).json()["results"]}
    page = body_text(probe_world.web(probe_world.alice).get(reverse("tokens")))

    assert created.status_code == 201
    assert AuthToken.objects.get(token_key=created.json()["token_key"]).user == probe_world.alice
    assert listed == mine | {created.json()["token_key"]}
    assert all(key in page for key in mine)
    assert not any(key in page for key in bobs)


def _revoke_by_api(world: World, token_key: str) -> int:
    return world.api("alice").delete(reverse("api-token", args=[token_key])).status_code


def _revoke_in_the_browser(world: World, token_key: str) -> int:
    return world.web(world.alice).post(reverse("token-revoke", args=[token_key])).status_code


@pytest.mark.parametrize("revoke", [_revoke_by_api, _revoke_in_the_browser], ids=["api", "browser"])
def test_a_revoked_token_is_refused(probe_world: World, revoke: Any) -> None:
    instance, secret = AuthToken.objects.create(user=probe_world.alice)
    client = bearer_client(secret)
    assert client.get(reverse("api-collections")).status_code == 200

    assert revoke(probe_world, instance.token_key) in (204, 302)

    assert client.get(reverse("api-collections")).status_code == 401
    assert client.get(reverse("api-search"), {"q": PROBE_QUERY}).status_code == 401


def test_bobs_token_still_works_after_alice_tried_to_revoke_it(probe_world: World) -> None:
    bobs_main = AuthToken.objects.filter(user=probe_world.bob).exclude(token_key=probe_world.objects["bob"].token_key)
    assert bobs_main.count() == 1

    assert _revoke_by_api(probe_world, bobs_main.get().token_key) == 404
    assert _revoke_in_the_browser(probe_world, bobs_main.get().token_key) == 404

    assert probe_world.api("bob").get(reverse("api-collections")).status_code == 200


def test_an_expired_token_is_refused(probe_world: World) -> None:
    _, secret = AuthToken.objects.create(probe_world.alice, expiry=datetime.timedelta(seconds=-1))

    assert bearer_client(secret).get(reverse("api-collections")).status_code == 401


def test_the_token_of_a_deactivated_user_is_refused(probe_world: World) -> None:
    User.objects.filter(pk=probe_world.alice.pk).update(is_active=False)

    assert probe_world.api("alice").get(reverse("api-collections")).status_code == 401


def test_alices_token_carries_her_permissions_and_never_more(probe_world: World) -> None:
    api = probe_world.api("alice")
    collections = {c["id"] for c in api.get(reverse("api-collections")).json()}
    documents = {d["id"] for d in api.get(reverse("api-documents")).json()}

    assert collections == {probe_world.objects["alice"].collection}
    assert documents == {probe_world.objects["alice"].document, probe_world.objects["alice"].revision}


# --- writes -------------------------------------------------------------------------------------------


def stored_files() -> set[str]:
    from django.conf import settings

    return {os.path.join(root, name) for root, _, names in os.walk(settings.MEDIA_ROOT) for name in names}


@pytest.fixture
def nothing_stored(probe_world: World) -> Iterator[None]:
    """Whatever the test tries, no document, batch, collection or file appears."""
    before = (Document.objects.count(), Batch.objects.count(), set(Collection.objects.values_list("name", flat=True)))
    files = stored_files()
    yield
    after = (Document.objects.count(), Batch.objects.count(), set(Collection.objects.values_list("name", flat=True)))
    assert after == before
    assert stored_files() == files


def upload(client: Client, api: bool, collection: object) -> HttpResponseBase:
    file = SimpleUploadedFile("intruder.txt", b"An intruder's text.", content_type="text/plain")
    if api:
        return client.post(reverse("api-documents"), {"file": [file], "collection": collection}, format="multipart")
    return client.post(reverse("documents"), {"file": [file], "collection": collection})


def upload_message(response: HttpResponseBase, client: Client) -> str:
    """What the upload answered: the API's detail, or the message the browser is redirected to."""
    if isinstance(client, APIClient):
        return str(response.json()["detail"])  # type: ignore[attr-defined]
    assert response.status_code == 302 and response["Location"] == reverse("documents")
    shown = client.get(response["Location"])
    return " ".join(str(m) for m in shown.context["messages"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("api", [True, False], ids=["api", "browser"])
def test_uploading_into_bobs_collection_by_id_is_404_and_stores_nothing(
    probe_world: World, nothing_stored: None, api: bool
) -> None:
    client = probe_world.api("alice") if api else probe_world.web(probe_world.alice)

    assert upload(client, api, probe_world.objects["bob"].collection).status_code == 404
    assert upload(client, api, GHOST.collection).status_code == 404


@pytest.mark.parametrize("api", [True, False], ids=["api", "browser"])
def test_uploading_into_bobs_collection_by_name_answers_as_for_a_name_that_does_not_exist(
    probe_world: World, nothing_stored: None, api: bool
) -> None:
    """By name, bob's collection must be indistinguishable from an unknown one (which a non-admin
    may not create): same status, same words, nothing stored."""
    client = probe_world.api("alice") if api else probe_world.web(probe_world.alice)
    bobs_name = Collection.objects.get(pk=probe_world.objects["bob"].collection).name

    bobs = upload(client, api, bobs_name)
    said_for_bobs = upload_message(bobs, client)
    unknown = upload(client, api, "A collection nobody created")
    said_for_unknown = upload_message(unknown, client)

    assert bobs.status_code == unknown.status_code == (403 if api else 302)
    assert said_for_bobs == said_for_unknown
    assert BETA.tag not in said_for_bobs


@pytest.mark.parametrize("api", [True, False], ids=["api", "browser"])
@pytest.mark.parametrize("by", ["id", "name"])
def test_uploading_into_a_collection_one_may_only_read_is_403(
    probe_world: World, nothing_stored: None, api: bool, by: str
) -> None:
    client = probe_world.api("alice") if api else probe_world.web(probe_world.alice)
    alpha = Collection.objects.get(pk=probe_world.objects["alice"].collection)

    response = upload(client, api, str(alpha.pk) if by == "id" else alpha.name)

    assert response.status_code == (403 if api else 302)
    assert "not upload into it" in upload_message(response, client)


@pytest.mark.parametrize("api", [True, False], ids=["api", "browser"])
@pytest.mark.parametrize("collection", ["A brand new collection", ""], ids=["new-name", "default"])
def test_a_non_admin_creates_no_collection_by_uploading(
    probe_world: World, nothing_stored: None, api: bool, collection: str
) -> None:
    client = probe_world.api("alice") if api else probe_world.web(probe_world.alice)

    response = upload(client, api, collection)

    assert response.status_code == (403 if api else 302)
    assert "Only admins create collections" in upload_message(response, client)


# --- every route has a probe --------------------------------------------------------------------------

# Routes without user data, or not reachable by a user who is neither staff nor signed in.
ALLOWED_WITHOUT_PROBE = {
    "login": "the sign-in form: no data",
    "logout": "signing out: no data",
    "healthz": "a fixed {'status': 'ok'}",
    "api-schema": "the OpenAPI description of the endpoints: no data",
}
ALLOWED_NAMESPACES = {
    "admin": "the Django admin: staff (admins) only, and admins manage every collection",
    "oidc": "single sign-on redirects (only when OIDC is enabled): no data",
}
# Routes and methods probed by the dedicated tests above rather than by the tables.
PROBED_ELSEWHERE = {
    ("audit:events", "get"): "test_a_compliance_officer_sees_every_users_entries_and_no_document_text",
    ("audit:export", "get"): "test_a_compliance_officer_sees_every_users_entries_and_no_document_text",
    ("documents", "post"): "test_uploading_into_bobs_collection_*",
    ("api-documents", "post"): "test_uploading_into_bobs_collection_*",
    ("ask", "post"): "test_asking_in_the_browser_never_quotes_bobs_documents",
    ("api-tokens", "get"): "test_alices_token_lists_and_the_token_page_show_only_her_own_tokens",
    ("api-tokens", "post"): "test_alices_token_lists_and_the_token_page_show_only_her_own_tokens",
    ("tokens", "get"): "test_alices_token_lists_and_the_token_page_show_only_her_own_tokens",
    ("extraction-templates", "get"): "tests/compliance/test_compliance.py (templates hold no document data)",
    ("extraction-templates", "post"): "tests/compliance/test_compliance.py (templates hold no document data)",
    ("api-extraction-templates", "get"): "templates hold no document data; compliance officers only",
    ("api-extraction-templates", "post"): "templates hold no document data; compliance officers only",
}
API_METHODS = ("get", "post", "put", "patch", "delete")


def all_routes() -> tuple[dict[str, Any], list[str]]:
    """Every named route (namespaced as `reverse` names it) with its view, and the unnamed ones."""
    named: dict[str, Any] = {}
    unnamed: list[str] = []

    def walk(patterns: list[Any], namespace: str, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, inner, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                if pattern.name:
                    named[namespace + pattern.name] = pattern.callback
                else:
                    unnamed.append(f"{namespace}{prefix}{pattern.pattern}")

    walk(get_resolver().url_patterns, "", "")
    return named, unnamed


def probed() -> set[tuple[str, str]]:
    pairs = {(p.route, p.method) for p in OBJECT_PROBES} | {(p.route, p.method) for p in LISTINGS}
    return pairs | set(PROBED_ELSEWHERE)


def test_every_route_has_a_probe() -> None:
    named, unnamed = all_routes()

    def allowed(name: str) -> bool:
        return name in ALLOWED_WITHOUT_PROBE or (":" in name and name.split(":", 1)[0] in ALLOWED_NAMESPACES)

    probed_routes = {route for route, _ in probed()}
    missing = sorted(name for name in named if not allowed(name) and name not in probed_routes)
    assert not missing, f"routes without a leak probe (add one to OBJECT_PROBES / LISTINGS): {missing}"
    assert not [u for u in unnamed if u.split(":", 1)[0] not in ALLOWED_NAMESPACES], unnamed
    assert probed_routes <= set(named), "a probe names a route that does not exist"
    # Each method of each API view is probed, not just one of them.
    for name, callback in named.items():
        view_class = getattr(callback, "cls", None)
        if allowed(name) or view_class is None:
            continue
        methods = {m for m in API_METHODS if hasattr(view_class, m)}
        unprobed = {m for m in methods if (name, m) not in probed()}
        assert not unprobed, f"{name}: methods {sorted(unprobed)} have no leak probe"
