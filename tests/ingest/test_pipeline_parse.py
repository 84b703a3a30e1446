from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ingest.pipeline import PermanentIngestError
from ingest.pipeline.parse import parse
from tests.documents import FILLER, make_docx, make_pdf


def test_it_keeps_page_numbers_of_a_pdf(tmp_path: Path) -> None:
    path = make_pdf(
        tmp_path / "manual.pdf", [["Introduction", FILLER[:90]], ["Torque table", "Bolt TC-4410-B takes 42 Nm."]]
    )

    parsed = parse(path)

    assert parsed.mime_type == "application/pdf"
    assert parsed.page_count == 2
    pages = {e.text: e.page_number for e in parsed.elements}
    assert pages["Bolt TC-4410-B takes 42 Nm."] == 2
    assert pages["Introduction"] == 1


def test_it_records_the_section_heading_of_each_element(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "spec.docx", [("Scope", ["This specification covers bolts."]), ("Materials", ["Steel grade S355."])]
    )

    parsed = parse(path)

    by_text = {e.text: e for e in parsed.elements}
    assert by_text["Steel grade S355."].section == "Materials"
    assert by_text["This specification covers bolts."].section == "Scope"


def test_it_reads_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Site notes\n\nThe crane was inspected on Monday.\n", encoding="utf-8")

    parsed = parse(path)

    assert any("crane was inspected" in e.text for e in parsed.elements)
    assert parsed.mime_type.startswith("text/")


def test_it_detects_type_by_content_not_by_name(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "really-a-pdf.txt", [["Heading", "Planted sentence about the gearbox."]])

    parsed = parse(path)

    assert parsed.mime_type == "application/pdf"
    assert any("gearbox" in e.text for e in parsed.elements)


def test_it_rejects_an_empty_file_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "empty.pdf"
    path.write_bytes(b"")

    with pytest.raises(PermanentIngestError, match="empty"):
        parse(path)


def test_it_rejects_a_corrupt_pdf_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ngarbage\n%%EOF")

    with pytest.raises(PermanentIngestError, match="PDF file is corrupt or malformed"):
        parse(path)


def test_it_rejects_an_unsupported_type_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "archive.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.bin", bytes(range(256)) * 10)

    with pytest.raises(PermanentIngestError, match=r"Unsupported file type.*zip"):
        parse(path)
