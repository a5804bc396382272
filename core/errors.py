"""Domain errors shared by the index builder, the retriever and the bot.

Each carries a one-line message meant for a person: what is wrong, where, and the
command that fixes it.  The CLIs print it and exit non-zero; the bot turns it into
a short reply.
"""


class DocQAError(Exception):
    """Base class: a problem the user can fix, with a one-line explanation."""


class ConfigError(DocQAError):
    """config.toml is missing, malformed, or holds a bad value."""


class IndexNotFoundError(DocQAError):
    """No index has been built at the configured directory."""


class IndexCorruptError(DocQAError):
    """An index file is truncated, unreadable or inconsistent."""


class IndexMismatchError(DocQAError):
    """The index was built with another model or format than the one configured."""


class ModelError(DocQAError):
    """The embedding model cannot be loaded or failed verification."""


class BuildError(DocQAError):
    """An index build could not complete; the previous index is untouched."""


class StateError(DocQAError):
    """The bot's state database cannot be opened or used (wrong URL or password, server down)."""


class StoreUnavailableError(DocQAError):
    """The index store (a Milvus server) does not answer or refused the request."""


class IngestError(DocQAError):
    """A document sent through Telegram (an upload, a link, a post) cannot be added; the message says why."""
