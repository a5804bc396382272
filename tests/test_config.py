"""Config loading: defaults, relative paths, and errors that quote the bad value."""

from pathlib import Path

import pytest

from core.config import load_config
from core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_paths_relative_to_it():
    config = load_config(REPO / "config.toml")
    assert config.seeds.dir == REPO / "seeds"
    assert config.index.dir == REPO / "data" / "index"
    assert config.index.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert config.retrieval.top_k >= 1


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[retrieval]\ntop_k = 0\n", "retrieval.top_k must be an integer >= 1 and <= 50. Currently, retrieval.top_k is 0"),
        ("[retrieval]\nmin_score = 'high'\n", "retrieval.min_score must be a number between -1.0 and 1.0. Currently, retrieval.min_score is 'high'"),
        ("[retrieval]\nmin_confidence = 1.5\n", "retrieval.min_confidence must be a number between 0.0 and 1.0. Currently, retrieval.min_confidence is 1.5"),
        ("[retrieval]\nmin_confidence = 0.6\nhigh_confidence = 0.5\n", "retrieval.high_confidence must be at least retrieval.min_confidence. Currently, retrieval.high_confidence is 0.5 and retrieval.min_confidence is 0.6"),
        ("[retrieval]\nextract_chars = 10\n", "retrieval.extract_chars must be an integer >= 50 and <= 20000. Currently, retrieval.extract_chars is 10"),
        ("[retrieval]\nmode = 'sparse'\n", "retrieval.mode must be one of hybrid, bm25, dense. Currently, retrieval.mode is 'sparse'"),
        ("[index]\nindex_type = 'annoy'\n", "index.index_type must be one of auto, flat, hnsw, ivf. Currently, index.index_type is 'annoy'"),
        ("[index]\nbackend = 'tensorflow'\n", "index.backend must be one of auto, torch, onnx. Currently, index.backend is 'tensorflow'"),
        ("[index]\npassage_chars = 50\n", "Currently, index.passage_chars is 50"),
        ("[bot]\nadmins = ['alice']\n", "Currently, bot.admins is ['alice']"),
        ("[index]\nmodle = 'x'\n", "unknown setting index.modle = 'x'"),
        ("[retreival]\ntop_k = 3\n", "unknown section [retreival]"),
        ("[telegram]\nbase_url = 'ftp://x'\n", "Currently, telegram.base_url is 'ftp://x'"),
        ("[retrieval\n", "is not valid TOML"),
    ],
)
def test_bad_config_names_the_key_and_the_value(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert fragment in str(err.value)


def test_missing_config_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_config_objects_are_frozen(tmp_path):
    config = load_config(write(tmp_path, ""))
    with pytest.raises(AttributeError):
        config.retrieval.top_k = 5
