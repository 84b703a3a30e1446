"""7z: py7zr extracts the planned members through a writer factory that streams them into the common sink."""

from __future__ import annotations

from dataclasses import dataclass

import py7zr
from py7zr import exceptions as py7zr_errors
from py7zr.compressor import SupportedMethods
from py7zr.helpers import get_sanitized_output_path
from py7zr.io import Py7zIO, WriterFactory
from py7zr.py7zr import ArchiveFile

from ingest.archives.common import (
    _DAMAGED,
    RATIO_CHECK_AFTER,
    ArchiveError,
    _bomb_message,
    _describe,
    _Escape,
    _Level,
    _member_limit_reason,
    _normalise_name,
    _Sink,
    _total_message,
    _unreadable,
    _UnreadableArchive,
)

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


def _7z_member_refusal(level: _Level, member: ArchiveFile) -> tuple[str, tuple[str, str] | None]:
    """A member's path inside the destination, and the (outcome, reason) it is recorded with
    instead of being extracted — None when it is extracted."""
    if member.is_symlink or member.is_junction:
        return "", ("skipped", "symbolic link skipped")
    if not member.is_file:
        return "", ("skipped", "device or special file skipped")
    rel, refused = _normalise_name(member.filename)
    if not refused:
        try:
            get_sanitized_output_path(member.filename, level.base)
        except py7zr_errors.Bad7zFile:
            refused = "path traversal outside the archive refused"
    if refused:
        return rel, ("skipped", refused)
    if _7z_encrypted(member):
        return rel, ("failed", "encrypted member, password required")
    if member.uncompressed > level.limits.max_member_bytes:
        return rel, ("failed", _member_limit_reason(level.limits.max_member_bytes))
    return rel, None


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
        rel, outcome = _7z_member_refusal(level, member)
        if outcome is not None:
            level.add(path, *outcome)
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
