"""The ONNX backend: same vectors as sentence-transformers, and a query path without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.config import DEFAULT_MODEL
from core.embedder import load_embedder, onnx_cache_dir
from core.errors import ModelError
from core.onnx_embedder import OnnxEmbedder, export_key, find_export
from tests.fakes import SEED_ARTICLE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model

TEXTS = [
    "Who co-chaired the dialogue?",
    "x",
    "   leading and trailing spaces   ",
    "Ünïcödé façade — naïve café, 東京, emoji 😀 and punctuation!?",
    "Numbers 1,234.56 and dates 2026-11-28 and e-mail a.b@example.org",
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    # Far beyond max_seq_length (256 tokens): both paths must truncate identically.
    "word " * 600,
    " ".join(SEED_ARTICLE.read_text(encoding="utf-8").split()[:900]),
]


@pytest.fixture(scope="module")
def onnx_export(real_embedder, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("onnx-cache")
    directory = real_embedder.ensure_onnx(cache)
    assert directory is not None
    return directory


def test_onnx_embeddings_equal_sentence_transformers(real_embedder, onnx_export):
    onnx = OnnxEmbedder(DEFAULT_MODEL, onnx_export)
    reference = real_embedder.encode(TEXTS)
    batched = onnx.encode(TEXTS, batch_size=3)  # several padded batches, reordered by length
    one_by_one = np.vstack([onnx.encode([t]) for t in TEXTS])
    for got in (batched, one_by_one):
        assert got.shape == reference.shape and got.dtype == np.float32
        cosines = (got * reference).sum(axis=1)
        assert cosines.min() > 1 - 1e-5
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_long_texts_are_truncated_like_sentence_transformers(onnx_export, real_embedder):
    onnx = OnnxEmbedder(DEFAULT_MODEL, onnx_export)
    long = "alpha beta gamma " * 400
    # Past 256 tokens the tail is cut, so adding more text changes nothing on either path.
    assert float(onnx.encode([long])[0] @ onnx.encode([long + "omega " * 50])[0]) > 1 - 1e-6
    assert float(onnx.encode([long])[0] @ real_embedder.encode([long])[0]) > 1 - 1e-5


def test_export_is_reused_and_keyed_by_model(real_embedder, onnx_export):
    cache = onnx_export.parent
    assert real_embedder.ensure_onnx(cache) == onnx_export
    meta = json.loads((onnx_export / "meta.json").read_text())
    assert meta["model"] == DEFAULT_MODEL and meta["max_seq_length"] == 256 and meta["dimension"] == 384
    assert find_export(cache, "another/model", real_embedder.model_path) is None
    assert export_key("another/model", real_embedder.model_path) != onnx_export.name


def test_onnx_backend_without_export_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelError, match="python -m index build"):
        load_embedder(DEFAULT_MODEL, backend="onnx", onnx_cache=tmp_path)


def test_auto_backend_picks_onnx_once_exported(onnx_export):
    embedder = load_embedder(DEFAULT_MODEL, backend="auto", onnx_cache=onnx_export.parent)
    assert isinstance(embedder, OnnxEmbedder)


@pytest.fixture(scope="module")
def built_index(real_embedder, tmp_path_factory):
    """The seed article indexed with the real model; the build also exports ONNX beside it."""
    from index.build import build_index
    from tests.fakes import write_config

    root = tmp_path_factory.mktemp("onnx-index")
    config = write_config(root)
    (root / "seeds" / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    config_path = root / "config.toml"
    config_path.write_text(config_path.read_text().replace('model = "fake-embedder"', f'model = "{DEFAULT_MODEL}"\nbackend = "onnx"'))
    from core.config import load_config

    build_index(load_config(config_path), real_embedder)
    assert find_export(onnx_cache_dir(root / "data" / "index"), DEFAULT_MODEL, real_embedder.model_path)
    return config_path


def test_ask_path_never_imports_torch(built_index):
    code = (
        "import sys, io, contextlib\n"
        "import retrieval, retrieval.retriever, retrieval.load\n"
        "assert 'torch' not in sys.modules, 'import retrieval pulled in torch'\n"
        "from retrieval.__main__ import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    main(['ask', '--json', '--config', {str(built_index)!r}, 'Who co-chaired the dialogue?'])\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(repr(heavy)); print(out.getvalue())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300,
    )
    assert result.returncode == 0, result.stderr
    heavy, answer = result.stdout.split("\n", 1)
    assert heavy == "[]"
    assert json.loads(answer)["extracts"], answer
