"""Supply chain: the packaged model's weights are checked against the official release."""

import json

import pytest

from core.embedder import packaged_model_path
from core.errors import ModelError
from core.model_check import OFFICIAL_MINILM, PinnedWeights, verify_weights


def test_packaged_weights_match_the_official_release():
    assert verify_weights(packaged_model_path()) == OFFICIAL_MINILM.sha256


def test_tampered_weights_of_the_same_size_are_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"x" * 1000)
    pinned = PinnedWeights("org/model", "abc123", "0" * 64, 1000)
    with pytest.raises(ModelError) as err:
        verify_weights(tmp_path, pinned)
    assert "refusing model weights" in str(err.value) and "sha256" in str(err.value)


def test_weights_of_another_size_are_refused_naming_the_file(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"short")
    with pytest.raises(ModelError) as err:
        verify_weights(tmp_path)
    assert str(tmp_path / "model.safetensors") in str(err.value) and "90868376" in str(err.value)


def test_missing_weights_are_reported(tmp_path):
    with pytest.raises(ModelError, match="cannot read model weights"):
        verify_weights(tmp_path)


@pytest.mark.model
def test_index_manifest_records_the_weights_hash(tmp_path, real_embedder):
    from index.build import build_index
    from tests.fakes import write_config

    config = write_config(tmp_path)
    (config.seeds.dir / "a.txt").write_text("One short document.", encoding="utf-8")
    build_index(config, real_embedder)
    manifest = json.loads((config.index.dir / "current" / "manifest.json").read_text())
    assert manifest["model_sha256"] == OFFICIAL_MINILM.sha256
