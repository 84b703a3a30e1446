"""Zip: headers checked for bombs before anything is written, each member's own ratio while it streams."""

from __future__ import annotations

import stat
import zipfile

from ingest.archives.common import (
    _DAMAGED,
    RATIO_CHECK_AFTER,
    ArchiveError,
    _bomb_message,
    _copy_member,
    _describe,
    _Level,
    _member_limit_reason,
    _normalise_name,
    _total_message,
    _unreadable,
)

_SPECIAL_FILE_TYPES = (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)


# --- zip --------------------------------------------------------------------------------------


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
