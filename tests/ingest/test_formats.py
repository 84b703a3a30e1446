"""Every format DocAnalyst accepts is parsed to text (with page numbers where it has pages), and
every format it refuses is refused with a reason naming the cause. Fixtures are generated here;
only Outlook .msg, which nothing on this machine can write, comes from the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.embedder import get_tokenizer
from ingest.pipeline import PermanentIngestError
from ingest.pipeline.chunk import chunk
from ingest.pipeline.parse import parse
from tests.documents import make_docx, make_pdf
from tests.ingest import fixtures as fx


def texts(path: Path, original_name: str | None = None, workdir: Path | None = None) -> tuple[str, object]:
    parsed = parse(path, original_name, workdir)
    return "\n".join(e.text for e in parsed.elements), parsed


def test_a_pdf_encrypted_with_an_empty_user_password_is_opened(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Filing", "Net revenue rose to 4.2 billion dollars."]])
    locked = fx.encrypt_pdf(plain, tmp_path / "filing.pdf", user_password="")

    text, parsed = texts(locked)

    assert "4.2 billion" in text
    assert parsed.page_count == 1


def test_a_pdf_that_needs_a_password_is_refused_saying_so(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [["Secret", "Nothing to see."]])
    locked = fx.encrypt_pdf(plain, tmp_path / "secret.pdf", user_password="hunter2")

    with pytest.raises(PermanentIngestError, match="password-protected"):
        parse(locked)


def test_a_scanned_pdf_is_read_by_ocr_with_its_page_numbers(tmp_path: Path) -> None:
    path = fx.make_scanned_pdf(tmp_path / "scan.pdf", [["INSPECTION REPORT"], ["ANCHOR BOLT TORQUE 42 NM"]])

    _text, parsed = texts(path)

    assert parsed.ocr_pages == [1, 2]
    page_two = " ".join(e.text for e in parsed.elements if e.page_number == 2)
    assert "ANCHOR BOLT" in page_two.upper()


def test_ocr_runs_only_on_the_pages_without_a_text_layer(tmp_path: Path) -> None:
    path = fx.make_mixed_pdf(
        tmp_path / "mixed.pdf",
        ["Typed page", "The typed page has a text layer."],
        ["SCANNED APPENDIX", "GASKET MATERIAL EPDM"],
    )

    text, parsed = texts(path)

    assert parsed.ocr_pages == [2]
    assert "text layer" in text
    assert "GASKET" in " ".join(e.text for e in parsed.elements if e.page_number == 2).upper()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tiff", ".bmp", ".heic"])
def test_images_are_read_by_ocr(tmp_path: Path, suffix: str) -> None:
    path = fx.make_image(tmp_path / f"photo{suffix}", ["VALVE TAG PV-2210", "PRESSURE RATING 16 BAR"])

    text, parsed = texts(path)

    assert "PV-2210" in text.upper().replace(" ", "") or "PV2210" in text.upper().replace(" ", "").replace("-", "")
    assert "PRESSURE" in text.upper()
    assert parsed.page_count == 1


def test_docx_and_doc_are_read(tmp_path: Path) -> None:
    docx = make_docx(tmp_path / "contract.docx", [("Term", ["The agreement runs for five years."])])
    doc = fx.soffice_convert(docx, "doc")

    for path in (docx, doc):
        text, _ = texts(path)
        assert "five years" in text, path


def test_pptx_and_ppt_are_read_with_slide_numbers(tmp_path: Path) -> None:
    pptx = fx.make_pptx(tmp_path / "deck.pptx", [("Programming", "Hold the reset button."), ("Verify", "Read the ID.")])
    ppt = fx.soffice_convert(pptx, "ppt")

    for path in (pptx, ppt):
        _, parsed = texts(path)
        pages = {e.text: e.page_number for e in parsed.elements}
        assert pages.get("Read the ID.") == 2, (path, pages)


def test_spreadsheets_and_delimited_files_keep_the_header_row_in_every_chunk(tmp_path: Path) -> None:
    header = ["Part number", "Material", "Tolerance"]
    rows = [[f"TC-{4400 + i}-B", "Stainless steel 316L", f"±0.{i % 9 + 1} mm"] for i in range(120)]
    xlsx = fx.make_xlsx(tmp_path / "bom.xlsx", header, rows)
    files = [
        xlsx,
        fx.soffice_convert(xlsx, "xls"),
        fx.make_delimited(tmp_path / "bom.csv", header, rows, ","),
        fx.make_delimited(tmp_path / "bom.tsv", header, rows, "\t"),
    ]

    for path in files:
        parsed = parse(path)
        drafts = chunk(parsed.elements, get_tokenizer(), 200)
        table_chunks = [d for d in drafts if "TableRow" in d.element_types]
        assert len(table_chunks) > 3, path
        assert all(d.text.startswith("Part number | Material | Tolerance") for d in table_chunks), path
        assert any("TC-4519-B" in d.text for d in table_chunks), path


def test_html_markdown_rst_org_rtf_odt_and_epub_are_read(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<html><body><h1>Datasheet</h1><p>Yield strength 355 MPa.</p></body></html>")
    (tmp_path / "notes.md").write_text("# Notes\n\nThe flange uses 12 bolts.\n")
    (tmp_path / "guide.rst").write_text("Guide\n=====\n\nTighten in a star pattern.\n")
    (tmp_path / "todo.org").write_text("* Tasks\nCheck the weld seams.\n")
    (tmp_path / "memo.rtf").write_text(
        r"{\rtf1\ansi{\fonttbl\f0\fswiss Helvetica;}\f0\pard Memo on the crane load test.\par}"
    )
    odt = fx.soffice_convert(make_docx(tmp_path / "letter.docx", [("Letter", ["Please sign the annex."])]), "odt")
    epub = fx.make_epub(tmp_path / "handbook.epub", "Handbook", ["Wear a helmet on site."])
    expected = {
        "page.html": "355 MPa",
        "notes.md": "12 bolts",
        "guide.rst": "star pattern",
        "todo.org": "weld seams",
        "memo.rtf": "crane load test",
        odt.name: "sign the annex",
        epub.name: "helmet",
    }

    for name, phrase in expected.items():
        text, _ = texts(tmp_path / name)
        assert phrase in text, name


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32", "cp1252", "latin-1", "shift_jis"])
def test_text_files_in_any_common_encoding_are_read(tmp_path: Path, encoding: str) -> None:
    sentence = "Die Prüfung der Schweißnähte ist bestanden." if encoding != "shift_jis" else "溶接の検査は合格です。"
    path = tmp_path / "notes.txt"
    path.write_bytes(f"Report\n\n{sentence}\n".encode(encoding))

    text, _ = texts(path)

    assert sentence in text


def test_an_email_gives_headers_as_metadata_and_its_attachments_as_files(tmp_path: Path) -> None:
    attachment = make_pdf(tmp_path / "annex.pdf", [["Annex", "Liability is capped at one million euros."]])
    path = fx.make_eml(
        tmp_path / "mail.eml",
        "Signed contract",
        "Please find the signed annex attached.",
        [("annex.pdf", attachment.read_bytes(), "application/pdf")],
    )

    text, parsed = texts(path, workdir=tmp_path / "attachments")

    assert "signed annex attached" in text
    assert parsed.metadata["subject"] == "Signed contract"
    assert "engineer@example.test" in parsed.metadata["from"]
    assert [a.name for a in parsed.attachments] == ["annex.pdf"]
    assert parsed.attachments[0].path.read_bytes() == attachment.read_bytes()


def test_an_outlook_msg_gives_headers_and_attachments(tmp_path: Path) -> None:
    sample = fx.CORPUS / "formats" / "fake-email-attachment.msg"
    if not sample.exists():
        pytest.skip("no generator writes .msg files; this test reads the shared corpus sample")
    _text, parsed = texts(sample, workdir=tmp_path)

    assert parsed.metadata.get("subject")
    assert parsed.attachments


def test_a_file_is_detected_by_content_whatever_its_name(tmp_path: Path) -> None:
    docx = make_docx(tmp_path / "real.docx", [("Scope", ["Covers the pump station."])])
    disguised = tmp_path / "scan.pdf"
    disguised.write_bytes(docx.read_bytes())

    text, parsed = texts(disguised)

    assert "pump station" in text
    assert "wordprocessingml" in parsed.mime_type


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("voice.wav", None, "audio"),
        ("main.go", b'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n', "source code"),
        ("script.py", b"import os\n\ndef main():\n    print(os.getcwd())\n", "source code"),
        ("wombat", b"wombat\n", "unknown file type"),
        ("blob.bin", bytes(range(256)) * 64, "Unsupported file type"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_refused_files_name_the_cause(tmp_path: Path, name: str, content: bytes | None, reason: str) -> None:
    path = tmp_path / name
    if content is None:
        fx.make_wav(path)
    else:
        path.write_bytes(content)

    with pytest.raises(PermanentIngestError, match=reason):
        parse(path)


def test_a_password_protected_office_file_is_refused_saying_so(tmp_path: Path) -> None:
    docx = make_docx(tmp_path / "plain.docx", [("Secret", ["Do not read."])])
    locked = fx.encrypt_office(docx, tmp_path / "locked.docx", "hunter2")

    with pytest.raises(PermanentIngestError, match="password-protected"):
        parse(locked)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_a_csv_in_another_encoding_is_read_as_a_table(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "cups.csv"
    path.write_bytes("Team,Location,Cups\nCanadiens,Montréal,24\nMaple Leafs,Toronto,13\n".encode(encoding))

    parsed = parse(path)

    rows = [e for e in parsed.elements if e.element_type == "TableRow"]
    assert [r.text for r in rows] == ["Canadiens | Montréal | 24", "Maple Leafs | Toronto | 13"]
    assert rows[0].header == "Team | Location | Cups"
