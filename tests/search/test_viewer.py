"""The page viewer: the cited passage found on a rendered PDF page and painted on it, and the
views that serve the image and the page around it."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy
import pytest
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from ingest.models import Chunk, Collection, Document
from search.api import page_url
from search.viewer import Box, PageUnavailable, passage_boxes, render_page_png
from tests.documents import make_pdf
from tests.factories import CollectionFactory

PLANTED = "The torque value for anchor bolt TC-4410-B is 42 newton metres."
FOLLOWING = "Specifications for the fixings follow the maintenance schedule."
PAGES = [
    ["Bridge Maintenance Manual", "This manual covers routine inspection of steel bridges."],
    ["Fastener Specifications", PLANTED, FOLLOWING],
    ["Painting", "Repaint the girders every twelve years with a zinc-rich primer."],
]
# Where make_pdf draws on an A4 page (595.28 x 841.89 pt, origin bottom-left): lines start at
# x=60; the heading's baseline is at y=780, the next line's at 756, the one after at 740.
A4_WIDTH, A4_HEIGHT = 595.2756, 841.8898
LEFT_FRACTION = 60 / A4_WIDTH
PLANTED_BASELINE = (A4_HEIGHT - 756) / A4_HEIGHT  # as a fraction from the top
FOLLOWING_BASELINE = (A4_HEIGHT - 740) / A4_HEIGHT


@pytest.fixture
def manual(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "bridge-manual.pdf", PAGES)


def highlight_mask(png: bytes) -> Any:
    """Which pixels show paper under the see-through yellow: bright red and green, clearly less
    blue. Black, grey and white (all that a plain page has) never are."""
    pixels = numpy.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return (red > 180) & (green > 150) & (blue < red - 60)


def highlight_pixels(png: bytes, region: Box | None = None, inside: bool = True) -> int:
    """How many highlight pixels the PNG has, inside (or outside) a region given as fractions."""
    mask = highlight_mask(png)
    if region is not None:
        height, width = mask.shape
        ys, xs = numpy.mgrid[0:height, 0:width]
        within = (
            (xs >= region.left * width)
            & (xs <= region.right * width)
            & (ys >= region.top * height)
            & (ys <= region.bottom * height)
        )
        mask = mask & (within if inside else ~within)
    return int(mask.sum())


def grown(box: Box, by: float) -> Box:
    return Box(box.left - by, box.top - by, box.right + by, box.bottom + by)


# --- finding the passage ---------------------------------------------------------------------------


def test_passage_boxes_finds_the_planted_sentence_where_it_was_drawn(manual: Path) -> None:
    (box,) = passage_boxes(manual, 2, PLANTED)

    assert box.left == pytest.approx(LEFT_FRACTION, abs=0.005)
    assert box.top < PLANTED_BASELINE < box.bottom
    assert box.bottom - box.top < 16 / A4_HEIGHT  # one 11 pt line, not the paragraph
    assert 0.3 < box.right - box.left < 0.8  # the width of the sentence, not the page


def test_passage_boxes_ignores_line_breaks_spacing_hyphenation_and_ligatures(manual: Path) -> None:
    expected = passage_boxes(manual, 2, PLANTED)
    as_another_extractor_read_it = "The  torque value for\nanchor bolt TC-4410-B is 42\n  newton metres."
    hyphenated_with_ligatures = "Speciﬁcations for the ﬁxings follow the main-\ntenance schedule."

    assert passage_boxes(manual, 2, as_another_extractor_read_it) == expected
    (box,) = passage_boxes(manual, 2, hyphenated_with_ligatures)
    assert box.top < FOLLOWING_BASELINE < box.bottom


def test_a_passage_over_two_lines_gets_one_box_per_line_top_to_bottom(manual: Path) -> None:
    first, second = passage_boxes(manual, 2, f"{PLANTED} {FOLLOWING}")

    assert first.top < PLANTED_BASELINE < first.bottom
    assert second.top < FOLLOWING_BASELINE < second.bottom
    assert first.bottom <= second.top + 0.005


def test_when_the_whole_passage_is_not_on_the_page_the_sentences_that_are_get_highlighted(manual: Path) -> None:
    chunk_with_a_table = f"Bolt: TC-4410-B\nTorque: 42 Nm\n{PLANTED}\nThis sentence was never drawn on any page."

    assert passage_boxes(manual, 2, chunk_with_a_table) == passage_boxes(manual, 2, PLANTED)


def test_passage_boxes_returns_nothing_for_text_that_is_not_on_the_page(manual: Path) -> None:
    assert passage_boxes(manual, 2, "The bearings are replaced every forty years by the contractor.") == []
    assert passage_boxes(manual, 1, PLANTED) == []  # it is on page 2
    assert passage_boxes(manual, 2, "   \n ") == []


def test_an_encrypted_pdf_with_an_empty_user_password_opens(manual: Path, tmp_path: Path) -> None:
    import pikepdf

    locked = tmp_path / "locked.pdf"
    with pikepdf.open(manual) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="", owner="owner-secret", allow=pikepdf.Permissions()))
    assert pikepdf.open(locked).is_encrypted

    assert passage_boxes(locked, 2, PLANTED) == passage_boxes(manual, 2, PLANTED)
    assert render_page_png(locked, 2, []).startswith(b"\x89PNG")


def test_a_missing_page_or_an_unreadable_file_is_page_unavailable(manual: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.7\nthis is not a PDF body")

    for path, page in ((manual, 4), (manual, 0), (damaged, 1), (tmp_path / "absent.pdf", 1)):
        with pytest.raises(PageUnavailable):
            passage_boxes(path, page, PLANTED)
        with pytest.raises(PageUnavailable):
            render_page_png(path, page, [])


# --- rendering -------------------------------------------------------------------------------------


def test_render_page_png_paints_the_boxes_yellow_and_nothing_else(manual: Path) -> None:
    boxes = passage_boxes(manual, 2, PLANTED)

    highlighted = render_page_png(manual, 2, boxes)
    plain = render_page_png(manual, 2, [])

    assert Image.open(io.BytesIO(highlighted)).format == "PNG"
    assert highlight_pixels(highlighted, boxes[0]) > 1000
    assert highlight_pixels(highlighted, grown(boxes[0], 0.01), inside=False) == 0
    assert highlight_pixels(plain) == 0


def test_render_page_png_keeps_the_width_within_bounds(manual: Path) -> None:
    def width(png: bytes) -> int:
        return Image.open(io.BytesIO(png)).size[0]

    assert width(render_page_png(manual, 1, [])) == 1100
    assert width(render_page_png(manual, 1, [], width_px=10)) == 400
    assert width(render_page_png(manual, 1, [], width_px=100_000)) == 2000


# --- the views -------------------------------------------------------------------------------------


def stored_document(collection: Collection, source: Path, mime_type: str) -> Document:
    """A document row for a file stored under MEDIA_ROOT as uploads store it (content-addressed),
    without a worker: the tests write the chunks themselves."""
    data = source.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    with source.open("rb") as handle:
        name = default_storage.save(f"originals/{sha256[:2]}/{sha256}/{source.name}", File(handle))
    return Document.objects.create(
        collection=collection,
        title=source.stem,
        original_name=source.name,
        path=source.name,
        file=name,
        sha256=sha256,
        mime_type=mime_type,
        size_bytes=len(data),
        page_count=3 if mime_type == "application/pdf" else None,
        status=Document.Status.READY,
    )


@pytest.fixture
def library(db: Any, settings: Any, tmp_path: Path, manual: Path, user: Any) -> dict[str, Any]:
    """The manual as a ready PDF document with one chunk per page (the page-2 chunk spaced as
    pdfminer spaces it), and a plain-text document beside it, in a collection `user` may read."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    collection = CollectionFactory(readers=[user])
    pdf = stored_document(collection, manual, "application/pdf")
    chunks = [
        Chunk.objects.create(document=pdf, ordinal=n, page_number=n + 1, text="\n\n".join(lines))
        for n, lines in enumerate(PAGES)
    ]
    notes = tmp_path / "site-notes.txt"
    notes.write_text("Site notes\n\nThe crane arrives on Monday.\n", encoding="utf-8")
    text = stored_document(collection, notes, "text/plain")
    text_chunk = Chunk.objects.create(document=text, ordinal=0, text="The crane arrives on Monday.")
    return {"pdf": pdf, "planted_chunk": chunks[1], "text": text, "text_chunk": text_chunk}


