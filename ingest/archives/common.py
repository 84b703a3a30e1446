"""What every format shares: limits, outcomes and errors, the upload's state, safe names, the sink that
writes one member under the bomb/ratio checks, and sniffing a file's format by its content."""

from __future__ import annotations

import hashlib
import lzma
import os
import posixpath
import re
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from py7zr import exceptions as py7zr_errors

CHUNK_SIZE = 1024 * 1024
# The compression ratio is judged only once this much has come out: tiny members compress oddly.
RATIO_CHECK_AFTER = 1024 * 1024

REST_OF_ARCHIVE = "(rest of archive)"

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_7Z_MAGIC = b"7z\xbc\xaf\x27\x1c"
_TAR_COMPRESSION_MAGICS = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_TAR_BLOCK = 512  # an uncompressed tar is at least one header block
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# Used only when a zip's central directory cannot be read: a local file header (30 bytes) directly
# followed by the name that marks an OOXML package, or by ODF/EPUB's stored "mimetype" member.
_OFFICE_LOCAL_HEADER = re.compile(
    rb"PK\x03\x04.{26}(?:\[Content_Types\]\.xml|mimetypeapplication/(?:vnd\.oasis|epub))", re.DOTALL
)


# What the archive libraries raise for damaged input. Our own ArchiveError is deliberately not here.
_DAMAGED = (
    zipfile.BadZipFile,
    tarfile.TarError,
    py7zr_errors.ArchiveError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    IndexError,
    KeyError,
)


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an upload may expand to; shared by every archive nested inside it."""

    max_total_bytes: int = 2 * 1024**3  # all members together, uncompressed, across nesting
    max_members: int = 20_000  # across nesting
    max_member_bytes: int = 512 * 1024**2  # one file, uncompressed
    max_ratio: float = 200.0  # uncompressed/compressed bytes of one member (zip bombs)
    max_depth: int = 3  # nested archives expanded this deep (0 = do not expand nested ones)


@dataclass
class MemberOutcome:
    """What became of one member, so the upload can report every file it did not ingest and why."""

    path: str  # posix path inside the upload; for nested archives "outer-folder/inner.zip/doc.pdf"
    status: str  # "extracted" | "skipped" | "failed"
    reason: str = ""  # human-readable, names the cause
    file: Path | None = None  # where it was written (only for "extracted"), always inside dest
    size: int = 0


class ArchiveError(Exception):
    """The whole archive (or batch) must stop: unreadable, a zip bomb, contains itself. Message is user-facing.

    `outcomes` holds what was decided before the stop; files listed as extracted stay on disk.
    """

    def __init__(self, message: str, outcomes: list[MemberOutcome] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.outcomes: list[MemberOutcome] = outcomes if outcomes is not None else []


class _UnreadableArchive(ArchiveError):
    """The archive cannot be opened or read at all; nested, it fails that member instead of the upload."""


def archive_kind(path: Path) -> str | None:
    """'zip' | 'tar' | '7z' by content, not by name; None for anything else, Office/ODF/EPUB files included.

    docx/xlsx/pptx/odt/epub are zips but are documents to parse, not archives to expand: a zip with
    [Content_Types].xml at its root, or whose 'mimetype' member starts with application/vnd.oasis or
    application/epub, is one of them.
    """
    try:
        kind = _sniff(path)
        if kind == "zip" and _is_office_zip(path):
            return None
    except OSError:
        return None
    return kind


# --- state ------------------------------------------------------------------------------------


@dataclass
class _Run:
    """State shared by the upload and every archive nested in it: the limits count across nesting."""

    dest: Path  # resolved
    limits: ArchiveLimits
    outcomes: list[MemberOutcome] = field(default_factory=list)
    total_bytes: int = 0  # bytes currently written under dest
    members: int = 0


@dataclass
class _Nested:
    """An extracted member that turned out to be an archive, expanded once its parent is done."""

    path: str
    file: Path
    size: int
    sha256: str
    kind: str


@dataclass
class _Level:
    """One archive being read: the upload itself, or one nested in it."""

    run: _Run
    archive: Path
    base: Path  # folder this archive extracts into
    prefix: str  # its path inside the upload, with a trailing "/", or ""
    depth: int
    ancestors: tuple[str, ...]  # sha256 of this archive and of every archive containing it
    expanded: int = 0  # bytes this archive decompressed (for the whole-archive ratio of tar/7z)
    dirs: dict[str, Path] = field(default_factory=dict)
    nested: list[_Nested] = field(default_factory=list)
    archive_size: int = field(init=False, default=1)

    def __post_init__(self) -> None:
        self.archive_size = max(self.archive.stat().st_size, 1)

    @property
    def limits(self) -> ArchiveLimits:
        return self.run.limits

    def add(self, path: str, status: str, reason: str = "", file: Path | None = None, size: int = 0) -> None:
        self.run.outcomes.append(MemberOutcome(path=path, status=status, reason=reason, file=file, size=size))

    def count_member(self, how_many: int = 1) -> None:
        """Count members as they come (tar) or all at once from the directory (zip, 7z), across nesting."""
        self.run.members += how_many
        if self.run.members > self.limits.max_members:
            raise ArchiveError(
                f"Extraction stopped: the archive holds more than {self.limits.max_members} files (max_members)"
            )

    def check_expansion(self, path: str) -> None:
        """The whole-archive ratio (tar, 7z): what came out against the archive's size on disk."""
        if self.expanded >= RATIO_CHECK_AFTER and self.expanded / self.archive_size > self.limits.max_ratio:
            raise ArchiveError(_bomb_message(path or self.archive.name, self.limits.max_ratio))


