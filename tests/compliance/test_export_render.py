"""Exports render one neutral report to PDF, DOCX, Markdown, CSV and XLSX: each opens in its own
library, carries the title, blocks, Sources, Documents and Provenance, and neutralises hostile
document text (markup, spreadsheet formulas, control characters). No database is needed."""

from __future__ import annotations

import csv
import io
import re

import docx
import openpyxl
import pypdf
import pytest

from compliance.exports import (
    FORMATS,
    Citation,
    ExportNotAvailable,
    Heading,
    Paragraph,
    Report,
    SourceDocument,
    Table,
    render,
    to_csv,
    to_docx,
    to_markdown,
    to_pdf,
    to_xlsx,
)

FORMULA = '=HYPERLINK("http://x")'
SCRIPT = "<script>alert(1)</script>"
MARKDOWN = "**bold** [link](http://x)"
SYMBOLS = "± 0.05 mm § 9.2 € ≤ 1"
CONTROL = "before\x01after"


def hostile_report() -> Report:
    return Report(
        title=f"Tolerances {SYMBOLS} <b>not bold</b>",
        kind="comparison",
        blocks=[
            Heading("Findings", level=1),
            Paragraph(
                "Both specifications set the bore tolerance [1][2].\n"
                "- The drawing requires it [1]\n"
                "- The standard allows more [2]\n"
                f"Hostile prose: {SCRIPT} {MARKDOWN} [3](http://evil)"
            ),
            Heading("Details", level=3),
            Table(
                columns=["Parameter", "Drawing", "Standard"],
                rows=[
                    ["Bore", SYMBOLS, "+0.1 / -0.1"],
                    [FORMULA, f"line one\nline two | {SCRIPT}", "@SUM(A1:A2)"],
                ],
                name="Q1/Q2: [draft]* comparison of tolerances",
            ),
            Paragraph("A second table follows."),
            Table(columns=["Key", "Value"], rows=[["-1", CONTROL], ["plain", MARKDOWN]], name="Sources"),
        ],
        citations=[
            Citation(1, 11, f"Drawing {FORMULA}", 2, 4, f"Bore {SYMBOLS} per {MARKDOWN}"),
            Citation(2, 12, "ISO 286 <i>", 1, None, f"{SCRIPT} tolerance {CONTROL}"),
            Citation(3, 12, "ISO 286 <i>", None, 9, FORMULA),
        ],
        sources=[
            SourceDocument(11, f"Drawing {FORMULA}", "/drawings/bore.pdf", 2, "a" * 64, "Engineering"),
            SourceDocument(12, "ISO 286 <i>", "/standards/iso286.pdf", 1, "b" * 64, "Standards"),
        ],
        provenance=[
            ("Produced by", "alice"),
            ("Produced at", "2024-05-01T10:00:00+00:00"),
            ("Model", "llama-3.1-8b"),
            ("Prompt version", "compare-v3"),
            ("Record id", "comparison 42"),
        ],
    )


def tableless_report() -> Report:
    return Report(
        title="A summary",
        kind="summary",
        blocks=[Paragraph("Just prose [1].")],
        citations=[Citation(1, 5, "Doc", 1, 1, "quoted")],
        sources=[SourceDocument(5, "Doc", "/doc.pdf", 1, "c" * 64, "General")],
        provenance=[("Produced by", "bob")],
    )


def squash(text: str) -> str:
    return " ".join(text.split())


def pdf_text(data: bytes) -> str:
    return squash(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages))


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return squash("\n".join(parts))


def markdown_text(data: bytes) -> str:
    return squash(re.sub(r"\\(.)", r"\1", data.decode("utf-8")))  # what a reader sees once escapes are applied


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def xlsx_cells(data: bytes) -> list[openpyxl.cell.cell.Cell]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]


