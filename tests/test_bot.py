"""The real bot Application, wired by ``bot.app``, polling a fake Bot API server over HTTP.

The fake embedder keeps these fast; tests/test_bot_real_model.py runs the real model.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import build_application
from bot.logs import REDACTED, RedactToken
from core.config import Config, load_config
from index.build import build_index
from tests.fake_bot_api import BOT_USERNAME, BotRunner, Call, FakeBotApi, parse_telegram_html, utf16_length
from tests.fakes import FakeEmbedder

ADMIN = 42
USER = 7
OTHER_USER = 8
GROUP = -1001234

RIVER = """# River Council Annual Report

The annual meeting of the river council was chaired by Maria Lopez in Lisbon on a rainy Monday in March.

The council approved a budget for cleaning the riverbanks and planting willow trees along the water.

Volunteers counted birds near the river mouth, and the survey found herons, egrets and kingfishers nesting.

The next meeting of the river council will be held in Porto in the spring, with the same volunteers.
"""

WIDGETS = """# Widget Manual: <b>Bold</b> & <script>

The widget parser shows <b>bold</b> text & escapes <script>alert(1)</script> tags before any display happens.
"""


@dataclass
class Bot:
    api: FakeBotApi
    config: Config
    embedder: FakeEmbedder
    runner: BotRunner


def write_bot_config(
    root: Path, api: FakeBotApi, *, passage_chars: int = 300, top_k: int = 3, extract_chars: int = 500, extra: str = ""
) -> Config:
    """A config for the bot against ``api``; ``extra`` appends more TOML (e.g. a [digest] section)."""
    (root / "seeds").mkdir(exist_ok=True)
    (root / "config.toml").write_text(
        f"""