def _bomb_message(path: str, ratio: float) -> str:
    return f"Extraction stopped: {path!r} expands more than {ratio:g} times its compressed size (zip bomb)"


def _total_message(limit: int) -> str:
    return f"Extraction stopped: the archive expands beyond {_human(limit)} in total (max_total_bytes; zip bomb?)"


def _member_limit_reason(limit: int) -> str:
    return f"larger than the {_human(limit)} per-file limit (max_member_bytes)"


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# --- names and placement ----------------------------------------------------------------------


def _normalise_name(name: str) -> tuple[str, str]:
    """(safe relative posix path, "") or ("", why it was refused): absolute and escaping names never land."""
    posix = name.replace("\\", "/")
    if not posix.strip():
        return "", "empty name skipped"
    if posix.startswith("/") or _DRIVE_LETTER.match(posix):
        return "", "absolute path refused (it would land outside the archive)"
    cleaned = "".join("_" if ord(ch) < 32 or ch == "\x7f" else ch for ch in posix)
    normalised = posixpath.normpath(cleaned)
    if normalised == ".." or normalised.startswith("../"):
        return "", "path traversal outside the archive refused"
    if normalised in ("", "."):
        return "", "empty name skipped"
    return normalised, ""


class _Escape(Exception):
    """A computed path would resolve outside dest (should be impossible after normalisation)."""


def _numbered(name: str, n: int) -> str:
    """'report.pdf' -> 'report (2).pdf': the second of two members with one name is kept, not overwritten."""
    pure = PurePosixPath(name)
    return f"{pure.stem} ({n}){pure.suffix}" if pure.stem else f"{name} ({n})"


