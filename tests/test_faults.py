"""Faults: a build killed with SIGKILL midway, hostile seed folders."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from index.build import build_index
from index.store import current_dir
from retrieval.retriever import Retriever
from tests.fakes import FakeEmbedder, write_config

REPO = Path(__file__).resolve().parent.parent

SLOW_BUILD = textwrap.dedent(
    """
    import sys, time
    from core.config import load_config
    from index.build import build_index
    from tests.fakes import FakeEmbedder

    class Slow(FakeEmbedder):
        def encode(self, texts, **kw):
            print("embedding", flush=True)
            time.sleep(0.2)
            return super().encode(texts, **kw)

    build_index(load_config(sys.argv[1]), Slow())
    print("finished", flush=True)
    """
)


def test_build_killed_midway_leaves_the_old_index_serving_and_next_build_succeeds(tmp_path):
    config = write_config(tmp_path)
    for i in range(3):
        (config.seeds.dir / f"doc{i}.txt").write_text(f"Document {i} is about topic {i}.", encoding="utf-8")
    build_index(config, FakeEmbedder())
    before = current_dir(config.index.dir)
    # Enough new text that the build is still embedding when it is killed.
    for i in range(3, 600):
        (config.seeds.dir / f"doc{i}.txt").write_text(f"Document {i} covers subject {i}. " * 20, encoding="utf-8")

    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_BUILD, str(config.path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert process.stdout.readline().strip() == "embedding"
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    assert current_dir(config.index.dir) == before
    retriever = Retriever.open(config, FakeEmbedder())
    assert len(retriever.documents) == 3
    assert retriever.search("topic 1", 1)[0].passage.doc == "doc1.txt"

    report = build_index(config, FakeEmbedder())
    assert report.documents == 600 and report.added and not list(config.index.dir.glob(".build-*"))


def test_hostile_seed_folder_indexes_the_good_files_and_names_each_bad_one(tmp_path, caplog):
    config = write_config(tmp_path, extra="")
    seeds = config.seeds.dir
    (seeds / "good.txt").write_text("The lighthouse keeper lit the lamp at dusk.", encoding="utf-8")
    (seeds / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (seeds / "empty.md").write_bytes(b"")
    (seeds / "huge.txt").write_bytes(b"a" * (50 * 1024 * 1024 + 1))
    (seeds / "cp1252.txt").write_bytes("na\xefve \x93quotes\x94".encode("latin-1"))
    (seeds / "loop").mkdir()
    os.symlink("..", seeds / "loop" / "again")
    os.symlink("missing-target.txt", seeds / "dangling.txt")
    report = build_index(config, FakeEmbedder())
    assert report.documents == 1
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) >= {"binary.txt", "empty.md", "huge.txt", "cp1252.txt", "dangling.txt"}
    assert "too large" in reasons["huge.txt"] and "binary" in reasons["binary.txt"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in ("binary.txt", "empty.md", "huge.txt", "cp1252.txt", "dangling.txt"):
        assert name in warned


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_file_without_read_permission_is_skipped_when_not_root():
    """Root reads everything, so run the reader as 'nobody' to prove the permission path."""
    # pytest's tmp_path lives under a root-only folder; 'nobody' needs to reach this one.
    seeds = Path(tempfile.mkdtemp(prefix="seeds-perm-"))
    seeds.chmod(0o755)
    (seeds / "open.txt").write_text("Readable.", encoding="utf-8")
    secret = seeds / "secret.txt"
    secret.write_text("Not for you.", encoding="utf-8")
    secret.chmod(0o000)
    (seeds / "open.txt").chmod(0o644)
    code = (
        # Import first: the interpreter's own files may not be readable by 'nobody'.
        "import os, sys, encodings.utf_8_sig; from pathlib import Path;"
        "from index.documents import read_documents;"
        "os.setgid(65534); os.setuid(65534);"
        "docs, skipped = read_documents(Path(sys.argv[1]));"
        "print([d.doc for d in docs], [(s.path, s.reason) for s in skipped])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(seeds)], cwd=REPO, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 0, result.stderr
    assert "['open.txt']" in result.stdout and "secret.txt" in result.stdout and "cannot read" in result.stdout
    assert "secret.txt" in result.stderr  # the warning names it
    shutil.rmtree(seeds)


@pytest.mark.parametrize(
    "name",
    [
        "faiss.index", "store.sqlite", "manifest.json", "vectors.npy", "sentence_vectors.npy",
        "bm25/data.csc.index.npy", "bm25/indptr.csc.index.npy", "bm25/vocab.index.json", "bm25/params.index.json",
    ],
)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing"])
def test_damaged_index_file_is_named_with_the_command_that_fixes_it(tmp_path, name, damage):
    from core.errors import IndexCorruptError, IndexMismatchError

    config = write_config(tmp_path)
    (config.seeds.dir / "doc.txt").write_text("The lighthouse keeper lit the lamp. Ships came home.", encoding="utf-8")
    build_index(config, FakeEmbedder())
    path = current_dir(config.index.dir) / name
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\x01not what it should be" * 10)
    else:
        path.unlink()
    with pytest.raises((IndexCorruptError, IndexMismatchError)) as err:
        Retriever.open(config, FakeEmbedder())
    message = str(err.value)
    assert name in message and "python -m index build" in message and "\n" not in message
    # The fix works: the next build ignores the damaged version and serves again.
    build_index(config, FakeEmbedder())
    assert Retriever.open(config, FakeEmbedder()).search("lighthouse keeper", 1)
