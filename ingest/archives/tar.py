"""Tar (plain, gz, bz2, xz): read as a stream, member by member, judged by the whole archive's ratio."""

from __future__ import annotations

import tarfile

from ingest.archives.common import (
    _DAMAGED,
    REST_OF_ARCHIVE,
    _copy_member,
    _describe,
    _Level,
    _member_limit_reason,
    _normalise_name,
    _unreadable,
)

# --- tar --------------------------------------------------------------------------------------


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
