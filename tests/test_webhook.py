"""Webhook mode: the real Application serving Telegram's webhook calls from the fake Bot API, over HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from bot.app import build_application
from core.errors import ConfigError
from index.build import build_index
from tests.fake_bot_api import WEBHOOK_SECRET, BotRunner, FakeBotApi
from tests.pg_server import free_port
from tests.test_bot import RIVER, USER, write_bot_config

QUESTION = "Who chaired the annual meeting of the river council?"


def webhook_config(root, api: FakeBotApi, port: int, extra: str = ""):
    """A bot config whose webhook Telegram (the fake) calls directly at 127.0.0.1:``port``/hook/path."""
    config = write_bot_config(root, api, extra=extra)
    text = (root / "config.toml").read_text(encoding="utf-8")
    text = text.replace(
        "[telegram]\n",
        f'[telegram]\nwebhook_url = "http://127.0.0.1:{port}/hook/path"\nwebhook_port = {port}\n',
    )
    (root / "config.toml").write_text(text, encoding="utf-8")
    from core.config import load_config

    return load_config(config.path)


@pytest.fixture
def webhook_bot(tmp_path, api, embedder):
    port = free_port()
    config = webhook_config(tmp_path, api, port)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    application = build_application(config, api.token, embedder_loader=lambda name: embedder)
    runner = BotRunner(application).start(api, telegram=config.telegram, secret=WEBHOOK_SECRET)
    yield config, runner
    runner.stop()


def post(url: str, update: dict, secret: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_webhook_mode_sets_the_webhook_with_its_secret_and_answers_what_telegram_posts(api, webhook_bot):
    config, _ = webhook_bot
    [hook] = api.calls_to("setWebhook")
    assert hook.params["url"] == config.telegram.webhook_url
    assert hook.params["secret_token"] == WEBHOOK_SECRET
    assert hook.params["allowed_updates"] == ["message", "callback_query", "my_chat_member", "channel_post", "edited_channel_post"]
    assert not hook.params.get("drop_pending_updates")  # other replicas may be serving those updates

    update_id = api.inject(api.private_text(USER, QUESTION))
    [reply] = api.wait_for(lambda: api.sent(USER))
    assert reply.params["text"].startswith("<b>Answer:</b> The annual meeting of the river council was chaired by Maria Lopez")
    assert api.delivered(update_id)
    assert api.calls_to("getUpdates", ok_only=False) == []  # no polling in webhook mode


def test_webhook_refuses_posts_without_or_with_a_wrong_secret_token(api, webhook_bot):
    config, _ = webhook_bot
    url = f"http://127.0.0.1:{config.telegram.webhook_port}/hook/path"
    forged = {"update_id": 900001, **api.private_text(USER, "/start")}
    assert post(url, forged, secret=None) == 403
    assert post(url, dict(forged, update_id=900002), secret="not-the-secret") == 403
    assert post(f"http://127.0.0.1:{config.telegram.webhook_port}/other/path", dict(forged, update_id=900003), WEBHOOK_SECRET) == 404
    api.settle(0.5)
    assert api.sent(USER) == []  # none of them reached a handler

    assert post(url, {"update_id": 900004, **api.private_text(USER, QUESTION)}, secret=WEBHOOK_SECRET) == 200
    [reply] = api.wait_for(lambda: api.sent(USER))
    assert "Maria Lopez" in reply.params["text"]


def test_webhook_updates_are_retried_until_the_bot_listens(tmp_path, api, embedder):
    """Telegram keeps an update while the webhook does not answer; a bot (re)starting gets it then."""
    port = free_port()
    config = webhook_config(tmp_path, api, port)
    (config.seeds.dir / "river.md").write_text(RIVER, encoding="utf-8")
    build_index(config, embedder)
    api.webhook = {"url": config.telegram.webhook_url, "secret_token": WEBHOOK_SECRET, "allowed_updates": None, "max_connections": 40}
    update_id = api.inject(api.private_text(USER, QUESTION))
    api.wait_for(lambda: [d for d in api.deliveries if d.update_id == update_id and d.status == 0])  # nobody listening
    application = build_application(config, api.token, embedder_loader=lambda name: embedder)
    runner = BotRunner(application).start(api, telegram=config.telegram, secret=WEBHOOK_SECRET)
    try:
        [reply] = api.wait_for(lambda: api.sent(USER))
        assert "Maria Lopez" in reply.params["text"]
    finally:
        runner.stop()


@pytest.mark.parametrize("secret", ["", "has spaces", "x" * 257])
def test_webhook_mode_will_not_start_without_a_valid_secret_token(tmp_path, api, monkeypatch, secret):
    from bot.__main__ import main

    config = webhook_config(tmp_path, api, free_port())
    monkeypatch.setenv("FAKE_BOT_TOKEN", api.token)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    with pytest.raises(ConfigError, match="webhook mode needs a secret token in the environment variable TELEGRAM_WEBHOOK_SECRET"):
        main(["--config", str(config.path)])
    assert api.calls == []  # refused before talking to Telegram