def visible_text(fmt: str, data: bytes) -> str:
    if fmt == "pdf":
        return pdf_text(data)
    if fmt == "docx":
        return docx_text(data)
    if fmt == "md":
        return markdown_text(data)
    if fmt == "csv":
        return squash(" ".join(cell for row in csv_cells(data) for cell in row))
    names = openpyxl.load_workbook(io.BytesIO(data)).sheetnames  # "Sources", "Documents", "Provenance" are sheets
    return squash(" ".join([*names, *(str(cell.value) for cell in xlsx_cells(data) if cell.value is not None)]))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_carries_title_quotes_sources_documents_and_provenance(fmt: str) -> None:
    report = hostile_report()

    text = visible_text(fmt, render(report, fmt))

    assert squash(report.title) in text
    for citation in report.citations:
        assert squash(citation.quote.replace("\x01", "")) in text
    for document in report.sources:
        assert document.sha256 in text and document.path in text
    for heading in ("Sources", "Documents", "Provenance"):
        assert heading in text
    for _label, value in report.provenance:
        assert value in text
    assert "\x01" not in text and "beforeafter" in text


@pytest.mark.parametrize("fmt", ["pdf", "docx", "md"])
def test_documents_put_title_blocks_sources_documents_and_provenance_in_that_order(fmt: str) -> None:
    text = visible_text(fmt, render(hostile_report(), fmt))

    positions = [
        text.index("Tolerances"),
        text.index("Findings"),
        text.index("A second table follows."),
        text.rindex("Sources"),  # the section, not the table named "Sources"
        text.index("Documents"),
        text.index("Provenance"),
        text.index("comparison 42"),
    ]
    assert positions == sorted(positions)


@pytest.mark.parametrize("fmt", ["pdf", "docx", "md"])
def test_a_citation_without_a_page_says_no_page(fmt: str) -> None:
    text = visible_text(fmt, render(hostile_report(), fmt))

    assert "[1] Drawing" in text and "(version 2), page 4:" in text
    assert "ISO 286 <i> (version 1), no page:" in text
    assert "[3] ISO 286 <i>, page 9:" in text  # no version known


def test_render_returns_bytes_in_the_expected_container_for_every_format() -> None:
    report = hostile_report()

    outputs = {fmt: render(report, fmt) for fmt in FORMATS}

    assert all(isinstance(data, bytes) for data in outputs.values())
    assert outputs["pdf"].startswith(b"%PDF")
    assert outputs["docx"].startswith(b"PK") and outputs["xlsx"].startswith(b"PK")
    assert outputs["md"].decode("utf-8") == to_markdown(report)
    assert outputs["csv"].decode("utf-8") == to_csv(report)
    assert set(FORMATS) == {"pdf", "docx", "md", "csv", "xlsx"}


def test_csv_neutralises_every_cell_a_spreadsheet_would_read_as_a_formula() -> None:
    rows = csv_cells(to_csv(hostile_report()).encode("utf-8"))
    cells = [cell for row in rows for cell in row]

    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'" + FORMULA in cells  # the table cell, and the quote of citation 3
    assert "'+0.1 / -0.1" in cells and "'@SUM(A1:A2)" in cells and "'-1" in cells
    assert f"Drawing {FORMULA}" in cells  # not at the start of the cell: left alone
    assert not any("\x01" in cell for cell in cells)


def test_csv_lists_the_named_tables_then_sources_documents_and_provenance() -> None:
    rows = csv_cells(to_csv(hostile_report()).encode("utf-8"))

    assert rows[0] == ["Q1/Q2: [draft]* comparison of tolerances"]
    assert rows[1] == ["Parameter", "Drawing", "Standard"]
    assert rows[3][1] == f"line one\nline two | {SCRIPT}"
    assert rows[4] == [] and rows[5] == ["Sources"] and rows[6] == ["Key", "Value"]
    sections = [i for i, row in enumerate(rows) if row in (["Sources"], ["Documents"], ["Provenance"])]
    assert [rows[i][0] for i in sections[-3:]] == ["Sources", "Documents", "Provenance"]
    assert all(rows[i - 1] == [] for i in sections)
    start = sections[-3]
    assert rows[start + 2][:4] == ["[1]", f"Drawing {FORMULA}", "2", "4"]
    assert rows[start + 3][3] == "no page"
    assert rows[sections[-1] + 2 :][-1] == ["Record id", "comparison 42"]
    assert ["Report title", hostile_report().title] in rows


