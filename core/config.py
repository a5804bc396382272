"""Load and validate ``config.toml`` into frozen dataclasses.

Usage::

    config = load_config("config.toml")
    config.retrieval.top_k

Relative paths in the file are resolved against the file's own directory, so the
bot behaves the same whatever directory it is started from.  Every error names the
key and quotes the bad value.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from core.errors import ConfigError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# The multilingual encoder (core/multilingual.py); "" turns the multilingual path off.
# The shipped default fuses a second encoder, USE multilingual v3, into e5's cosines for questions
# asked across languages (core/multilingual.py); e5 alone is the other choice.
E5_SMALL = "intfloat/multilingual-e5-small"
DEFAULT_MULTILINGUAL_MODEL = "intfloat/multilingual-e5-small+use-multilingual-v3"
MULTILINGUAL_MODELS = (DEFAULT_MULTILINGUAL_MODEL, E5_SMALL)
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
BACKENDS = ("auto", "torch", "onnx")
RETRIEVAL_MODES = ("hybrid", "bm25", "dense")
STORES = ("faiss", "milvus")


@dataclass(frozen=True)
class SeedsConfig:
    dir: Path
    max_file_mb: float = 20.0


@dataclass(frozen=True)
class IndexConfig:
    dir: Path
    model: str = DEFAULT_MODEL
    passage_chars: int = 600
    min_paragraph_chars: int = 200
    overlap_sentences: int = 1
    batch_size: int = 32
    index_type: str = "auto"
    backend: str = "auto"
    multilingual_model: str = DEFAULT_MULTILINGUAL_MODEL  # "" = English only
    store: str = "faiss"  # "faiss": files under dir; "milvus": the [milvus] server or file


@dataclass(frozen=True)
class MilvusConfig:
    """Where ``[index] store = "milvus"`` keeps the index (see docs/deploy.md)."""

    uri: str = "http://127.0.0.1:19530"  # a server, or a local milvus-lite file ending in .db
    token_env: str = "MILVUS_TOKEN"  # environment variable holding "user:password" or an API key
    collection: str = "docqa"  # the alias that always names the live version


@dataclass(frozen=True)
class RetrievalConfig:
    top_k: int = 3
    min_score: float = 0.2
    candidates: int = 20
    min_confidence: float = 0.44
    high_confidence: float = 0.8
    mode: str = "hybrid"
    extract_chars: int = 500
    multilingual_min_confidence: float = 0.75
    follow_up_minutes: int = 10


@dataclass(frozen=True)
class TelegramConfig:
    token_env: str = "TELEGRAM_BOT_TOKEN"
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    # Webhook mode when webhook_url is set (long polling otherwise): Telegram POSTs updates to
    # webhook_url; the bot listens on webhook_listen:webhook_port at that URL's path.
    webhook_url: str = ""
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"

    @property
    def webhook_path(self) -> str:
        """The path part of ``webhook_url`` ("/telegram"), where the bot's webhook server listens."""
        return urlsplit(self.webhook_url).path or "/"


@dataclass(frozen=True)
class BotConfig:
    admins: tuple[int, ...] = ()
    data_dir: Path = Path("data")
    # PostgreSQL URL without the password (which comes from database_password_env); "" = SQLite in data_dir.
    database_url: str = ""
    database_password_env: str = "BOT_DATABASE_PASSWORD"
    # The language of the bot's own texts in groups and channels: "auto" (each user's Telegram
    # language) or a language with a catalog in bot/locale ("en", "ru", "es", ...).
    group_language: str = "auto"


@dataclass(frozen=True)
class DigestConfig:
    chats: tuple[int | str, ...] = ()  # chat ids or "@channel" usernames
    times: tuple[str, ...] = ("08:00",)  # local times of day, "HH:MM"
    timezone: str = "UTC"
    max_items: int = 5
    sentences: int = 3
    when_nothing_new: str = "skip"  # "skip" or "say"
    admin_report: bool = False  # weekly: the most asked unanswered questions, to [bot] admins
    language: str = "en"  # of digests (and the admins' report) where no chat language is chosen


