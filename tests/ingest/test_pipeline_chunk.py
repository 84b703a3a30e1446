from __future__ import annotations

from backends.embedder import get_tokenizer
from ingest.pipeline.chunk import chunk
from ingest.pipeline.parse import ParsedElement


def element(text: str, page: int | None = 1, section: str = "Intro", kind: str = "NarrativeText") -> ParsedElement:
    return ParsedElement(text=text, element_type=kind, page_number=page, section=section)


def test_no_chunk_exceeds_the_embedder_window_and_no_word_is_lost() -> None:
    tokens = get_tokenizer()
    long_text = " ".join(
        f"Clause {i} requires the contractor to inspect weld number {i} before painting." for i in range(120)
    )

    drafts = chunk([element(long_text)], tokens, target_tokens=200)

    assert len(drafts) > 1
    assert all(d.token_count <= tokens.max_tokens for d in drafts)
    assert " ".join(d.text for d in drafts).split() == long_text.split()


def test_a_single_unbroken_sentence_longer_than_the_window_is_split_not_truncated() -> None:
    tokens = get_tokenizer()
    words = [f"part{i}x" for i in range(600)]

    drafts = chunk([element(" ".join(words))], tokens, target_tokens=200)

    assert all(d.token_count <= tokens.max_tokens for d in drafts)
    assert " ".join(d.text for d in drafts).split() == words


def test_a_chunk_never_spans_two_pages_or_two_sections() -> None:
    tokens = get_tokenizer()
    elements = [
        element("Scope", page=1, section="Scope", kind="Title"),
        element("Short text on page one.", page=1, section="Scope"),
        element("Continues on page two.", page=2, section="Scope"),
        element("Materials", page=2, section="Materials", kind="Title"),
        element("Steel grade S355.", page=2, section="Materials"),
    ]

    drafts = chunk(elements, tokens, target_tokens=200)

    assert [(d.page_number, d.section) for d in drafts] == [(1, "Scope"), (2, "Scope"), (2, "Materials")]
    assert drafts[2].text == "Materials\n\nSteel grade S355."
    assert drafts[2].element_types == ["NarrativeText", "Title"]


def test_small_elements_are_packed_up_to_the_target() -> None:
    tokens = get_tokenizer()
    elements = [element(f"Item {i}: check the anchor bolt torque.") for i in range(40)]

    drafts = chunk(elements, tokens, target_tokens=100)

    assert 3 <= len(drafts) <= 8
    assert all(d.token_count <= 100 + 2 for d in drafts)
