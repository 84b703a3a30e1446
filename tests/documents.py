"""Fixture documents the tests generate (no committed binaries)."""

from __future__ import annotations

from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A text-layer PDF, one list of lines per page; the first line of a page is set as a heading."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for lines in pages:
        y = 780
        for index, line in enumerate(lines):
            pdf.setFont("Helvetica-Bold" if index == 0 else "Helvetica", 14 if index == 0 else 11)
            pdf.drawString(60, y, line)
            y -= 24 if index == 0 else 16
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path, sections: list[tuple[str, list[str]]]) -> Path:
    import docx

    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def upload(path: Path, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type=content_type)


FILLER = (
    "The maintenance crew records each inspection in the logbook and reports defects to the supervisor. "
    "Routine checks cover drainage, expansion joints, bearings and the condition of the protective coating."
)