def _inside(run: _Run, path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(run.dest) or resolved == run.dest:
        raise _Escape(str(path))
    return resolved


def _directory(level: _Level, rel_dir: str) -> Path:
    """The real folder for a member folder, made on first use; a name taken by a file or link gets a suffix."""
    if not rel_dir:
        return level.base
    known = level.dirs.get(rel_dir)
    if known is not None:
        return known
    parent_rel, _, name = rel_dir.rpartition("/")
    parent = _directory(level, parent_rel)
    for n in range(1, 10_000):
        candidate = parent / (name if n == 1 else f"{name} ({n})")
        if candidate.is_symlink():
            continue
        resolved = _inside(level.run, candidate)
        try:
            resolved.mkdir()
        except FileExistsError:
            if not resolved.is_dir():
                continue
        level.dirs[rel_dir] = resolved
        return resolved
    raise OSError(f"no free name for folder {rel_dir!r}")


def _create_file(level: _Level, rel: str) -> tuple[Path, IO[bytes]]:
    """Open a new file for a member: never follows a link, never overwrites, always inside dest."""
    rel_dir, _, name = rel.rpartition("/")
    folder = _directory(level, rel_dir)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for n in range(1, 10_000):
        candidate = folder / (name if n == 1 else _numbered(name, n))
        target = _inside(level.run, candidate)
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            continue
        return target, os.fdopen(fd, "wb")
    raise OSError(f"no free name for {rel!r}")


# --- writing one member -----------------------------------------------------------------------


class _Sink:
    """One member being written: every chunk is counted against the limits before it reaches the disk."""

    def __init__(self, level: _Level, path: str, rel: str, compressed: int | None) -> None:
        self.level = level
        self.path = path
        self.compressed = compressed  # zip: the member's compressed size; None: judge the whole archive
        self.size = 0
        self.too_big = False
        self.sha256 = hashlib.sha256()
        self.file, self._fh = _create_file(level, rel)

    @property
    def is_open(self) -> bool:
        return not self._fh.closed

    def write(self, data: bytes) -> None:
        """Write a chunk, or refuse it: a member over its own limit is dropped, a bomb stops everything."""
        if self.too_big or not data:
            return
        level, limits, n = self.level, self.level.limits, len(data)
        if self.size + n > limits.max_member_bytes:
            self.too_big = True
            self.discard()
            return
        if level.run.total_bytes + n > limits.max_total_bytes:
            self.discard()
            raise ArchiveError(_total_message(limits.max_total_bytes))
        if self.compressed is not None:
            after = self.size + n
            if after >= RATIO_CHECK_AFTER and after / max(self.compressed, 1) > limits.max_ratio:
                self.discard()
                raise ArchiveError(_bomb_message(self.path, limits.max_ratio))
        else:
            level.expanded += n
            try:
                level.check_expansion(self.path)
            except ArchiveError:
                self.discard()
                raise
        self._fh.write(data)
        self.sha256.update(data)
        self.size += n
        level.run.total_bytes += n

    def discard(self) -> None:
        """Close and delete the partial file and give its bytes back to the budget."""
        if not self._fh.closed:
            self._fh.close()
        self.file.unlink(missing_ok=True)
        self.level.run.total_bytes -= self.size
        self.size = 0

    def finish(self) -> None:
        """Record the member: failed if it outgrew its limit, queued for expansion if it is an archive itself."""
        level = self.level
        if self.too_big:
            level.add(self.path, "failed", _member_limit_reason(level.limits.max_member_bytes))
            return
        self._fh.close()
        kind = archive_kind(self.file)
        if kind is None:
            level.add(self.path, "extracted", file=self.file, size=self.size)
        else:
            level.nested.append(_Nested(self.path, self.file, self.size, self.sha256.hexdigest(), kind))


def _copy_member(level: _Level, path: str, rel: str, src: IO[bytes], compressed: int | None) -> str:
    """Stream src into a new file. Returns "" on success, else why the member failed (already recorded)."""
    try:
        sink = _Sink(level, path, rel, compressed)
    except _Escape:
        level.add(path, "skipped", "path traversal outside the archive refused")
        return ""
    except OSError as exc:
        level.add(path, "failed", f"could not write the file: {exc.strerror or exc}")
        return ""
    try:
        while not sink.too_big:
            chunk = src.read(CHUNK_SIZE)
            if not chunk:
                break
            sink.write(chunk)
    except ArchiveError:
        raise
    except _DAMAGED as exc:
        sink.discard()
        reason = f"corrupt member: {_describe(exc)}"
        level.add(path, "failed", reason)
        return reason
    except BaseException:
        sink.discard()
        raise
    sink.finish()
    return ""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unreadable(exc: BaseException) -> _UnreadableArchive:
    return _UnreadableArchive(f"The archive is corrupt or not a readable zip/tar/7z: {_describe(exc)}")


# --- sniffing ---------------------------------------------------------------------------------


def _sniff(path: Path) -> str | None:
    """The container format from the first bytes (tar: from a parsed header), Office files not excluded."""
    with path.open("rb") as fh:
        head = fh.read(8)
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
    if not head:
        return None
    if head.startswith(_ZIP_MAGICS):
        return "zip"
    if head.startswith(_7Z_MAGIC):
        return "7z"
    # Only then ask tarfile (it tries every compression): this runs on every extracted member.
    if (size >= _TAR_BLOCK or head.startswith(_TAR_COMPRESSION_MAGICS)) and _is_tar(path):
        return "tar"
    return None


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except _DAMAGED:
        return False


def _is_office_zip(path: Path) -> bool:
    """OOXML ([Content_Types].xml), ODF and EPUB ('mimetype') packages are documents, not archives."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "[Content_Types].xml" in names:
                return True
            if "mimetype" not in names:
                return False
            info = zf.getinfo("mimetype")
            if info.flag_bits & 0x1:
                return False
            with zf.open(info) as fh:
                mimetype = fh.read(64)
            return mimetype.startswith((b"application/vnd.oasis", b"application/epub"))
    except _DAMAGED:
        # A damaged package (e.g. a truncated docx) has no central directory: look at its first local headers.
        with path.open("rb") as fh:
            head = fh.read(64 * 1024)
        return _OFFICE_LOCAL_HEADER.search(head) is not None
