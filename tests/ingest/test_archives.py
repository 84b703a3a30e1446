"""ingest.archives: safe, streaming extraction of uploaded archives.

Every fixture is built here with zipfile/tarfile/py7zr; hostile archives that those libraries refuse
to write (encrypted flag, raw Shift-JIS names) are made by patching the bytes of an ordinary one.
"""

from __future__ import annotations

import io
import os
import random
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import py7zr
import pytest

from ingest.archives import (
    ArchiveError,
    ArchiveLimits,
    MemberOutcome,
    _check_not_ancestor,
    archive_kind,
    extract_archive,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edge-cases"  # beside the checkout
MiB = 1024 * 1024


# --- helpers ----------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


TarMode = Literal["w", "w:gz", "w:bz2", "w:xz"]


def make_tar(path: Path, members: dict[str, bytes], mode: TarMode = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def make_7z(path: Path, members: dict[str, bytes], **kwargs: object) -> Path:
    with py7zr.SevenZipFile(path, "w", **kwargs) as archive:  # type: ignore[arg-type]
        for name, data in members.items():
            archive.writestr(data, name)
    return path


BUILDERS: dict[str, Callable[[Path, dict[str, bytes]], Path]] = {"zip": make_zip, "tar.gz": make_tar, "7z": make_7z}


def by_path(outcomes: list[MemberOutcome]) -> dict[str, MemberOutcome]:
    return {o.path: o for o in outcomes}


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def disk_usage(folder: Path) -> int:
    return sum(p.stat().st_size for p in files_under(folder))


def central_records(data: bytes) -> dict[str, int]:
    """Offsets of the central-directory records of a zip, by raw name."""
    records = {}
    start = 0
    while (offset := data.find(b"PK\x01\x02", start)) >= 0:
        name_len = struct.unpack_from("<H", data, offset + 28)[0]
        records[data[offset + 46 : offset + 46 + name_len].decode("latin-1")] = offset
        start = offset + 4
    return records


def random_bytes(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    """The parent of dest: anything written here but outside dest escaped."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def assert_nothing_outside(work: Path, dest: Path) -> None:
    escaped = [p for p in work.rglob("*") if not p.resolve().is_relative_to(dest.resolve()) and p != dest]
    assert escaped == []


def assert_outcomes_match_disk(outcomes: list[MemberOutcome], dest: Path) -> None:
    written = sorted(o.file for o in outcomes if o.file is not None)
    assert [p.resolve() for p in files_under(dest)] == written
    for o in outcomes:
        assert (o.file is not None) == (o.status == "extracted")


# --- archive_kind -----------------------------------------------------------------------------


def test_it_recognises_archives_by_content_not_by_name(tmp_path: Path) -> None:
    zipped = make_zip(tmp_path / "data.bin", {"a.txt": b"a"})
    tgz = make_tar(tmp_path / "report.pdf", {"a.txt": b"a"}, "w:gz")
    tbz = make_tar(tmp_path / "b.dat", {"a.txt": b"a"}, "w:bz2")
    txz = make_tar(tmp_path / "c.dat", {"a.txt": b"a"}, "w:xz")
    plain_tar = make_tar(tmp_path / "d.dat", {"a.txt": b"a"}, "w")
    seven = make_7z(tmp_path / "notes.txt", {"a.txt": b"a"})
    fake = tmp_path / "fake.zip"
    fake.write_text("just text, not an archive\n" * 40)
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(b"")

    assert archive_kind(zipped) == "zip"
    assert [archive_kind(p) for p in (tgz, tbz, txz, plain_tar)] == ["tar"] * 4
    assert archive_kind(seven) == "7z"
    assert archive_kind(fake) is None
    assert archive_kind(empty) is None
    assert archive_kind(tmp_path / "missing.zip") is None


def test_it_treats_office_odf_and_epub_packages_as_documents_not_archives(tmp_path: Path) -> None:
    docx = make_zip(tmp_path / "report.docx", {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    odt = tmp_path / "letter.odt"
    with zipfile.ZipFile(odt, "w") as zf:
        zf.writestr("mimetype", b"application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        zf.writestr("content.xml", b"<office/>", zipfile.ZIP_DEFLATED)
    epub = tmp_path / "book.epub"
    with zipfile.ZipFile(epub, "w") as zf:
        zf.writestr("mimetype", b"application/epub+zip", zipfile.ZIP_STORED)
        zf.writestr("OEBPS/content.opf", b"<package/>")
    other_mimetype = make_zip(tmp_path / "other.zip", {"mimetype": b"text/plain"})
    truncated_docx = tmp_path / "truncated.docx"
    truncated_docx.write_bytes(docx.read_bytes()[:60])

    assert archive_kind(docx) is None
    assert archive_kind(odt) is None
    assert archive_kind(epub) is None
    assert archive_kind(truncated_docx) is None
    assert archive_kind(other_mimetype) == "zip"


# --- ordinary archives ------------------------------------------------------------------------


def test_it_extracts_a_zip_keeping_its_folders(work: Path, tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "upload.zip",
        {"manuals/pump.txt": b"pump", "manuals/2024/valve.txt": b"valve", "readme.txt": b"hi", "empty/": b""},
    )
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert {o.path: o.status for o in outcomes} == {
        "manuals/pump.txt": "extracted",
        "manuals/2024/valve.txt": "extracted",
        "readme.txt": "extracted",
    }
    assert (dest / "manuals" / "2024" / "valve.txt").read_bytes() == b"valve"
    assert by_path(outcomes)["manuals/pump.txt"].size == 4
    assert by_path(outcomes)["manuals/pump.txt"].file == (dest / "manuals" / "pump.txt").resolve()
    assert_outcomes_match_disk(outcomes, dest)


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_it_extracts_tarballs_whatever_their_compression(work: Path, tmp_path: Path, mode: TarMode) -> None:
    archive = make_tar(tmp_path / "upload.tar", {"docs/a.txt": b"alpha", "b.txt": b"beta"}, mode)
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert {o.path: o.status for o in outcomes} == {"docs/a.txt": "extracted", "b.txt": "extracted"}
    assert (dest / "docs" / "a.txt").read_bytes() == b"alpha"
    assert_outcomes_match_disk(outcomes, dest)


def test_it_extracts_a_7z_archive(work: Path, tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "upload.7z", {"docs/a.txt": b"alpha", "b.txt": b"beta", "empty.txt": b""})
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert {o.path: o.status for o in outcomes} == {
        "docs/a.txt": "extracted",
        "b.txt": "extracted",
        "empty.txt": "extracted",
    }
    assert (dest / "docs" / "a.txt").read_bytes() == b"alpha"
    assert (dest / "empty.txt").read_bytes() == b""
    assert_outcomes_match_disk(outcomes, dest)


def test_it_keeps_both_members_with_the_same_name(work: Path, tmp_path: Path) -> None:
    archive = tmp_path / "dupes.zip"
    with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("report.pdf", b"first")
        zf.writestr("report.pdf", b"second")
        zf.writestr("a", b"a file")
        zf.writestr("a/b.txt", b"a file inside a folder of the same name")
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert [o.status for o in outcomes] == ["extracted"] * 4
    assert (dest / "report.pdf").read_bytes() == b"first"
    assert (dest / "report (2).pdf").read_bytes() == b"second"
    assert (dest / "a").read_bytes() == b"a file"
    assert (dest / "a (2)" / "b.txt").read_bytes() == b"a file inside a folder of the same name"
    assert_outcomes_match_disk(outcomes, dest)


# --- hostile names and entries ----------------------------------------------------------------


def test_it_refuses_zip_slip_paths(work: Path, tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "slip.zip",
        {
            "../../evil.txt": b"evil",
            "docs/../../evil2.txt": b"evil",
            "..\\..\\evil3.txt": b"evil",
            "docs/../fine.txt": b"fine",
        },
    )
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    for name in ("../../evil.txt", "docs/../../evil2.txt", "..\\..\\evil3.txt"):
        assert outcomes[name].status == "skipped"
        assert "path traversal" in outcomes[name].reason
    assert outcomes["docs/../fine.txt"].status == "extracted"
    assert (dest / "fine.txt").read_bytes() == b"fine"
    assert_nothing_outside(work, dest)
    assert not list(tmp_path.rglob("evil*.txt"))


def test_it_refuses_absolute_paths(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "abs.zip", {"/etc/evil": b"evil", "C:/evil.txt": b"evil", "C:\\x\\evil.txt": b"e"})
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert len(outcomes) == 3
    for outcome in outcomes:
        assert outcome.status == "skipped"
        assert "absolute path" in outcome.reason
    assert files_under(dest) == []
    assert_nothing_outside(work, dest)


def test_it_refuses_tar_slip_and_absolute_paths(work: Path, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "slip.tar.gz", {"../evil.txt": b"e", "/tmp/evil.txt": b"e", "ok.txt": b"ok"})
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert "path traversal" in outcomes["../evil.txt"].reason
    assert "absolute path" in outcomes["/tmp/evil.txt"].reason
    assert outcomes["ok.txt"].status == "extracted"
    assert_nothing_outside(work, dest)


def test_it_skips_symlinks_hardlinks_and_devices_in_a_tar(work: Path, tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        for name, kind, link in [
            ("passwd", tarfile.SYMTYPE, "/etc/passwd"),
            ("hard", tarfile.LNKTYPE, "/etc/shadow"),
            ("null", tarfile.CHRTYPE, ""),
            ("pipe", tarfile.FIFOTYPE, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = link
            tf.addfile(info)
        info = tarfile.TarInfo("passwd/through-the-link.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"data"))
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["passwd"].reason == "symbolic link skipped"
    assert outcomes["hard"].reason == "hard link skipped"
    assert outcomes["null"].reason == "device or special file skipped"
    assert outcomes["pipe"].reason == "device or special file skipped"
    assert {o.status for path, o in outcomes.items() if path != "passwd/through-the-link.txt"} == {"skipped"}
    assert outcomes["passwd/through-the-link.txt"].status == "extracted"
    assert not [p for p in dest.rglob("*") if p.is_symlink()]
    assert (dest / "passwd").is_dir()
    assert_nothing_outside(work, dest)


def test_it_skips_symlink_entries_in_a_zip(work: Path, tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("ok.txt", b"ok")
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["passwd"].status == "skipped"
    assert outcomes["passwd"].reason == "symbolic link skipped"
    assert outcomes["ok.txt"].status == "extracted"
    assert not (dest / "passwd").exists()


def test_it_skips_symlinks_in_a_7z(work: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    archive = tmp_path / "link.7z"
    with py7zr.SevenZipFile(archive, "w") as sz:
        sz.write(tmp_path / "link", "link")
        sz.writestr(b"ok", "ok.txt")
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["link"].status == "skipped"
    assert outcomes["link"].reason == "symbolic link skipped"
    assert outcomes["ok.txt"].status == "extracted"
    assert files_under(dest) == [dest / "ok.txt"]


def _with_raw_name(archive: Path, placeholder: str, raw: bytes) -> None:
    """zipfile writes non-ASCII names as UTF-8; put legacy-encoded bytes in place of an ASCII placeholder."""
    data = archive.read_bytes()
    assert len(placeholder.encode()) == len(raw)
    archive.write_bytes(data.replace(placeholder.encode(), raw))


def test_it_recovers_shift_jis_and_gbk_member_names(work: Path, tmp_path: Path) -> None:
    sjis = "文章1.txt".encode("shift_jis")
    gbk = "审计/报告.doc".encode("gbk")
    archive = make_zip(tmp_path / "legacy.zip", {"S" * len(sjis): b"japanese", "G" * len(gbk): b"chinese"})
    _with_raw_name(archive, "S" * len(sjis), sjis)
    _with_raw_name(archive, "G" * len(gbk), gbk)
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["文章1.txt"].status == "extracted"
    assert (dest / "文章1.txt").read_bytes() == b"japanese"
    assert (dest / "审计" / "报告.doc").read_bytes() == b"chinese"


# --- limits -----------------------------------------------------------------------------------


def test_it_stops_a_zip_bomb_before_writing_it(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"a.txt": b"harmless", "zeros.bin": bytes(50 * MiB)})
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="zip bomb") as caught:
        extract_archive(archive, dest, ArchiveLimits(max_ratio=100))

    assert "zeros.bin" in str(caught.value)
    assert disk_usage(dest) < MiB
    assert not (dest / "zeros.bin").exists()
    assert_outcomes_match_disk(caught.value.outcomes, dest)


def test_it_stops_a_tar_gz_bomb_while_streaming(work: Path, tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tar.gz", {"zeros.bin": bytes(50 * MiB)})
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="zip bomb"):
        extract_archive(archive, dest, ArchiveLimits(max_ratio=100))

    assert files_under(dest) == []
    assert_nothing_outside(work, dest)


def test_it_stops_when_the_archive_expands_beyond_the_total_limit(work: Path, tmp_path: Path) -> None:
    members = {f"part{i}.bin": random_bytes(MiB, seed=i) for i in range(4)}
    archive = make_tar(tmp_path / "big.tar", members, "w")
    dest = work / "dest"
    limit = int(2.5 * MiB)

    with pytest.raises(ArchiveError, match=r"expands beyond 2\.5 MiB") as caught:
        extract_archive(archive, dest, ArchiveLimits(max_total_bytes=limit))

    assert disk_usage(dest) <= limit
    assert [o.path for o in caught.value.outcomes] == ["part0.bin", "part1.bin"]
    assert_outcomes_match_disk(caught.value.outcomes, dest)


def test_it_refuses_a_zip_whose_declared_total_is_over_the_limit(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {f"part{i}.bin": random_bytes(MiB, seed=i) for i in range(3)})
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="expands beyond"):
        extract_archive(archive, dest, ArchiveLimits(max_total_bytes=2 * MiB))

    assert files_under(dest) == []


@pytest.mark.parametrize("suffix", ["zip", "tar.gz", "7z"])
def test_it_fails_a_member_over_the_per_file_limit_and_keeps_the_others(
    work: Path, tmp_path: Path, suffix: str
) -> None:
    members = {"small.txt": b"small", "large.bin": random_bytes(5000)}
    archive = BUILDERS[suffix](tmp_path / f"up.{suffix}", members)
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest, ArchiveLimits(max_member_bytes=1000)))

    assert outcomes["small.txt"].status == "extracted"
    assert outcomes["large.bin"].status == "failed"
    assert "per-file limit" in outcomes["large.bin"].reason
    assert files_under(dest) == [dest / "small.txt"]


@pytest.mark.parametrize("suffix", ["zip", "tar.gz", "7z"])
def test_it_stops_when_there_are_too_many_members(work: Path, tmp_path: Path, suffix: str) -> None:
    members = {f"f{i}.txt": b"x" for i in range(6)}
    archive = BUILDERS[suffix](tmp_path / f"up.{suffix}", members)
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="more than 5 files") as caught:
        extract_archive(archive, dest, ArchiveLimits(max_members=5))

    assert len(caught.value.outcomes) <= 5
    assert_outcomes_match_disk(caught.value.outcomes, dest)


def test_limits_are_shared_across_nested_archives(work: Path, tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", {f"in{i}.txt": b"x" for i in range(3)})
    archive = make_zip(tmp_path / "outer.zip", {"inner.zip": inner.read_bytes(), "a.txt": b"a", "b.txt": b"b"})
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="more than 5 files"):
        extract_archive(archive, dest, ArchiveLimits(max_members=5))

    assert not (dest / "inner.zip").is_file()  # the nested archive itself never stays behind


# --- encrypted and damaged --------------------------------------------------------------------


def test_it_reports_an_encrypted_zip_member_as_failed_and_extracts_the_rest(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "enc.zip", {"secret.txt": b"s3cr3t", "plain.txt": b"hello"})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:  # zipfile cannot write encrypted entries: set the flag by hand
        local = zf.getinfo("secret.txt").header_offset
    central = central_records(bytes(data))["secret.txt"]
    struct.pack_into("<H", data, local + 6, struct.unpack_from("<H", data, local + 6)[0] | 0x1)
    struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 0x1)
    archive.write_bytes(bytes(data))
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["secret.txt"].status == "failed"
    assert "encrypted" in outcomes["secret.txt"].reason
    assert "password required" in outcomes["secret.txt"].reason
    assert outcomes["plain.txt"].status == "extracted"
    assert files_under(dest) == [dest / "plain.txt"]


def test_it_reports_encrypted_7z_members_as_failed(work: Path, tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "enc.7z", {"a.txt": b"alpha", "b.txt": b"beta"}, password="pw")
    dest = work / "dest"

    outcomes = extract_archive(archive, dest)

    assert {o.path for o in outcomes} == {"a.txt", "b.txt"}
    assert all(o.status == "failed" and "encrypted" in o.reason for o in outcomes)
    assert files_under(dest) == []


def test_it_refuses_a_7z_whose_listing_is_encrypted(work: Path, tmp_path: Path) -> None:
    archive = make_7z(tmp_path / "henc.7z", {"a.txt": b"alpha"}, password="pw", header_encryption=True)

    with pytest.raises(ArchiveError, match="encrypted"):
        extract_archive(archive, work / "dest")


def test_it_raises_for_random_bytes_with_a_zip_header(work: Path, tmp_path: Path) -> None:
    archive = tmp_path / "junk.zip"
    archive.write_bytes(b"PK\x03\x04" + random_bytes(4096))

    with pytest.raises(ArchiveError, match="corrupt or not a readable zip/tar/7z"):
        extract_archive(archive, work / "dest")


def test_it_raises_for_a_zip_truncated_in_the_middle(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "cut.zip", {f"f{i}.bin": random_bytes(20_000, seed=i) for i in range(3)})
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])

    with pytest.raises(ArchiveError, match="corrupt") as caught:
        extract_archive(archive, work / "dest")

    assert caught.value.outcomes == []


def test_it_raises_for_an_empty_archive_file(work: Path, tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    archive.write_bytes(b"")

    with pytest.raises(ArchiveError, match="The archive is empty"):
        extract_archive(archive, work / "dest")


def test_it_fails_a_corrupt_member_and_keeps_the_intact_ones(work: Path, tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "crc.zip",
        {"good1.txt": b"first", "bad.bin": random_bytes(10_000), "good2.txt": b"second"},
        zipfile.ZIP_STORED,
    )
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        start = zf.getinfo("bad.bin").header_offset + 30 + len("bad.bin")
    data[start + 5000] ^= 0xFF
    archive.write_bytes(bytes(data))
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["bad.bin"].status == "failed"
    assert "CRC" in outcomes["bad.bin"].reason
    assert outcomes["good1.txt"].status == outcomes["good2.txt"].status == "extracted"
    assert files_under(dest) == [dest / "good1.txt", dest / "good2.txt"]


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_it_keeps_what_was_extracted_before_a_truncated_tar_broke(work: Path, tmp_path: Path, mode: TarMode) -> None:
    members = {"first.bin": random_bytes(100_000, 1), "second.bin": random_bytes(100_000, 2), "third.txt": b"3"}
    archive = make_tar(tmp_path / "cut.tar", members, mode)
    archive.write_bytes(archive.read_bytes()[:150_000])
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["first.bin"].status == "extracted"
    assert (dest / "first.bin").read_bytes() == members["first.bin"]
    assert outcomes["second.bin"].status == "failed"
    assert outcomes["(rest of archive)"].status == "failed"
    assert "third.txt" not in outcomes
    assert files_under(dest) == [dest / "first.bin"]


# --- nesting ----------------------------------------------------------------------------------


def test_it_expands_a_nested_zip_into_a_folder_named_after_it(work: Path, tmp_path: Path) -> None:
    inner = make_zip(tmp_path / "inner.zip", {"file.txt": b"inside", "sub/deep.txt": b"deeper"})
    inner_tgz = make_tar(tmp_path / "inner.tgz", {"t.txt": b"tar inside"})
    archive = make_zip(
        tmp_path / "outer.zip",
        {"docs/inner.zip": inner.read_bytes(), "inner.tgz": inner_tgz.read_bytes(), "top.txt": b"top"},
    )
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert set(outcomes) == {"docs/inner.zip/file.txt", "docs/inner.zip/sub/deep.txt", "inner.tgz/t.txt", "top.txt"}
    assert {o.status for o in outcomes.values()} == {"extracted"}
    assert (dest / "docs" / "inner.zip" / "file.txt").read_bytes() == b"inside"
    assert (dest / "inner.tgz" / "t.txt").read_bytes() == b"tar inside"
    assert (dest / "docs" / "inner.zip").is_dir()
    assert_outcomes_match_disk(list(outcomes.values()), dest)


def test_it_honours_the_nesting_depth_limit(work: Path, tmp_path: Path) -> None:
    level2 = make_zip(tmp_path / "level2.zip", {"deep.txt": b"deep"})
    level1 = make_zip(tmp_path / "level1.zip", {"mid.txt": b"mid", "level2.zip": level2.read_bytes()})
    archive = make_zip(tmp_path / "top.zip", {"level1.zip": level1.read_bytes()})

    one = by_path(extract_archive(archive, work / "one", ArchiveLimits(max_depth=1)))
    none = by_path(extract_archive(archive, work / "none", ArchiveLimits(max_depth=0)))
    two = by_path(extract_archive(archive, work / "two", ArchiveLimits(max_depth=2)))

    assert one["level1.zip/mid.txt"].status == "extracted"
    assert one["level1.zip/level2.zip"].status == "skipped"
    assert one["level1.zip/level2.zip"].reason == "nested archive deeper than 1 levels not expanded"
    assert not (work / "one" / "level1.zip" / "level2.zip").exists()
    assert list(none) == ["level1.zip"]
    assert none["level1.zip"].status == "skipped"
    assert two["level1.zip/level2.zip/deep.txt"].status == "extracted"


def test_it_fails_only_the_nested_archive_that_cannot_be_read(work: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "outer.zip", {"broken.zip": b"PK\x03\x04" + random_bytes(500), "ok.txt": b"ok"})
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["broken.zip"].status == "failed"
    assert "nested archive not readable" in outcomes["broken.zip"].reason
    assert outcomes["ok.txt"].status == "extracted"
    assert files_under(dest) == [dest / "ok.txt"]


def test_a_nested_office_document_is_kept_as_a_file(work: Path, tmp_path: Path) -> None:
    docx = make_zip(tmp_path / "report.docx", {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    archive = make_zip(tmp_path / "outer.zip", {"report.docx": docx.read_bytes()})
    dest = work / "dest"

    outcomes = by_path(extract_archive(archive, dest))

    assert outcomes["report.docx"].status == "extracted"
    assert (dest / "report.docx").read_bytes() == docx.read_bytes()


def test_the_ancestor_check_refuses_an_archive_identical_to_one_containing_it() -> None:
    ancestors = ("aaa", "bbb")

    _check_not_ancestor("ccc", ancestors, "x.zip")
    with pytest.raises(ArchiveError, match="contains itself"):
        _check_not_ancestor("aaa", ancestors, "a/b.zip/x.zip")


def test_it_stops_on_an_archive_that_contains_itself(work: Path) -> None:
    droste = CORPUS / "droste.zip"
    if not droste.exists():
        pytest.skip("corpus file droste.zip is not available")
    dest = work / "dest"

    with pytest.raises(ArchiveError, match="contains itself") as caught:
        extract_archive(droste, dest)

    assert not (dest / "droste.zip").exists()
    assert [p.name for p in files_under(dest)] == ["droste.jpg"]
    assert_outcomes_match_disk(caught.value.outcomes, dest)


def test_it_writes_into_a_destination_it_creates(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.txt": b"a"})
    dest = tmp_path / "not" / "yet" / "there"

    outcomes = extract_archive(archive, dest)

    assert outcomes[0].file == (dest / "a.txt").resolve()
    assert os.listdir(dest) == ["a.txt"]