@dataclass(frozen=True)
class PrivacyConfig:
    log_questions: bool = True  # keep the text of questions addressed to the bot (for /stats, export)
    retention_days: int = 90  # question-log rows older than this are deleted by the daily job


@dataclass(frozen=True)
class IngestConfig:
    """Documents that arrive through Telegram: uploads, links and channel posts."""

    channels: tuple[int | str, ...] = ()  # channel ids or "@channel" usernames whose posts are indexed
    min_post_chars: int = 200  # shorter posts are not documents
    post_delay: float = 10.0  # seconds without a new channel post before their build starts
    allow_private_urls: bool = False  # let links reach loopback, private and link-local addresses
    fetch_timeout: float = 20.0  # seconds a link's whole download may take
    subfolder: str = "telegram"  # where in the seeds folder documents from Telegram are kept


@dataclass(frozen=True)
class Config:
    path: Path
    seeds: SeedsConfig
    index: IndexConfig
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    milvus: MilvusConfig = field(default_factory=MilvusConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)


class _Section:
    """Reads typed keys from one TOML table and rejects keys it does not know."""

    def __init__(self, name: str, table: Any):
        if not isinstance(table, dict):
            raise ConfigError(f"[{name}] must be a table. Currently, {name} is {table!r}")
        self.name = name
        self.table = dict(table)

    def _key(self, key: str) -> str:
        return f"{self.name}.{key}"

    def _take(self, key: str, default: Any) -> Any:
        return self.table.pop(key, default)

    def str(self, key: str, default: str, *, non_empty: bool = True) -> str:
        value = self._take(key, default)
        if not isinstance(value, str) or (non_empty and not value.strip()):
            raise ConfigError(f"{self._key(key)} must be a non-empty string. Currently, {self._key(key)} is {value!r}")
        return value

    def path(self, key: str, default: str, base: Path) -> Path:
        value = Path(self.str(key, default))
        return value if value.is_absolute() else (base / value)

    def int(self, key: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self._take(key, default)
        bad = not isinstance(value, int) or isinstance(value, bool)
        if bad or value < minimum or (maximum is not None and value > maximum):
            bound = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
            raise ConfigError(f"{self._key(key)} must be {bound}. Currently, {self._key(key)} is {value!r}")
        return value

    def float(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        value = self._take(key, default)
        bad = not isinstance(value, (int, float)) or isinstance(value, bool)
        if bad or not (minimum <= value <= maximum):
            raise ConfigError(
                f"{self._key(key)} must be a number between {minimum} and {maximum}. "
                f"Currently, {self._key(key)} is {value!r}"
            )
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self._take(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self._key(key)} must be true or false. Currently, {self._key(key)} is {value!r}")
        return value

    def relative_folder(self, key: str, default: str) -> str:
        """A folder name inside another folder: relative, no ``..``, no hidden parts."""
        value = self.str(key, default)
        parts = value.replace("\\", "/").split("/")
        if value.startswith("/") or any(not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", p) for p in parts):
            raise ConfigError(
                f"{self._key(key)} must be a relative folder name such as \"telegram\" (letters, digits, _ . -, "
                f"no leading dot, no ..). Currently, {self._key(key)} is {value!r}"
            )
        return "/".join(parts)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self._take(key, default)
        if value not in choices:
            raise ConfigError(
                f"{self._key(key)} must be one of {', '.join(choices)}. Currently, {self._key(key)} is {value!r}"
            )
        return value

    def multilingual_model(self, key: str) -> str:
        value = self._take(key, DEFAULT_MULTILINGUAL_MODEL)
        if value not in MULTILINGUAL_MODELS + ("",):
            names = " or ".join(f'"{m}"' for m in MULTILINGUAL_MODELS)
            raise ConfigError(
                f'{self._key(key)} must be {names}, or "" for English only. Currently, {self._key(key)} is {value!r}'
            )
        return value

    def int_list(self, key: str) -> tuple[int, ...]:
        value = self._take(key, [])
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(
                f"{self._key(key)} must be a list of integer Telegram user ids. Currently, {self._key(key)} is {value!r}"
            )
        return tuple(value)

    def chat_list(self, key: str) -> tuple[int | str, ...]:
        value = self._take(key, [])
        ok = isinstance(value, list) and all(
            (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and re.fullmatch(r"@[A-Za-z0-9_]{4,32}", v))
            for v in value
        )
        if not ok:
            raise ConfigError(
                f"{self._key(key)} must be a list of chat ids or @channel usernames. Currently, {self._key(key)} is {value!r}"
            )
        return tuple(value)

    def times(self, key: str, default: list[str]) -> tuple[str, ...]:
        value = self._take(key, default)
        ok = isinstance(value, list) and value and all(
            isinstance(v, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", v) for v in value
        )
        if not ok:
            raise ConfigError(
                f"{self._key(key)} must be a non-empty list of \"HH:MM\" times. Currently, {self._key(key)} is {value!r}"
            )
        return tuple(sorted(set(value)))

    def timezone(self, key: str, default: str) -> str:
        value = self.str(key, default)
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{self._key(key)} must be an IANA time zone such as \"Europe/London\". Currently, {self._key(key)} is {value!r}"
            ) from None
        return value

    def language(self, key: str, default: str, *, auto: bool = False) -> str:
        """A language code as catalogs are named ("ru", "pt_BR"; "pt-br" is accepted), or "auto" if allowed.

        Whether the bot has texts in it is checked when the bot starts (bot.app.load_catalogs).
        """
        value = self._take(key, default)
        if isinstance(value, str) and auto and value.strip().lower() == "auto":
            return "auto"
        match = re.fullmatch(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|[A-Za-z]{4}))?", value.strip()) if isinstance(value, str) else None
        if match is None:
            allowed = '"auto" or ' if auto else ""
            raise ConfigError(
                f"{self._key(key)} must be {allowed}a language code such as \"en\", \"ru\" or \"es\". "
                f"Currently, {self._key(key)} is {value!r}"
            )
        language, region = match.groups()
        if region is None:
            return language.lower()
        return f"{language.lower()}_{region.upper() if len(region) == 2 else region.title()}"

    def env_name(self, key: str, default: str) -> str:
        value = self.str(key, default)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ConfigError(
                f"{self._key(key)} must be an environment variable name. Currently, {self._key(key)} is {value!r}"
            )
        return value

    def done(self) -> None:
        if self.table:
            unknown = sorted(self.table)[0]
            raise ConfigError(
                f"unknown setting {self._key(unknown)} = {self.table[unknown]!r} (check the spelling against config.toml)"
            )


_SECTIONS = ("seeds", "index", "retrieval", "telegram", "bot", "digest", "privacy", "milvus", "ingest")


def _database_url(url: str) -> str:
    """``[bot] database_url``: empty, or a PostgreSQL URL that holds no password."""
    if not url:
        return url
    if not re.match(r"postgres(ql)?://", url):
        raise ConfigError(
            "bot.database_url must be empty (SQLite in bot.data_dir) or a PostgreSQL URL such as "
            f"\"postgresql://bot@db.internal:5432/bot\". Currently, bot.database_url is {url!r}"
        )
    parts = urlsplit(url)
    if parts.password is not None or "password" in parse_qs(parts.query):
        shown = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
        shown = re.sub(r"(password=)[^&]*", r"\1***", shown)
        raise ConfigError(
            "bot.database_url must not contain the password: put it in the environment variable named by "
            f"bot.database_password_env. Currently, bot.database_url is {shown!r}"
        )
    return url


def load_config(path: str | Path = "config.toml") -> Config:
    """Read, validate and return the configuration at ``path``.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or holds a bad value.
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path) -> Config:
    """Validate an already-parsed TOML mapping; ``path`` anchors relative paths."""
    base = path.resolve().parent
    for name in raw:
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section [{name}] in {path}; known sections: {', '.join(_SECTIONS)}")

    s = _Section("seeds", raw.get("seeds", {}))
    seeds = SeedsConfig(
        dir=s.path("dir", "seeds", base),
        max_file_mb=s.float("max_file_mb", 20.0, minimum=0.001, maximum=10_000),
    )
    s.done()

    s = _Section("index", raw.get("index", {}))
    index = IndexConfig(
        dir=s.path("dir", "data/index", base),
        model=s.str("model", DEFAULT_MODEL),
        passage_chars=s.int("passage_chars", 600, minimum=100, maximum=20_000),
        min_paragraph_chars=s.int("min_paragraph_chars", 200, minimum=0, maximum=20_000),
        overlap_sentences=s.int("overlap_sentences", 1, minimum=0, maximum=10),
        batch_size=s.int("batch_size", 32, minimum=1, maximum=4096),
        index_type=s.choice("index_type", "auto", INDEX_TYPES),
        backend=s.choice("backend", "auto", BACKENDS),
        multilingual_model=s.multilingual_model("multilingual_model"),
        store=s.choice("store", "faiss", STORES),
    )
    s.done()
    if index.min_paragraph_chars > index.passage_chars:
        raise ConfigError(
            "index.min_paragraph_chars must not exceed index.passage_chars. "
            f"Currently, index.min_paragraph_chars is {index.min_paragraph_chars} "
            f"and index.passage_chars is {index.passage_chars}"
        )

    s = _Section("retrieval", raw.get("retrieval", {}))
    retrieval = RetrievalConfig(
        top_k=s.int("top_k", 3, minimum=1, maximum=50),
        min_score=s.float("min_score", 0.2, minimum=-1.0, maximum=1.0),
        candidates=s.int("candidates", 20, minimum=1, maximum=1000),
        min_confidence=s.float("min_confidence", 0.44, minimum=0.0, maximum=1.0),
        high_confidence=s.float("high_confidence", 0.8, minimum=0.0, maximum=1.0),
        mode=s.choice("mode", "hybrid", RETRIEVAL_MODES),
        extract_chars=s.int("extract_chars", 500, minimum=50, maximum=20_000),
        multilingual_min_confidence=s.float("multilingual_min_confidence", 0.75, minimum=0.0, maximum=1.0),
        follow_up_minutes=s.int("follow_up_minutes", 10, minimum=0, maximum=24 * 60),
    )
    s.done()
    if retrieval.high_confidence < retrieval.min_confidence:
        raise ConfigError(
            "retrieval.high_confidence must be at least retrieval.min_confidence. "
            f"Currently, retrieval.high_confidence is {retrieval.high_confidence} "
            f"and retrieval.min_confidence is {retrieval.min_confidence}"
        )
    if retrieval.candidates < retrieval.top_k:
        raise ConfigError(
            "retrieval.candidates must be at least retrieval.top_k. "
            f"Currently, retrieval.candidates is {retrieval.candidates} and retrieval.top_k is {retrieval.top_k}"
        )

    s = _Section("telegram", raw.get("telegram", {}))
    token_env = s.env_name("token_env", "TELEGRAM_BOT_TOKEN")
    base_url = s.str("base_url", "https://api.telegram.org/bot")
    base_file_url = s.str("base_file_url", "https://api.telegram.org/file/bot")
    for key, url in (("base_url", base_url), ("base_file_url", base_file_url)):
        if not re.match(r"https?://", url):
            raise ConfigError(f"telegram.{key} must start with http:// or https://. Currently, telegram.{key} is {url!r}")
    webhook_url = s.str("webhook_url", "", non_empty=False).strip()
    if webhook_url and not re.match(r"https?://[^/?#\s]+(/[^?#\s]*)?$", webhook_url):
        raise ConfigError(
            "telegram.webhook_url must be empty (long polling) or an https:// URL such as "
            f"\"https://bot.example.org/telegram\" (http:// for a self-hosted Bot API server). Currently, telegram.webhook_url is {webhook_url!r}"
        )
    telegram = TelegramConfig(
        token_env=token_env,
        base_url=base_url,
        base_file_url=base_file_url,
        webhook_url=webhook_url,
        webhook_listen=s.str("webhook_listen", "127.0.0.1"),
        webhook_port=s.int("webhook_port", 8443, minimum=1, maximum=65535),
        webhook_secret_env=s.env_name("webhook_secret_env", "TELEGRAM_WEBHOOK_SECRET"),
    )
    s.done()

    s = _Section("bot", raw.get("bot", {}))
    bot = BotConfig(
        admins=s.int_list("admins"),
        data_dir=s.path("data_dir", "data", base),
        database_url=_database_url(s.str("database_url", "", non_empty=False).strip()),
        database_password_env=s.env_name("database_password_env", "BOT_DATABASE_PASSWORD"),
        group_language=s.language("group_language", "auto", auto=True),
    )
    s.done()

    s = _Section("digest", raw.get("digest", {}))
    digest = DigestConfig(
        chats=s.chat_list("chats"),
        times=s.times("times", ["08:00"]),
        timezone=s.timezone("timezone", "UTC"),
        max_items=s.int("max_items", 5, minimum=1, maximum=50),
        sentences=s.int("sentences", 3, minimum=1, maximum=10),
        when_nothing_new=s.choice("when_nothing_new", "skip", ("skip", "say")),
        admin_report=s.bool("admin_report", False),
        language=s.language("language", "en"),
    )
    s.done()

    s = _Section("privacy", raw.get("privacy", {}))
    privacy = PrivacyConfig(
        log_questions=s.bool("log_questions", True),
        retention_days=s.int("retention_days", 90, minimum=1, maximum=3650),
    )
    s.done()

    s = _Section("milvus", raw.get("milvus", {}))
    uri = s.str("uri", MilvusConfig.uri)
    if not re.match(r"(https?|tcp)://", uri):
        if not uri.endswith(".db"):
            raise ConfigError(
                "milvus.uri must be a server address (http://host:port) or a milvus-lite file ending in .db. "
                f"Currently, milvus.uri is {uri!r}"
            )
        uri = str(Path(uri) if Path(uri).is_absolute() else base / uri)
    milvus_token_env = s.str("token_env", MilvusConfig.token_env)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", milvus_token_env):
        raise ConfigError(
            f"milvus.token_env must be an environment variable name. Currently, milvus.token_env is {milvus_token_env!r}"
        )
    collection = s.str("collection", MilvusConfig.collection)
    # Milvus names: a letter or underscore, then letters, digits and underscores (255 at most);
    # the versions add a suffix of up to 12 characters.
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", collection):
        raise ConfigError(
            "milvus.collection must start with a letter or underscore and hold only letters, digits and underscores. "
            f"Currently, milvus.collection is {collection!r}"
        )
    milvus = MilvusConfig(uri=uri, token_env=milvus_token_env, collection=collection)
    s.done()

    s = _Section("ingest", raw.get("ingest", {}))
    ingest = IngestConfig(
        channels=s.chat_list("channels"),
        min_post_chars=s.int("min_post_chars", 200, minimum=1, maximum=100_000),
        post_delay=s.float("post_delay", 10.0, minimum=0.0, maximum=3600.0),
        allow_private_urls=s.bool("allow_private_urls", False),
        fetch_timeout=s.float("fetch_timeout", 20.0, minimum=0.1, maximum=600.0),
        subfolder=s.relative_folder("subfolder", "telegram"),
    )
    s.done()

    return Config(
        path=path, seeds=seeds, index=index, retrieval=retrieval, telegram=telegram, bot=bot, digest=digest, privacy=privacy,
        milvus=milvus, ingest=ingest,
    )