[seeds]
dir = "seeds"
[index]
dir = "data/index"
model = "fake-embedder"
multilingual_model = ""
passage_chars = {passage_chars}
min_paragraph_chars = 80
[retrieval]
top_k = {top_k}
min_score = 0.3
extract_chars = {extract_chars}
[telegram]
token_env = "FAKE_BOT_TOKEN"
base_url = "{api.base_url}"
base_file_url = "{api.base_file_url}"
[bot]
admins = [{ADMIN}]
{extra}""",
        encoding="utf-8",
    )
    return load_config(root / "config.toml")


def start_bot(api: FakeBotApi, config: Config, embedder: FakeEmbedder) -> BotRunner:
    application = build_application(config, api.token, embedder_loader=lambda name: embedder)
    return BotRunner(application).start(api)


@pytest.fixture
def bot(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api)
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    (tmp_path / "seeds" / "widgets.md").write_text(WIDGETS, encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    yield Bot(api, config, embedder, runner)
    runner.stop()


def ask_private(api: FakeBotApi, text: str, user: int = USER, count: int = 1) -> list[Call]:
    before = len(api.sent(user))
    api.inject(api.private_text(user, text))
    return api.wait_for(lambda: len(api.sent(user)) >= before + count and api.sent(user)[before:])


def buttons(call: Call) -> list[dict]:
    return [b for row in call.params.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def visible(call: Call) -> str:
    return call.result["text"]


# ------------------------------------------------------------------ private chats


def test_private_question_gets_a_cited_answer_telegram_accepts(bot):
    api = bot.api
    [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
    params = reply.params
    assert params["parse_mode"] == "HTML"
    assert params["link_preview_options"] == {"is_disabled": True}
    assert params["chat_id"] == USER
    parse_telegram_html(params["text"])  # the server accepted it; the same check, stated
    text = params["text"]
    assert text.startswith("<b>Answer:</b> The annual meeting of the river council was chaired by Maria Lopez")
    assert "<i>— River Council Annual Report, paragraph 1</i>" in text
    assert "<b>[1]</b> River Council Annual Report, paragraph 1\n<blockquote>" in text
    assert text.count("<blockquote") == 3
    labels = [b["text"] for b in buttons(reply)]
    assert labels[:3] == ["Full paragraph [1]", "Full paragraph [2]", "Full paragraph [3]"]
    assert "More extracts" in labels
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(reply))
    # "typing" was shown in the chat before the answer went out.
    typing = [c for c in api.calls_to("sendChatAction") if c.params["chat_id"] == USER]
    assert typing and typing[0].params["action"] == "typing" and typing[0].at <= reply.at


def test_question_nothing_answers_is_said_plainly_with_closest_passages(bot):
    [reply] = ask_private(bot.api, "What does the manual say about quantum chromodynamics lattices?")
    text = reply.params["text"]
    assert text.startswith("<b>Not answered:</b> nothing in the documents answers")
    assert "<b>Answer:</b>" not in text
    assert "<b>Closest passages</b>" in text and "not</i> an answer" in text


def test_reply_escapes_html_in_documents_and_questions(bot):
    api = bot.api
    [answered] = ask_private(api, "How does the widget parser show bold text & script tags?")
    text = answered.params["text"]
    assert "&lt;b&gt;bold&lt;/b&gt; text &amp; escapes &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "Widget Manual: &lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt;" in text  # the title, in the citation
    assert "<script" not in text and "<b>bold" not in text and "<b>Bold" not in text
    # What the user sees is the document's text, markup and all, as plain characters.
    assert "<b>bold</b> text & escapes <script>alert(1)</script>" in visible(answered)

    # A question nothing answers is quoted back in the reply: escaped too.
    [declined] = ask_private(api, "Xylophone <script> & <i>quasar</i> zeppelin nebula walrus?")
    text = declined.params["text"]
    assert "Not answered" in text
    assert "“Xylophone &lt;script&gt; &amp; &lt;i&gt;quasar&lt;/i&gt; zeppelin nebula walrus?”" in text
    assert "<script" not in text


def test_more_extracts_and_full_paragraph_buttons(bot):
    api = bot.api
    [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
    by_label = {b["text"]: b["callback_data"] for b in buttons(reply)}

    before = len(api.sent(USER))
    api.inject(api.button_press(USER, reply, by_label["More extracts"]))
    more = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert more.params["text"].startswith("<b>More extracts</b> (4–")
    assert "<b>[4]</b> " in more.params["text"] and "<b>[1]</b>" not in more.params["text"]
    assert [b["text"] for b in buttons(more)][0] == "Full paragraph [4]"

    before = len(api.sent(USER))
    api.inject(api.button_press(USER, reply, by_label["Full paragraph [1]"]))
    full = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert full.params["text"].startswith("<b>[1]</b> River Council Annual Report, paragraph 1 <i>(full paragraph)</i>")
    assert "chaired by Maria Lopez in Lisbon on a rainy Monday in March." in visible(full)
    # Both presses were acknowledged, so the buttons stop spinning in the user's app.
    assert len(api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) >= 2 and api.calls_to("answerCallbackQuery"))) == 2


def test_button_of_a_forgotten_answer_asks_to_ask_again(bot):
    api = bot.api
    [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
    api.inject(api.button_press(USER, reply, "para:unknownkey:0"))
    [ack] = api.wait_for(lambda: api.calls_to("answerCallbackQuery"))
    assert "ask again" in ack.params["text"]
    api.settle(0.3)
    assert len(api.sent(USER)) == 1


# ------------------------------------------------------------------ groups


def test_group_answers_ask_mention_and_reply_but_not_chatter(bot):
    api = bot.api
    chatter = api.group_text(GROUP, USER, "Anyone going to the river council meeting tomorrow?")
    command = api.group_text(GROUP, USER, f"/ask@{BOT_USERNAME} Who chaired the annual meeting of the river council?")
    mention = api.group_text(GROUP, OTHER_USER, f"@{BOT_USERNAME} where will the next council meeting be held?")
    for update in (chatter, command, mention):
        api.inject(update)
    first = api.wait_for(lambda: len(api.sent(GROUP)) >= 2 and api.sent(GROUP))
    replied_to = {c.params["reply_parameters"]["message_id"]: c for c in first}
    assert set(replied_to) == {command["message"]["message_id"], mention["message"]["message_id"]}
    assert "Maria Lopez" in replied_to[command["message"]["message_id"]].params["text"]
    assert "Porto" in replied_to[mention["message"]["message_id"]].params["text"]

    reply = api.group_text(GROUP, USER, "What birds did the volunteers count?", reply_to=first[0].result)
    api.inject(reply)
    answers = api.wait_for(lambda: len(api.sent(GROUP)) >= 3 and api.sent(GROUP))
    assert answers[2].params["reply_parameters"]["message_id"] == reply["message"]["message_id"]
    assert "herons" in answers[2].params["text"]

    api.inject(api.group_text(GROUP, OTHER_USER, "I replied to nobody and mentioned nobody."))
    api.settle(0.5)
    assert len(api.sent(GROUP)) == 3
    assert chatter["message"]["message_id"] not in {c.params["reply_parameters"]["message_id"] for c in api.sent(GROUP)}


def test_ask_without_a_question_explains_how(bot):
    api = bot.api
    api.inject(api.group_text(GROUP, USER, "/ask"))
    [reply] = api.wait_for(lambda: api.sent(GROUP))
    assert "<code>/ask Who chaired the meeting?</code>" in reply.params["text"]


# ------------------------------------------------------------------ commands


def test_start_help_sources_and_the_command_menu(bot):
    api = bot.api
    [start] = ask_private(api, "/start")
    assert "I answer questions from <b>2</b> documents" in start.params["text"]
    [help_] = ask_private(api, "/help")
    assert "/reindex" in help_.params["text"] and f"@{BOT_USERNAME}" in help_.params["text"]
    [sources] = ask_private(api, "/sources")
    assert sources.params["text"] == (
        "<b>2 documents</b>\n1. River Council Annual Report <i>(river.md)</i>\n"
        "2. Widget Manual: &lt;b&gt;Bold&lt;/b&gt; &amp; &lt;script&gt; <i>(widgets.md)</i>"
    )
    menu = {json_scope: [c["command"] for c in commands] for json_scope, commands in api.commands.items()}
    assert menu['{"type": "default"}'] == ["ask", "sources", "start", "help"]
    assert menu['{"type": "all_private_chats"}'] == ["ask", "sources", "start", "help", "language"]
    assert menu['{"type": "all_chat_administrators"}'] == ["ask", "sources", "start", "help", "subscribe", "unsubscribe", "language"]
    assert menu[f'{{"chat_id": {ADMIN}, "type": "chat"}}'] == [
        "ask", "sources", "start", "help", "subscribe", "unsubscribe", "language", "digest", "reindex", "add", "forget", "stats"
    ]
    # The same menus for Russian and Spanish apps, described in their language.
    for language, ask in (("ru", "Ответить на вопрос по документам"), ("es", "Responder una pregunta con los documentos")):
        for scope, commands in api.commands.items():
            localized = api.localized_commands[(language, scope)]
            assert [c["command"] for c in localized] == [c["command"] for c in commands]
            assert localized[0]["description"] == ask


def test_unknown_command_in_private_points_to_help(bot):
    [reply] = ask_private(bot.api, "/frobnicate now")
    assert reply.params["text"] == "I do not know that command. Send a question as a message, or see /help."


def test_reindex_from_a_non_admin_is_refused_and_logged_with_the_user_id(bot, caplog):
    caplog.set_level(logging.WARNING, logger="bot")
    api = bot.api
    (bot.config.seeds.dir / "new.md").write_text("# New\n\nA new document nobody indexed yet, about lighthouses.\n")
    [reply] = ask_private(api, "/reindex", user=OTHER_USER)
    assert reply.params["text"] == "Sorry, only the bot's admins can run /reindex."
    assert any(f"refused /reindex from user id {OTHER_USER}" in r.getMessage() for r in caplog.records)
    assert "new.md" not in [doc for doc, _ in bot.runner.application.bot_data["services"].documents()]


class GatedEmbedder(FakeEmbedder):
    """Blocks the build thread when it embeds a passage mentioning "zebra", until released."""

    def __init__(self):
        super().__init__(dimension=1024)
        self.blocked = threading.Event()
        self.release = threading.Event()

    def encode(self, texts, **kwargs):
        if not self.release.is_set() and any(t.startswith("The zebra census") for t in texts):
            self.blocked.set()
            self.release.wait(30)
        return super().encode(texts, **kwargs)


def test_admin_reindex_completes_while_questions_are_answered_from_the_old_index(tmp_path, api):
    embedder = GatedEmbedder()
    config = write_bot_config(tmp_path, api)
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    try:
        (tmp_path / "seeds" / "zebra.md").write_text(
            "# Zebra Census\n\nThe zebra census counted four hundred zebras grazing near the savanna waterhole.\n"
        )
        [status] = ask_private(api, "/reindex", user=ADMIN)
        assert status.params["text"].startswith("Reindexing")
        assert embedder.blocked.wait(20), "the build never reached the new document"

        # While the build is stuck, questions are answered from the old index, and a second /reindex waits its turn.
        [old] = ask_private(api, "Who chaired the annual meeting of the river council?")
        assert "Maria Lopez" in old.params["text"]
        [busy] = ask_private(api, "/reindex", user=ADMIN)
        assert busy.params["text"].startswith("A reindex is already running")
        [before] = ask_private(api, "How many zebras did the zebra census count?")
        assert "<b>Not answered:</b>" in before.params["text"]

        embedder.release.set()
        done = api.wait_for(
            lambda: [c for c in api.calls_to("editMessageText") if "Reindex done" in c.params["text"]]
        )[0]
        assert done.params["message_id"] == status.result["message_id"]
        assert re.search(r"Documents: 2 \(1 added, 0 changed, 0 removed\)\nPassages: \d+ \(1 embedded\)", done.params["text"])
        assert re.search(r"in \d+\.\d s", done.params["text"]) and "Added: zebra.md" in done.params["text"]

        [after] = ask_private(api, "How many zebras did the zebra census count?")
        assert after.params["text"].startswith("<b>Answer:</b> The zebra census counted four hundred zebras")
    finally:
        embedder.release.set()
        runner.stop()


class SecondChunkGate(FakeEmbedder):
    """Blocks the build's second embedding chunk (after progress 256/N was reported) until released."""

    def __init__(self):
        super().__init__(dimension=1024)
        self.release = threading.Event()

    def encode(self, texts, **kwargs):
        if not self.release.is_set() and len(texts) < 256 and any(t.startswith("Herd note") for t in texts):
            self.release.wait(30)
        return super().encode(texts, **kwargs)


