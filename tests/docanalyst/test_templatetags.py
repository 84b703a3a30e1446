from __future__ import annotations

from docanalyst.templatetags.docanalyst_tags import cite_links, highlight, query_terms


def test_highlight_marks_query_terms_case_insensitively() -> None:
    assert (
        highlight("The Torque value is 42 Nm.", "torque value")
        == "The <mark>Torque</mark> <mark>value</mark> is 42 Nm."
    )


def test_highlight_escapes_document_text_before_marking() -> None:
    html = highlight('<script>alert("x")</script> torque', "torque")

    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<mark>torque</mark>" in html


def test_highlight_keeps_part_numbers_and_quoted_phrases_whole() -> None:
    assert query_terms('"limitation of liability" TC-4410-B') == ["limitation of liability", "TC-4410-B"]
    assert "<mark>TC-4410-B</mark>" in highlight("Bolt TC-4410-B is torqued.", "TC-4410-B")


def test_cite_links_turn_markers_into_links_and_escape_the_answer() -> None:
    html = cite_links("<b>42 Nm</b> [1] and [7]", [{"n": 1, "url": "/documents/3/page/2/"}])

    assert '<a class="cite" href="/documents/3/page/2/" data-citation="1">[1]</a>' in html
    assert "[7]" in html and "&lt;b&gt;" in html
