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
        ("[retrieval]\nfollow_up_minutes = -1\n", "retrieval.follow_up_minutes must be an integer >= 0 and <= 1440. Currently, retrieval.follow_up_minutes is -1"),
        ('[retrieval]\nfollow_up_minutes = "10"\n', "retrieval.follow_up_minutes must be an integer >= 0 and <= 1440. Currently, retrieval.follow_up_minutes is '10'"),
        ("[retrieval]\nmode = 'sparse'\n", "retrieval.mode must be one of hybrid, bm25, dense. Currently, retrieval.mode is 'sparse'"),
        ("[index]\nindex_type = 'annoy'\n", "index.index_type must be one of auto, flat, hnsw, ivf. Currently, index.index_type is 'annoy'"),
        ("[index]\nbackend = 'tensorflow'\n", "index.backend must be one of auto, torch, onnx. Currently, index.backend is 'tensorflow'"),
        ("[index]\npassage_chars = 50\n", "Currently, index.passage_chars is 50"),
        ("[bot]\nadmins = ['alice']\n", "Currently, bot.admins is ['alice']"),
        ("[index]\nmodle = 'x'\n", "unknown setting index.modle = 'x'"),
        ("[retreival]\ntop_k = 3\n", "unknown section [retreival]"),
        ("[telegram]\nbase_url = 'ftp://x'\n", "Currently, telegram.base_url is 'ftp://x'"),
        ("[retrieval\n", "is not valid TOML"),
        ("[index]\nstore = 'qdrant'\n", "index.store must be one of faiss, milvus. Currently, index.store is 'qdrant'"),
        ("[milvus]\nuri = 'milvus'\n", "milvus.uri must be a server address (http://host:port) or a milvus-lite file ending in .db. Currently, milvus.uri is 'milvus'"),
        ("[milvus]\ntoken_env = 'root:secret'\n", "Currently, milvus.token_env is 'root:secret'"),
        ("[milvus]\ncollection = 'doc-qa'\n", "Currently, milvus.collection is 'doc-qa'"),
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


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[telegram]\nwebhook_url = 'bot.example.org/hook'\n", "Currently, telegram.webhook_url is 'bot.example.org/hook'"),
        ("[telegram]\nwebhook_url = 'https://bot.example.org/hook?x=1'\n", "telegram.webhook_url must be empty (long polling) or an https:// URL"),
        ("[telegram]\nwebhook_port = 70000\n", "telegram.webhook_port must be an integer >= 1 and <= 65535. Currently, telegram.webhook_port is 70000"),
        ("[telegram]\nwebhook_secret_env = 'my secret'\n", "telegram.webhook_secret_env must be an environment variable name. Currently, telegram.webhook_secret_env is 'my secret'"),
        ("[bot]\ndatabase_url = 'mysql://db/bot'\n", "Currently, bot.database_url is 'mysql://db/bot'"),
        ("[bot]\ndatabase_password_env = ''\n", "Currently, bot.database_password_env is ''"),
    ],
)
def test_bad_webhook_or_database_setting_names_the_key_and_the_value(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "url", ["postgresql://bot:hunter2@db:5432/bot", "postgresql://bot@db/bot?sslmode=require&password=hunter2"]
)
def test_database_url_with_a_password_is_refused_without_showing_it(tmp_path, url):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, f"[bot]\ndatabase_url = '{url}'\n"))
    message = str(err.value)
    assert "must not contain the password" in message and "bot.database_password_env" in message
    assert "hunter2" not in message and "***" in message


def test_webhook_and_database_settings_are_read(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "[telegram]\nwebhook_url = 'https://bot.example.org/tg/hook'\nwebhook_listen = '0.0.0.0'\nwebhook_port = 8080\n"
            "[bot]\ndatabase_url = 'postgresql://bot@db.internal:5432/bot'\n",
        )
    )
    assert config.telegram.webhook_path == "/tg/hook" and config.telegram.webhook_port == 8080
    assert config.telegram.webhook_listen == "0.0.0.0" and config.telegram.webhook_secret_env == "TELEGRAM_WEBHOOK_SECRET"
    assert config.bot.database_url == "postgresql://bot@db.internal:5432/bot"
    assert config.bot.database_password_env == "BOT_DATABASE_PASSWORD"
    defaults = load_config(write(tmp_path, ""))
    assert defaults.telegram.webhook_url == "" and defaults.bot.database_url == ""  # long polling, SQLite


def test_milvus_file_uri_is_relative_to_the_config_and_server_uri_kept(tmp_path):
    config = load_config(write(tmp_path, "[index]\nstore = 'milvus'\n[milvus]\nuri = 'data/milvus.db'\n"))
    assert config.index.store == "milvus" and config.milvus.uri == str(tmp_path / "data" / "milvus.db")
    config = load_config(write(tmp_path, "[milvus]\nuri = 'http://10.0.0.5:19530'\n"))
    assert config.index.store == "faiss" and config.milvus.uri == "http://10.0.0.5:19530"
