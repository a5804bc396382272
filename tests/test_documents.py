"""Reading seeds: good files in, bad files skipped with a warning naming them."""

import logging
import os

import pytest

from index.documents import read_documents


def test_bad_seed_files_are_skipped_with_a_warning_naming_each(tmp_path, caplog):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.txt").write_text("A good document.\nWith two paragraphs.", encoding="utf-8")
    (seeds / "notes.md").write_text("# Notes\n\nMarkdown is read too.", encoding="utf-8")
    (seeds / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (seeds / "empty.txt").write_text("   \n", encoding="utf-8")
    (seeds / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (seeds / "ignored.pdf").write_bytes(b"%PDF-1.4")
    with caplog.at_level(logging.WARNING):
        documents, skipped = read_documents(seeds)
    assert [d.doc for d in documents] == ["good.txt", "notes.md"]
    assert {s.path for s in skipped} == {"binary.txt", "empty.txt", "latin1.txt"}
    for name in ("binary.txt", "empty.txt", "latin1.txt"):
        assert any(name in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert "not valid UTF-8" in {s.path: s.reason for s in skipped}["latin1.txt"]


def test_oversized_file_is_skipped(tmp_path):
    (tmp_path / "big.txt").write_text("x" * 5000, encoding="utf-8")
    documents, skipped = read_documents(tmp_path, max_bytes=1000)
    assert documents == [] and "too large" in skipped[0].reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_skipped(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hidden", encoding="utf-8")
    path.chmod(0)
    documents, skipped = read_documents(tmp_path)
    assert documents == [] and skipped[0].path == "secret.txt"


def test_symlink_loop_does_not_hang_or_duplicate(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "doc.txt").write_text("Inside.", encoding="utf-8")
    os.symlink("..", tmp_path / "sub" / "loop")
    documents, _ = read_documents(tmp_path)
    assert [d.doc for d in documents] == ["sub/doc.txt"]


def test_utf8_bom_is_stripped_and_hash_is_of_the_bytes(tmp_path):
    (tmp_path / "bom.txt").write_bytes("\ufeffHello.".encode("utf-8"))
    (documents, _) = read_documents(tmp_path)
    assert documents[0].text == "Hello."
    assert len(documents[0].sha256) == 64
