"""Which files DocAnalyst reads, decided by content first and by name only where content cannot
tell (plain text: prose or source code?). Every refusal names its cause."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import magic

from ingest.pipeline import PermanentIngestError

TEXT_EXTENSIONS = frozenset(
    {".txt", ".text", ".md", ".markdown", ".rst", ".org", ".csv", ".tsv", ".log", ".eml", ".htm", ".html", ".xml"}
)
CODE_EXTENSIONS = frozenset(
    """.go .py .pyi .js .mjs .ts .tsx .jsx .c .h .cc .cpp .hpp .cs .java .kt .scala .rs .rb .php .pl .pm .sh .bash
    .zsh .ps1 .bat .cmd .swift .m .mm .lua .r .sql .json .yaml .yml .toml .ini .cfg .makefile .gradle .vb .fs .hs
    .ml .clj .ex .exs .erl .dart .groovy .asm .s""".split()
)
CODE_MIME_PREFIXES = ("text/x-", "application/javascript", "application/x-sh", "application/x-python")
NOT_CODE_MIMES = frozenset({"text/x-rst", "text/x-org", "text/x-markdown"})
REFUSED_MIME_PREFIXES = {
    "audio/": "audio recordings",
    "video/": "video files",
    "application/x-executable": "executable programs",
    "application/x-sharedlib": "executable programs",
    "application/x-pie-executable": "executable programs",
    "application/x-dosexec": "executable programs",
    "font/": "font files",
}
TEXT_FILE_TYPES = frozenset({"TXT", "MD", "RST", "ORG", "CSV", "TSV"})
OCR_FILE_TYPES = frozenset({"PNG", "JPG", "TIFF", "BMP", "HEIC"})
EMAIL_FILE_TYPES = frozenset({"EML", "MSG"})


@dataclass(frozen=True)
class FileKind:
    file_type: str  # an unstructured FileType name: PDF, DOCX, PNG, EML, ...
    mime_type: str

    @property
    def needs_ocr(self) -> bool:
        return self.file_type in OCR_FILE_TYPES

    @property
    def is_email(self) -> bool:
        return self.file_type in EMAIL_FILE_TYPES


def _is_encrypted_office_file(path: Path) -> bool:
    """Password-protected Office files are OLE containers holding an encrypted package."""
    import msoffcrypto

    try:
        with path.open("rb") as handle:
            return bool(msoffcrypto.OfficeFile(handle).is_encrypted())
    except Exception:  # noqa: BLE001 - not an Office container at all
        return False


def classify(path: Path, original_name: str) -> FileKind:
    """The kind of document at `path`, or `PermanentIngestError` saying why it is refused."""
    from unstructured.file_utils.filetype import detect_filetype
    from unstructured.file_utils.model import FileType

    if not path.exists():
        raise PermanentIngestError("The uploaded file is missing from storage.")
    if path.stat().st_size == 0:
        raise PermanentIngestError("The file is empty (0 bytes).")

    magic_mime = magic.from_file(str(path), mime=True)
    for prefix, what in REFUSED_MIME_PREFIXES.items():
        if magic_mime.startswith(prefix):
            raise PermanentIngestError(f"Rejected: {what} ({magic_mime}) are not ingested.")
    if magic_mime in {"application/encrypted", "application/CDFV2-encrypted"} or (
        magic_mime in {"application/CDFV2", "application/x-ole-storage"} and _is_encrypted_office_file(path)
    ):
        raise PermanentIngestError(
            "The Office file is password-protected: remove the password (or upload an unprotected copy) to ingest it."
        )

    file_type = detect_filetype(file_path=str(path))
    if file_type == FileType.EMPTY:
        raise PermanentIngestError("The file is empty (no content).")

    extension = Path(original_name).suffix.lower()
    if file_type.name in TEXT_FILE_TYPES:
        looks_like_code = magic_mime.startswith(CODE_MIME_PREFIXES) and magic_mime not in NOT_CODE_MIMES
        if extension in CODE_EXTENSIONS or looks_like_code:
            raise PermanentIngestError(f"Rejected: source code ({extension or magic_mime}) is not ingested.")
        if extension not in TEXT_EXTENSIONS:
            raise PermanentIngestError(
                f"Rejected: unknown file type — plain text with {repr(extension) if extension else 'no extension'}, "
                "not a recognised document format."
            )
    if file_type == FileType.UNK or not file_type.is_partitionable:
        raise PermanentIngestError(
            f"Unsupported file type: the content is {magic_mime} ({file_type.name.lower()}), "
            "which DocAnalyst does not read."
        )
    return FileKind(file_type=file_type.name, mime_type=file_type.mime_type)