def test_csv_of_a_single_table_starts_with_its_header_row() -> None:
    report = Report("One", "extraction", [Table(["a", "b"], [["1", "2"]], name="Fields")])

    rows = csv_cells(to_csv(report).encode("utf-8"))

    assert rows[0] == ["a", "b"] and rows[1] == ["1", "2"] and rows[2] == []


def test_xlsx_never_writes_a_formula_from_document_text() -> None:
    cells = xlsx_cells(to_xlsx(hostile_report()))
    values = [cell.value for cell in cells if cell.value is not None]

    assert FORMULA in values and "@SUM(A1:A2)" in values  # kept verbatim, but as text
    assert {cell.data_type for cell in cells if cell.value is not None} == {"s"}
    assert not any(isinstance(value, str) and "\x01" in value for value in values)
    assert all(isinstance(value, str) for value in values)


def test_xlsx_has_a_sheet_per_table_with_a_bold_frozen_header_then_sources_documents_provenance() -> None:
    workbook = openpyxl.load_workbook(io.BytesIO(to_xlsx(hostile_report())))

    names = workbook.sheetnames
    assert names[2:] == ["Sources", "Documents", "Provenance"]
    assert all(len(name) <= 31 and not re.search(r"[\[\]:*?/\\]", name) for name in names)
    assert names[0].startswith("Q1 Q2") and names[1] == "Sources (2)"
    first = workbook[names[0]]
    assert [c.value for c in first[1]] == ["Parameter", "Drawing", "Standard"]
    assert all(cell.font.bold for cell in first[1]) and first.freeze_panes == "A2"
    assert 8 <= first.column_dimensions["B"].width <= 60
    assert [c.value for c in workbook["Sources"][3]][:4] == ["[2]", "ISO 286 <i>", "1", "no page"]
    assert [c.value for c in workbook["Provenance"][1]] == ["Label", "Value"]
    assert workbook.properties.creator == "DocAnalyst"


def test_markdown_escapes_document_text_but_keeps_citation_markers_and_bullets() -> None:
    markdown = to_markdown(hostile_report())

    assert "<script>" not in markdown and "\\<script\\>" in markdown
    assert "**bold**" not in markdown and "[link](" not in markdown and "<b>" not in markdown
    assert "[3](" not in markdown  # a marker followed by "(" would become a link: stays escaped
    assert "tolerance [1][2]." in markdown
    assert "\n- The drawing requires it [1]\n- The standard allows more [2]\n" in markdown
    assert markdown.startswith(f"# Tolerances {SYMBOLS}")
    assert "\n## Sources\n" in markdown and "\n## Documents\n" in markdown and "\n## Provenance\n" in markdown
    assert "\x01" not in markdown


def test_markdown_tables_are_pipe_tables_with_pipes_escaped_and_no_line_breaks_in_cells() -> None:
    lines = to_markdown(hostile_report()).splitlines()

    header = lines.index("| Parameter | Drawing | Standard |")
    assert lines[header + 1] == "| --- | --- | --- |"
    row = lines[header + 3]
    assert "line one line two \\| \\<script\\>" in row
    assert row.count(" | ") == 2  # only the column separators are unescaped pipes


def test_markdown_cannot_be_given_block_syntax_by_document_text() -> None:
    report = Report(
        "# Title",
        "answer",
        [Paragraph("---\n1. not a list\n    not code\n[1]: http://evil\n> not a quote")],
        provenance=[("Record id", "+1")],
    )

    markdown = to_markdown(report)

    assert markdown.startswith("# \\# Title\n")
    assert "\\---" in markdown and "1\\. not a list" in markdown and "\n    not code" not in markdown
    assert "\\[1\\]: http://evil" in markdown and "\\> not a quote" in markdown


