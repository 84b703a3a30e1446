"""Generators for every format the parser reads, so no binary fixture is committed."""

from __future__ import annotations

import csv
import email.message
import shutil
import subprocess
import zipfile
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def text_image(lines: list[str], size: tuple[int, int] = (1400, 400)) -> object:
    """A white page with black text, large enough for Tesseract."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 40)
    for index, line in enumerate(lines):
        draw.text((40, 40 + index * 70), line, fill="black", font=font)
    return image


def make_image(path: Path, lines: list[str]) -> Path:
    image = text_image(lines)
    if path.suffix.lower() == ".heic":
        import pillow_heif

        pillow_heif.from_pillow(image).save(str(path), quality=95)
    else:
        image.save(path)  # type: ignore[attr-defined]
    return path


def make_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are only images of text (a scan): no text layer at all."""
    images = [text_image(lines, (1240, 1754)) for lines in pages]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=150)  # type: ignore[attr-defined]
    return path


def make_mixed_pdf(path: Path, text_page: list[str], scanned_page: list[str]) -> Path:
    """Page 1 has a text layer, page 2 is a scan."""
    from pypdf import PdfReader, PdfWriter

    from tests.documents import make_pdf

    first = make_pdf(path.with_suffix(".text.pdf"), [text_page])
    second = make_scanned_pdf(path.with_suffix(".scan.pdf"), [scanned_page])
    writer = PdfWriter()
    for source in (first, second):
        for page in PdfReader(str(source)).pages:
            writer.add_page(page)
    with path.open("wb") as out:
        writer.write(out)
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str) -> Path:
    import pikepdf

    with pikepdf.open(source) as pdf:
        pdf.save(target, encryption=pikepdf.Encryption(user=user_password, owner="owner-secret", R=6))
    return target


def soffice_convert(source: Path, fmt: str) -> Path:
    """Convert with LibreOffice (DOCX→DOC, PPTX→PPT, XLSX→XLS, DOCX→ODT, DOCX→RTF)."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is needed for .doc/.ppt/.xls (make test installs it)"
    profile = source.parent / "lo-profile"
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            fmt,
            "--outdir",
            str(source.parent),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return source.with_suffix(f".{fmt}")


def make_pptx(path: Path, slides: list[tuple[str, str]]) -> Path:
    from pptx import Presentation

    deck = Presentation()
    for title, body in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
    deck.save(str(path))
    return path


def make_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def make_delimited(path: Path, header: list[str], rows: list[list[object]], delimiter: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_epub(path: Path, title: str, paragraphs: list[str]) -> Path:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
            "</container>",
        )
        book.writestr(
            "content.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
            f'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>'
            f"<dc:title>{title}</dc:title><dc:language>en</dc:language></metadata>"
            '<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
            '<spine><itemref idref="c1"/></spine></package>',
        )
        book.writestr(
            "c1.xhtml",
            '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>c</title></head>'
            f"<body><h1>{title}</h1>{body}</body></html>",
        )
    return path


def make_eml(path: Path, subject: str, body: str, attachments: list[tuple[str, bytes, str]]) -> Path:
    message = email.message.EmailMessage()
    message["From"] = "Site Engineer <engineer@example.test>"
    message["To"] = "Legal <legal@example.test>"
    message["Subject"] = subject
    message["Date"] = "Mon, 02 Mar 2026 09:30:00 +0000"
    message.set_content(body)
    for name, payload, mime in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=name)
    path.write_bytes(bytes(message))
    return path


def make_wav(path: Path) -> Path:
    import wave

    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x10" * 8000)
    return path


def encrypt_office(source: Path, target: Path, password: str) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    with source.open("rb") as plain, target.open("wb") as secret:
        OOXMLFile(plain).encrypt(password, secret)
    return target
