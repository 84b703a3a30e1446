"""Safe, streaming extraction of uploaded zip, tar (plain, gz, bz2, xz) and 7z archives.

Uploads are untrusted, so every member is streamed to disk in chunks while its bytes are counted:
limits (per file, in total, member count, compression ratio, nesting depth) are enforced on what is
actually decompressed, never on header sizes alone (headers are only used to refuse early). Names
are normalised and confined to the destination, links and special files are never created, and
nothing is ever overwritten: a second member with the same name gets a " (2)" suffix.

Every member ends as one `MemberOutcome`. A problem with one member (corrupt, encrypted, too big,
unsafe name) fails or skips that member only; a problem with the whole upload (unreadable, a zip
bomb, an archive that contains itself, a limit on the whole upload) raises `ArchiveError`, which
carries the outcomes gathered so far.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import posixpath
import re
import stat
import struct
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import py7zr
from py7zr import exceptions as py7zr_errors
from py7zr.compressor import SupportedMethods
from py7zr.helpers import get_sanitized_output_path
from py7zr.io import Py7zIO, WriterFactory
from py7zr.py7zr import ArchiveFile

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
_SPECIAL_FILE_TYPES = (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)

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


def extract_archive(path: Path, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> list[MemberOutcome]:
    """Extract into dest (created if missing). Every member ends as one outcome; directories produce no outcome.

    Nested archives are expanded in place of the member (into a folder named after it) up to
    `limits.max_depth`. Raises ArchiveError, with the outcomes so far, when the upload must stop.
    """
    dest.mkdir(parents=True, exist_ok=True)
    run = _Run(dest=dest.resolve(), limits=limits)
    try:
        size = path.stat().st_size
        if size == 0:
            raise _UnreadableArchive("The archive is empty")
        kind = _sniff(path)
        if kind is None and zipfile.is_zipfile(path):
            kind = "zip"  # e.g. a self-extracting or prefixed zip: readable, though not sniffed as an archive
        if kind is None:
            raise _UnreadableArchive("The archive is corrupt or not a readable zip/tar/7z: unrecognised format")
        level = _Level(run=run, archive=path, base=run.dest, prefix="", depth=0, ancestors=(_sha256_of(path),))
        _extract_level(level, kind)
    except OSError as exc:
        raise ArchiveError(f"The archive could not be read: {exc.strerror or exc}", run.outcomes) from exc
    except ArchiveError as exc:
        exc.outcomes = run.outcomes
        raise
    return run.outcomes


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


def _zip_member_name(info: zipfile.ZipInfo) -> str:
    """Names without the UTF-8 flag were decoded as cp437 by zipfile; recover what the creator most likely meant."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "shift_jis", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _tar_member_name(info: tarfile.TarInfo) -> str:
    """tarfile keeps undecodable bytes as surrogates; give them a chance as Shift-JIS/GBK, else replace them."""
    try:
        info.name.encode("utf-8")
        return info.name
    except UnicodeEncodeError:
        raw = info.name.encode("utf-8", "surrogateescape")
    for encoding in ("shift_jis", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


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


# --- archive levels ---------------------------------------------------------------------------


def _extract_level(level: _Level, kind: str) -> None:
    """Extract one archive, then expand the archives found in it; nothing temporary outlives a stop."""
    try:
        {"zip": _extract_zip, "tar": _extract_tar, "7z": _extract_7z}[kind](level)
        while level.nested:
            _expand_nested(level, level.nested.pop(0))
    finally:
        for nested in level.nested:
            nested.file.unlink(missing_ok=True)
            level.run.total_bytes -= nested.size
        level.nested.clear()


def _check_not_ancestor(sha256: str, ancestors: tuple[str, ...], path: str) -> None:
    """An archive identical to one that contains it (a quine like droste.zip) would expand forever."""
    if sha256 in ancestors:
        raise ArchiveError(f"Extraction stopped: the archive contains itself ({path!r}); it would expand forever")


def _expand_nested(level: _Level, nested: _Nested) -> None:
    """Replace an extracted archive member by a folder of the same name holding its members."""
    run = level.run
    if level.depth >= level.limits.max_depth:
        nested.file.unlink(missing_ok=True)
        run.total_bytes -= nested.size
        level.add(nested.path, "skipped", f"nested archive deeper than {level.limits.max_depth} levels not expanded")
        return
    fd, tmp_name = tempfile.mkstemp(prefix=".nested-", suffix=".tmp", dir=nested.file.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.replace(nested.file, tmp)
    try:
        _check_not_ancestor(nested.sha256, level.ancestors, nested.path)
        nested.file.mkdir()
        child = _Level(
            run=run,
            archive=tmp,
            base=nested.file,
            prefix=nested.path + "/",
            depth=level.depth + 1,
            ancestors=(*level.ancestors, nested.sha256),
        )
        try:
            _extract_level(child, nested.kind)
        except _UnreadableArchive as exc:
            level.add(nested.path, "failed", f"nested archive not readable: {exc.message}")
            if not any(nested.file.iterdir()):
                nested.file.rmdir()
    finally:
        tmp.unlink(missing_ok=True)
        run.total_bytes -= nested.size


def _unreadable(exc: BaseException) -> _UnreadableArchive:
    return _UnreadableArchive(f"The archive is corrupt or not a readable zip/tar/7z: {_describe(exc)}")


# --- zip --------------------------------------------------------------------------------------


def _zip_is_dir(info: zipfile.ZipInfo) -> bool:
    return info.is_dir() or stat.S_IFMT(info.external_attr >> 16) == stat.S_IFDIR


def _extract_zip(level: _Level) -> None:
    try:
        zf = zipfile.ZipFile(level.archive)
    except _DAMAGED as exc:
        raise _unreadable(exc) from exc
    with zf:
        infos = [info for info in zf.infolist() if not _zip_is_dir(info)]
        level.count_member(len(infos))
        _check_zip_headers(level, infos)
        for info in infos:
            _extract_zip_member(level, zf, info)


def _zip_special(info: zipfile.ZipInfo) -> str:
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "symbolic link skipped"
    if kind in _SPECIAL_FILE_TYPES:
        return "device or special file skipped"
    return ""


def _check_zip_headers(level: _Level, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse an obvious bomb from the central directory before writing anything (streaming re-checks)."""
    limits = level.limits
    declared = 0
    for info in infos:
        if _zip_special(info) or info.flag_bits & 0x1:
            continue
        if info.file_size >= RATIO_CHECK_AFTER and info.file_size / max(info.compress_size, 1) > limits.max_ratio:
            raise ArchiveError(_bomb_message(level.prefix + _zip_member_name(info), limits.max_ratio))
        if info.file_size <= limits.max_member_bytes:
            declared += info.file_size
    if level.run.total_bytes + declared > limits.max_total_bytes:
        raise ArchiveError(_total_message(limits.max_total_bytes))


def _extract_zip_member(level: _Level, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name = _zip_member_name(info)
    path = level.prefix + name
    special = _zip_special(info)
    if special:
        level.add(path, "skipped", special)
        return
    rel, refused = _normalise_name(name)
    if refused:
        level.add(path, "skipped", refused)
        return
    if info.flag_bits & 0x1:
        level.add(path, "failed", "encrypted member, password required")
        return
    if info.file_size > level.limits.max_member_bytes:
        level.add(path, "failed", _member_limit_reason(level.limits.max_member_bytes))
        return
    # A lying header may claim a large compressed size; the member cannot be bigger than the archive.
    compressed = min(info.compress_size, level.archive_size)
    try:
        src = zf.open(info)
    except _DAMAGED as exc:
        level.add(path, "failed", f"corrupt member: {_describe(exc)}")
        return
    with src:
        _copy_member(level, path, rel, src, compressed)


# --- tar --------------------------------------------------------------------------------------


def _extract_tar(level: _Level) -> None:
    try:
        # Opened outside `with` so that only opening errors mean "unreadable"; closed by the `with` below.
        tf = tarfile.open(level.archive, mode="r:*", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except _DAMAGED as exc:
        raise _unreadable(exc) from exc
    with tf:
        while True:
            try:
                info = tf.next()
            except _DAMAGED as exc:
                level.add(level.prefix + REST_OF_ARCHIVE, "failed", f"the archive is damaged here: {_describe(exc)}")
                return
            if info is None:
                return
            if info.isdir():
                continue
            level.count_member()
            if _extract_tar_member(level, tf, info):
                return


def _extract_tar_member(level: _Level, tf: tarfile.TarFile, info: tarfile.TarInfo) -> bool:
    """Extract one tar member; True when the stream broke and the rest of the archive cannot be read."""
    name = _tar_member_name(info)
    path = level.prefix + name
    if info.issym():
        level.add(path, "skipped", "symbolic link skipped")
        return False
    if info.islnk():
        level.add(path, "skipped", "hard link skipped")
        return False
    if not info.isreg():
        level.add(path, "skipped", "device or special file skipped")
        return False
    rel, refused = _normalise_name(name)
    if refused:
        level.add(path, "skipped", refused)
        return False
    if info.size > level.limits.max_member_bytes:
        # Reading on still decompresses through it: count it towards the whole-archive ratio.
        level.expanded += info.size
        level.check_expansion(path)
        level.add(path, "failed", _member_limit_reason(level.limits.max_member_bytes))
        return False
    try:
        src = tf.extractfile(info)
    except _DAMAGED as exc:
        src = None
        broken = f"corrupt member: {_describe(exc)}"
        level.add(path, "failed", broken)
    else:
        if src is None:
            level.add(path, "skipped", "device or special file skipped")
            return False
        with src:
            broken = _copy_member(level, path, rel, src, None)
    if broken:
        level.add(level.prefix + REST_OF_ARCHIVE, "failed", f"not read after {name!r}: {broken}")
        return True
    return False


# --- 7z ---------------------------------------------------------------------------------------


@dataclass
class _Planned:
    """A 7z member chosen for extraction, found again by the key py7zr will hand to the writer factory."""

    path: str
    rel: str
    seen: bool = False


class _SevenZipWriter(Py7zIO):
    """Receives one member's bytes from py7zr and streams them through a _Sink (or drops them)."""

    def __init__(self, sink: _Sink | None) -> None:
        self.sink = sink
        self.written = 0

    def write(self, s: bytes | bytearray) -> int:
        self.written += len(s)
        if self.sink is not None:
            self.sink.write(bytes(s))
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        if self.sink is not None:
            sink, self.sink = self.sink, None
            sink.finish()


class _SevenZipFactory(WriterFactory):
    """Maps py7zr's output names back to our plan, so 7z members land where and how zip/tar members do."""

    def __init__(self, level: _Level, plan: dict[str, _Planned | None]) -> None:
        self.level = level
        self.plan = plan
        self.current: tuple[_Planned, _Sink] | None = None

    def create(self, filename: str) -> Py7zIO:
        self.abandon_current()
        planned = self.plan.get(filename)
        if planned is None or planned.seen:
            return _SevenZipWriter(None)  # a link or anything else we decided not to write
        planned.seen = True
        try:
            sink = _Sink(self.level, planned.path, planned.rel, None)
        except _Escape:
            self.level.add(planned.path, "skipped", "path traversal outside the archive refused")
            return _SevenZipWriter(None)
        except OSError as exc:
            self.level.add(planned.path, "failed", f"could not write the file: {exc.strerror or exc}")
            return _SevenZipWriter(None)
        self.current = (planned, sink)
        return _SevenZipWriter(sink)

    def abandon_current(self, reason: str = "member data incomplete") -> None:
        """Forget the member being written; if py7zr never finished it, it failed and its partial file goes."""
        if self.current is None:
            return
        planned, sink = self.current
        self.current = None
        if sink.is_open and not sink.too_big:
            sink.discard()
            self.level.add(planned.path, "failed", reason)


def _7z_encrypted(member: ArchiveFile) -> bool:
    folder = member.folder
    return folder is not None and SupportedMethods.needs_password(folder.coders)


def _extract_7z(level: _Level) -> None:
    with level.archive.open("rb") as fp:  # a file object keeps py7zr single-threaded
        try:
            archive = py7zr.SevenZipFile(fp, mode="r")
        except py7zr_errors.PasswordRequired as exc:
            raise _UnreadableArchive("The archive is encrypted: a password is required to open it") from exc
        except _DAMAGED as exc:
            raise _unreadable(exc) from exc
        with archive:
            _extract_7z_members(level, archive)


def _extract_7z_members(level: _Level, archive: py7zr.SevenZipFile) -> None:
    limits = level.limits
    members = [member for member in archive.files if not member.is_directory]
    level.count_member(len(members))
    # py7zr decompresses through every member of a solid block, so all of them count towards the ratio.
    expanding = sum(member.uncompressed for member in members)
    if expanding >= RATIO_CHECK_AFTER and expanding / level.archive_size > limits.max_ratio:
        raise ArchiveError(_bomb_message(level.prefix + level.archive.name, limits.max_ratio))
    targets: list[str] = []
    planned: dict[str, _Planned] = {}
    declared = 0
    for member in members:
        path = level.prefix + member.filename
        if member.is_symlink or member.is_junction:
            level.add(path, "skipped", "symbolic link skipped")
            continue
        if not member.is_file:
            level.add(path, "skipped", "device or special file skipped")
            continue
        rel, refused = _normalise_name(member.filename)
        if not refused:
            try:
                get_sanitized_output_path(member.filename, level.base)
            except py7zr_errors.Bad7zFile:
                refused = "path traversal outside the archive refused"
        if refused:
            level.add(path, "skipped", refused)
            continue
        if _7z_encrypted(member):
            level.add(path, "failed", "encrypted member, password required")
            continue
        if member.uncompressed > limits.max_member_bytes:
            level.add(path, "failed", _member_limit_reason(limits.max_member_bytes))
            continue
        declared += member.uncompressed
        targets.append(member.filename)
        planned[str(member.id)] = _Planned(path, rel)
    if level.run.total_bytes + declared > limits.max_total_bytes:
        raise ArchiveError(_total_message(limits.max_total_bytes))
    if not targets:
        return
    factory = _SevenZipFactory(level, _7z_output_keys(level, archive, set(targets), planned))
    try:
        archive.extract(path=level.base, targets=targets, factory=factory)
    except ArchiveError:
        factory.abandon_current("extraction stopped")
        raise
    except py7zr_errors.PasswordRequired:
        factory.abandon_current("encrypted member, password required")
        _7z_rest_failed(level, planned, "encrypted member, password required")
    except _DAMAGED as exc:
        factory.abandon_current(f"corrupt member: {_describe(exc)}")
        _7z_rest_failed(level, planned, f"the archive is damaged: {_describe(exc)}")
    else:
        factory.abandon_current()
        _7z_rest_failed(level, planned, "member data missing from the archive")


def _7z_output_keys(
    level: _Level, archive: py7zr.SevenZipFile, targets: set[str], planned: dict[str, _Planned]
) -> dict[str, _Planned | None]:
    """The names py7zr passes to the factory: its own sanitised path, with "_N" added to repeated names."""
    keys: dict[str, _Planned | None] = {}
    seen: dict[str, int] = {}
    for member in archive.files:
        if member.filename not in targets:
            continue
        if member.filename not in seen:
            outname = member.filename
            seen[member.filename] = 0
        else:
            outname = f"{member.filename}_{seen[member.filename]}"
            seen[member.filename] += 1
        try:
            key = get_sanitized_output_path(outname, level.base).as_posix()
        except py7zr_errors.Bad7zFile:
            continue
        keys[key] = planned.get(str(member.id))
    return keys


def _7z_rest_failed(level: _Level, planned: dict[str, _Planned], reason: str) -> None:
    """Members py7zr never reached (it stopped, or they were absent) still each get an outcome."""
    for item in planned.values():
        if not item.seen:
            item.seen = True
            level.add(item.path, "failed", reason)


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


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()
