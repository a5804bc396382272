"""End to end: ``python -m bot`` as a user runs it, with the real model, against the fake Bot API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from index.build import build_index
from tests.fake_bot_api import FakeBotApi, parse_telegram_html
from tests.fakes import SEED_ARTICLE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model
USER = 7
CO_CHAIR = "Who co-chaired the Pakistan-US Counterterrorism Dialogue?"


@pytest.fixture(scope="module")
def root(tmp_path_factory, real_embedder):
    """The shipped config.toml (real model) over the seed article, index built once."""
    root = tmp_path_factory.mktemp("bot-e2e")
    (root / "seeds").mkdir()
    (root / "seeds" / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "config.toml").write_text((REPO / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    build_index(load_config(root / "config.toml"), real_embedder)
    return root


def point_at(root: Path, api: FakeBotApi) -> Path:
    text = (REPO / "config.toml").read_text(encoding="utf-8")
    text = text.replace('base_url = "https://api.telegram.org/bot"', f'base_url = "{api.base_url}"')
    text = text.replace('base_file_url = "https://api.telegram.org/file/bot"', f'base_file_url = "{api.base_file_url}"')
    assert api.base_url in text
    path = root / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def env(**extra: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    return dict(environ, PYTHONPATH=str(REPO), **extra)


def ask_python_m_bot(root: Path, question: str, language_code: str | None = None) -> tuple[FakeBotApi, str, str, int]:
    """Run ``python -m bot`` against a fake Bot API, send ``question`` in a private chat:
    (the fake server, the reply's text, the bot's stderr, its exit code after Ctrl-C)."""
    api, [text], stderr, returncode = converse_with_python_m_bot(root, [question], language_code)
    return api, text, stderr, returncode


def converse_with_python_m_bot(
    root: Path, questions: list[str], language_code: str | None = None
) -> tuple[FakeBotApi, list[str], str, int]:
    """``ask_python_m_bot`` for several questions in a row in one private chat: the replies' texts."""
    with FakeBotApi() as api:
        config = point_at(root, api)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config)],
            cwd=REPO, env=env(TELEGRAM_BOT_TOKEN=api.token), stderr=subprocess.PIPE, text=True,
        )
        texts = []
        try:
            api.wait_for(lambda: api.calls_to("setMyCommands"), timeout=180)  # model and index loaded
            for question in questions:
                before = len(api.sent(USER))
                api.inject(api.private_text(USER, question, language_code=language_code))
                [reply] = api.wait_for(lambda: api.sent(USER)[before:], timeout=60)
                texts.append(reply.params["text"])
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
    return api, texts, stderr, process.returncode


def test_python_m_bot_answers_with_the_real_model_and_keeps_the_token_out_of_logs(root):
    api, text, stderr, returncode = ask_python_m_bot(root, CO_CHAIR)
    parse_telegram_html(text)
    answer_line = text.split("\n")[0]
    assert answer_line.startswith("<b>Answer:</b> ")
    assert "Syed Haider Shah" in answer_line and "Elizabeth Richard" in answer_line
    assert "<b>[1]</b> ISLAMABAD: Pakistan and the United States" in text
    assert returncode == 0, stderr
    assert "ready: 1 document(s)" in stderr  # it did log
    assert api.token not in stderr and api.token.split(":")[1] not in stderr


def test_a_russian_question_in_a_private_chat_gets_the_english_sentence_quoted_in_russian_texts(root):
    question = "Какую группировку США признали угрозой региональной и глобальной безопасности?"
    _, text, _, _ = ask_python_m_bot(root, question, language_code="ru")
    answer_line = text.split("\n")[0]
    assert answer_line.startswith("<b>Ответ:</b> ")  # the bot's own words in the reader's language
    assert "the US recognised the TTP posed a threat" in answer_line  # quoted verbatim from the English article


def test_a_russian_follow_up_in_a_private_chat_is_answered_in_context_with_the_note_in_russian(root):
    first = "Кто был сопредседателем диалога?"
    _, [_, follow_up], stderr, returncode = converse_with_python_m_bot(root, [first, "А когда он проходил?"], language_code="ru")
    assert follow_up.startswith(f"<i>Понимаю это как продолжение вопроса: {first}</i>\n\n"), follow_up
    extracts = follow_up.split("\n\n", 1)[1]
    assert "May 10" in extracts or "last week" in extracts  # the English sentence that dates the dialogue
    assert returncode == 0, stderr


def test_without_the_token_python_m_bot_says_which_variable_to_set(root):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(root / "config.toml")],
        cwd=REPO, env=env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: the environment variable TELEGRAM_BOT_TOKEN is not set; "
        "put the token from @BotFather in it (see README, 'Telegram bot')"
    )


def test_or_terminal_without_the_token_answers_in_plain_text(root):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--or-terminal", "--config", str(root / "config.toml")],
        cwd=REPO, env=env(), input=CO_CHAIR + "\n", capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert result.stdout.startswith("Answer: ") and "Elizabeth Richard" in result.stdout
    assert "<b>" not in result.stdout