def test_pdf_shows_hostile_text_literally_and_renders_symbols_beyond_latin_1() -> None:
    data = to_pdf(hostile_report())
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = pdf_text(data)

    assert SYMBOLS in text
    assert SCRIPT in text and "<b>not bold</b>" in text and MARKDOWN in text
    assert reader.metadata is not None
    assert reader.metadata.title == squash(hostile_report().title) and reader.metadata.author == "DocAnalyst"


def test_pdf_fits_wide_tables_and_long_cells_on_the_page() -> None:
    columns = [f"Column {i}" for i in range(12)]
    rows = [[("word " * 40 + "x" * 200) if i % 3 == 0 else f"v{r}{i}" for i in range(12)] for r in range(30)]
    report = Report("Wide", "extraction", [Table(columns, rows), Table(["only"], [["y" * 9000]])])

    data = to_pdf(report)

    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) >= 1
    assert "Column 11" in pdf_text(data) and "y" * 100 in pdf_text(data).replace(" ", "")


def test_a_500_paragraph_report_makes_a_multi_page_pdf_and_renders_in_every_format() -> None:
    blocks = [Paragraph(f"Paragraph {i} cites a passage [1].\n- bullet {i}") for i in range(500)]
    report = Report("Long", "conversation", blocks, [Citation(1, 1, "Doc", 1, None, "q")], [], [("Who", "me")])

    reader = pypdf.PdfReader(io.BytesIO(to_pdf(report)))

    assert len(reader.pages) > 1
    assert "Paragraph 499 cites" in squash(reader.pages[-1].extract_text() + reader.pages[-2].extract_text())
    assert len(docx.Document(io.BytesIO(to_docx(report))).paragraphs) > 1000
    assert to_markdown(report).count("\n- bullet ") == 500


def test_docx_uses_headings_bullets_and_grid_tables_with_a_bold_header() -> None:
    document = docx.Document(io.BytesIO(to_docx(hostile_report())))
    styles = [(p.style.name, p.text) for p in document.paragraphs]

    assert styles[0] == ("Title", squash(hostile_report().title))
    assert ("Heading 1", "Findings") in styles and ("Heading 3", "Details") in styles
    assert ("List Bullet", "The drawing requires it [1]") in styles
    assert [("Heading 1", name) in styles for name in ("Sources", "Documents", "Provenance")] == [True] * 3
    first = document.tables[0]
    assert first.style.name == "Table Grid"
    assert all(run.bold for cell in first.rows[0].cells for run in cell.paragraphs[0].runs)
    assert first.rows[2].cells[0].text == FORMULA
    assert document.core_properties.author == "DocAnalyst"
    assert document.core_properties.title == squash(hostile_report().title)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_report_without_tables_cannot_be_exported_as_a_spreadsheet(fmt: str) -> None:
    with pytest.raises(ExportNotAvailable, match=r"This summary has no table.*PDF, DOCX or Markdown"):
        render(tableless_report(), fmt)
    with pytest.raises(ExportNotAvailable, match="no table"):
        (to_csv if fmt == "csv" else to_xlsx)(tableless_report())


@pytest.mark.parametrize("fmt", ["pdf", "docx", "md"])
def test_a_report_without_tables_still_exports_as_a_document(fmt: str) -> None:
    text = visible_text(fmt, render(tableless_report(), fmt))

    assert "Just prose [1]." in text and "Provenance" in text and "bob" in text


def test_an_unknown_format_raises_export_not_available() -> None:
    with pytest.raises(ExportNotAvailable, match=r'Unknown export format "html".*pdf, docx, md, csv, xlsx'):
        render(hostile_report(), "html")
    assert issubclass(ExportNotAvailable, ValueError)


def test_a_report_lists_its_tables_in_order() -> None:
    report = hostile_report()

    assert [table.name for table in report.tables] == ["Q1/Q2: [draft]* comparison of tolerances", "Sources"]
    assert tableless_report().tables == []
