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

Where it lives: `extract` has the entry point `extract_archive` and expands nested archives; `zip`,
`tar` and `sevenzip` read one format each; `common` holds what they share (limits, outcomes, errors,
safe names, the sink that writes a member under the bomb checks, and `archive_kind` sniffing).
"""

from ingest.archives.common import REST_OF_ARCHIVE, ArchiveError, ArchiveLimits, MemberOutcome, archive_kind
from ingest.archives.extract import _check_not_ancestor as _check_not_ancestor  # private; imported by the tests
from ingest.archives.extract import extract_archive

__all__ = ["REST_OF_ARCHIVE", "ArchiveError", "ArchiveLimits", "MemberOutcome", "archive_kind", "extract_archive"]