def test_reindex_status_message_shows_progress_then_the_report(tmp_path, api, monkeypatch):
    from bot import handlers

    monkeypatch.setattr(handlers, "PROGRESS_EVERY", 0.05)  # edit the status often, not every 3 s
    embedder = SecondChunkGate()
    config = write_bot_config(tmp_path, api)
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    notes = [f"Herd note {i}: the census counted zebras and wildebeest near waterhole number {i} at dawn." for i in range(300)]
    (tmp_path / "seeds" / "herd.md").write_text("# Herd Notes\n\n" + "\n\n".join(notes) + "\n", encoding="utf-8")
    runner = start_bot(api, config, embedder)
    try:
        [status] = ask_private(api, "/reindex", user=ADMIN)
        progress = api.wait_for(
            lambda: [c for c in api.calls_to("editMessageText") if "embedded 256 of 300" in c.params["text"]]
        )[0]
        assert progress.params["message_id"] == status.result["message_id"]
        embedder.release.set()
        done = api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Reindex done" in c.params["text"]])[0]
        assert done.params["message_id"] == status.result["message_id"]
        assert "Documents: 2 (1 added, 0 changed, 0 removed)" in done.params["text"]
        assert re.search(r"Passages: \d+ \(300 embedded\)", done.params["text"])
        assert len(api.sent(ADMIN)) == 1  # one status message, edited; nothing else sent
    finally:
        embedder.release.set()
        runner.stop()


