"""The dispatcher: the upload's entry point, one archive level by format, and nested archives expanded in place.

It imports the per-format modules (which import only `common`), so there is no import cycle."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

from ingest.archives.common import (
    CHUNK_SIZE,
    ArchiveError,
    ArchiveLimits,
    MemberOutcome,
    _Level,
    _Nested,
    _Run,
    _sniff,
    _UnreadableArchive,
)
from ingest.archives.sevenzip import _extract_7z
from ingest.archives.tar import _extract_tar
from ingest.archives.zip import _extract_zip


def extract_archive(
    path: Path,
    dest: Path,
    limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008  (a frozen dataclass: ruff cannot see that once imported)
) -> list[MemberOutcome]:
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


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()