@pytest.fixture
def client_logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def image_url(document: Document, page: int, chunk: Chunk | None = None) -> str:
    url = reverse("document-page-image", args=[document.pk, page])
    return f"{url}?chunk={chunk.pk}" if chunk else url


def test_the_page_image_shows_the_cited_chunk_highlighted(client_logged_in: Client, library: dict[str, Any]) -> None:
    response = client_logged_in.get(image_url(library["pdf"], 2, library["planted_chunk"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, max-age=300"
    assert highlight_pixels(response.content) > 1000


def test_the_page_image_highlights_nothing_without_a_chunk_of_that_document(
    client_logged_in: Client, library: dict[str, Any]
) -> None:
    plain = client_logged_in.get(image_url(library["pdf"], 2))
    # Another document's chunk whose text is on this page must not be located through this view.
    foreign = Chunk.objects.create(document=library["text"], ordinal=1, text=PLANTED)
    borrowed = client_logged_in.get(image_url(library["pdf"], 2, foreign))

    assert plain.status_code == borrowed.status_code == 200
    assert highlight_pixels(plain.content) == 0
    assert highlight_pixels(borrowed.content) == 0


def test_the_page_image_is_404_for_a_missing_page_a_non_pdf_or_an_unknown_document(
    client_logged_in: Client, library: dict[str, Any], user: Any
) -> None:
    unknown = Document.objects.order_by("-pk").values_list("pk", flat=True).first() + 1
    # PDF bytes in a document not parsed as a PDF: its page numbers are not the PDF's, so no image.
    not_treated_as_pdf = stored_document(
        CollectionFactory(readers=[user]), Path(library["pdf"].file.path), "application/x-unknown"
    )

    assert client_logged_in.get(image_url(library["pdf"], 4)).status_code == 404
    assert client_logged_in.get(image_url(library["text"], 1, library["text_chunk"])).status_code == 404
    assert client_logged_in.get(image_url(not_treated_as_pdf, 1)).status_code == 404
    assert client_logged_in.get(reverse("document-page-image", args=[unknown, 1])).status_code == 404


def test_the_page_image_sends_anonymous_visitors_to_the_login(library: dict[str, Any]) -> None:
    response = Client().get(image_url(library["pdf"], 2, library["planted_chunk"]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_cited_pdf_page_shows_the_page_image_above_the_highlighted_text(
    client_logged_in: Client, library: dict[str, Any]
) -> None:
    chunk = library["planted_chunk"]
    response = client_logged_in.get(reverse("document-page", args=[library["pdf"].pk, 2]), {"chunk": chunk.pk})

    html = response.content.decode()
    assert response.status_code == 200
    image_tag = f'data-testid="page-image" src="{image_url(library["pdf"], 2, chunk)}"'
    assert image_tag in html
    assert f'id="chunk-{chunk.pk}"' in html
    assert "<mark>Fastener Specifications<br><br>The torque value" in html
    assert html.index(image_tag) < html.index("<mark>")


def test_a_page_of_a_non_pdf_document_shows_the_text_without_an_image(
    client_logged_in: Client, library: dict[str, Any]
) -> None:
    chunk = library["text_chunk"]
    response = client_logged_in.get(reverse("document-page", args=[library["text"].pk, 1]), {"chunk": chunk.pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert "page-image" not in html
    assert "<mark>The crane arrives on Monday.</mark>" in html


def test_citation_links_lead_to_the_cited_chunk_on_its_page() -> None:
    assert page_url(7, 2, 31) == f"{reverse('document-page', args=[7, 2])}?chunk=31#chunk-31"