def test_failed_reindex_keeps_the_old_index_and_tells_the_admin(bot):
    api = bot.api
    shutil.rmtree(bot.config.seeds.dir)
    [status] = ask_private(api, "/reindex", user=ADMIN)
    failed = api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Reindex failed" in c.params["text"]])[0]
    assert failed.params["message_id"] == status.result["message_id"]
    assert "does not exist" in failed.params["text"] and "previous index is still answering" in failed.params["text"]
    [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
    assert "Maria Lopez" in reply.params["text"]


def test_bot_without_an_index_says_so_and_an_admin_can_build_it(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api)
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    runner = start_bot(api, config, embedder)
    try:
        [start] = ask_private(api, "/start")
        assert "No index has been built yet" in start.params["text"]
        [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
        assert reply.params["text"] == "No index has been built yet, so I cannot answer. An admin can build it with /reindex."
        ask_private(api, "/reindex", user=ADMIN)
        api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Reindex done" in c.params["text"]])
        [reply] = ask_private(api, "Who chaired the annual meeting of the river council?")
        assert "Maria Lopez" in reply.params["text"]
    finally:
        runner.stop()


class KaboomEmbedder(FakeEmbedder):
    """Fails on any text containing "kaboom", like a model that crashes on some input."""

    def encode(self, texts, **kwargs):
        if any("kaboom" in t for t in texts):
            raise RuntimeError("model crashed on kaboom")
        return super().encode(texts, **kwargs)


def test_unexpected_error_is_logged_with_traceback_and_the_user_told_briefly(tmp_path, api, caplog):
    caplog.set_level(logging.ERROR, logger="bot")
    embedder = KaboomEmbedder(dimension=1024)
    config = write_bot_config(tmp_path, api)
    (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    try:
        [reply] = ask_private(api, "kaboom?")
        assert reply.params["text"] == "Sorry, something went wrong while handling that message. Please try again."
        [record] = [r for r in caplog.records if r.name == "bot.handlers" and r.levelno == logging.ERROR]
        assert record.exc_info and "model crashed on kaboom" in str(record.exc_info[1])
        [after] = ask_private(api, "Who chaired the annual meeting of the river council?")
        assert "Maria Lopez" in after.params["text"]  # the bot carries on
    finally:
        runner.stop()


# ------------------------------------------------------------------ long replies and API errors


def test_reply_over_4096_characters_arrives_as_several_valid_messages(tmp_path, api, embedder):
    config = write_bot_config(tmp_path, api, passage_chars=6000, extract_chars=6000)  # whole paragraphs
    paragraphs = [
        " ".join(f"Glacier ice melts each summer near station s{p}x{s}." for s in range(90)) for p in range(3)
    ]
    (tmp_path / "seeds" / "glaciers.txt").write_text("Glacier Log\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    build_index(config, embedder)
    runner = start_bot(api, config, embedder)
    try:
        api.inject(api.private_text(USER, "When does glacier ice melt near the station?"))
        api.wait_for(lambda: any(buttons(c) for c in api.sent(USER)))  # the buttons ride on the last part
        api.settle(0.3)
        replies = api.sent(USER)
        assert len(replies) >= 4
        assert all(utf16_length(c.params["text"]) <= 4096 for c in replies)
        assert all(c.params["parse_mode"] == "HTML" for c in replies)
        for c in replies:
            parse_telegram_html(c.params["text"])
        seen = re.findall(r"\bs(\d)x(\d+)\.", " ".join(visible(c) for c in replies))
        # Every sentence of the three long extracts arrives, none cut; the answer line repeats one.
        assert set(seen) == {(str(p), str(s)) for p in range(3) for s in range(90)}
        assert len(seen) == 3 * 90 + 1
        assert not any(buttons(c) for c in replies[:-1])
    finally:
        runner.stop()


@pytest.mark.parametrize(
    "method, status, description, retry_after",
    [
        ("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0", None),
        ("sendMessage", 429, "Too Many Requests: retry after 1", 1),
        ("sendMessage", 500, "Internal Server Error", None),
        ("getUpdates", 500, "Internal Server Error", None),
    ],
    ids=["400-cant-parse-entities", "429-retry-after", "500-on-send", "500-on-getUpdates"],
)
def test_bot_api_errors_do_not_lose_the_question(bot, method, status, description, retry_after):
    api = bot.api
    api.fail_next(method, status, description, retry_after=retry_after)
    api.inject(api.private_text(USER, "Who chaired the annual meeting of the river council?"))
    [reply] = api.wait_for(lambda: api.sent(USER))
    failed = [c for c in api.calls_to(method, ok_only=False) if c.status == status]
    assert len(failed) == 1 and failed[0].at < reply.at
    if status == 400:
        # Telegram refused the HTML: the same answer goes out as plain text instead.
        assert "parse_mode" not in reply.params
        assert reply.params["text"].startswith("Answer: The annual meeting of the river council was chaired by Maria Lopez")
        assert "<b>" not in reply.params["text"]
    else:
        assert reply.params["parse_mode"] == "HTML" and "Maria Lopez" in reply.params["text"]
    api.settle(0.3)
    assert len(api.sent(USER)) == 1  # answered once, not twice


def test_token_never_reaches_the_logs(bot, caplog):
    """httpx logs every request URL (token included) at INFO; the filter scrubs it from each record."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="httpx")
    caplog.handler.addFilter(RedactToken(bot.api.token))
    try:
        ask_private(bot.api, "Who chaired the annual meeting of the river council?")
        ask_private(bot.api, "/reindex", user=OTHER_USER)
    finally:
        caplog.handler.removeFilter(caplog.handler.filters[-1])
    assert f"/bot{REDACTED}/sendMessage" in caplog.text  # the URLs were logged, without the token
    assert bot.api.token not in caplog.text
    assert bot.api.token.split(":")[1] not in caplog.text


def test_python_m_bot_with_a_rejected_token_or_no_server_fails_with_one_line(tmp_path, api):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    config = write_bot_config(tmp_path, api)

    def run(token: str, config_path: Path):
        env = dict(os.environ, PYTHONPATH=str(repo), FAKE_BOT_TOKEN=token)
        return subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config_path)],
            cwd=repo, env=env, capture_output=True, text=True, timeout=120,
        )

    wrong = run("999:wrong-token-value", config.path)
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines()[-1] == (
        f"error: the Bot API at {api.base_url} rejected the token in FAKE_BOT_TOKEN (check it with @BotFather)"
    )
    assert "wrong-token-value" not in wrong.stderr  # PTB logs the failed getMe; the token is scrubbed

    text = config.path.read_text(encoding="utf-8").replace(f"127.0.0.1:{api.port}", "127.0.0.1:9")  # nothing listens
    (tmp_path / "closed.toml").write_text(text, encoding="utf-8")
    closed = run(api.token, tmp_path / "closed.toml")
    assert closed.returncode == 1
    assert closed.stderr.strip().splitlines()[-1].startswith("error: cannot reach the Bot API at http://127.0.0.1:9/bot")
    assert api.token not in closed.stderr and api.token.split(":")[1] not in closed.stderr

