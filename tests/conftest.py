"""Shared fixtures: fake and real embedders, small configs in tmp_path."""

from __future__ import annotations

import pytest

from tests.fakes import FakeEmbedder, write_config


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def config(tmp_path):
    return write_config(tmp_path)


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once for the whole session."""
    from core.embedder import load_embedder

    return load_embedder("sentence-transformers/all-MiniLM-L6-v2")
