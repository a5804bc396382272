"""The bot's own texts in the user's language, through the real Application and the fake Bot API.

Users carry Telegram's ``language_code``; the documents are English and are quoted as they are.
(Questions asked in Russian are matched to English documents by the multilingual retrieval,
tested with the real models elsewhere; here the questions are English so the fake embedder finds them.)
"""

from __future__ import annotations

import pytest

from index.build import build_index
from tests.fake_bot_api import BOT_USERNAME, Call, FakeBotApi
from tests.test_bot import ADMIN, GROUP, OTHER_USER, RIVER, USER, buttons, start_bot, write_bot_config

QUESTION = "Who chaired the annual meeting of the river council?"
ANSWER = "The annual meeting of the river council was chaired by Maria Lopez in Lisbon on a rainy Monday in March."
UNANSWERABLE = "What does the manual say about quantum chromodynamics lattices?"


@pytest.fixture
def make_bot(tmp_path, api, embedder):
    runners = []

    def make(extra: str = ""):
        config = write_bot_config(tmp_path, api, extra=extra)
        (tmp_path / "seeds" / "river.md").write_text(RIVER, encoding="utf-8")
        build_index(config, embedder)
        runners.append(start_bot(api, config, embedder))
        return runners[-1]

    yield make
    for runner in runners:
        runner.stop()


def private(api: FakeBotApi, text: str, language: str | None, user: int = USER, count: int = 1) -> list[Call]:
    before = len(api.sent(user))
    api.inject(api.private_text(user, text, language_code=language))
    return api.wait_for(lambda: len(api.sent(user)) >= before + count and api.sent(user)[before:])


def group(api: FakeBotApi, text: str, language: str | None, user: int = USER) -> Call:
    before = len(api.sent(GROUP))
    update = api.group_text(GROUP, user, text, language_code=language)
    api.inject(update)
    sent = api.wait_for(lambda: len(api.sent(GROUP)) > before and api.sent(GROUP)[before:])
    [reply] = [c for c in sent if c.params["reply_parameters"]["message_id"] == update["message"]["message_id"]]
    return reply


def notices(api: FakeBotApi, count: int) -> list[str]:
    return [c.params.get("text") for c in api.wait_for(lambda: len(api.calls_to("answerCallbackQuery")) >= count and api.calls_to("answerCallbackQuery"))]


def test_russian_user_gets_the_english_answer_quoted_with_the_bots_texts_in_russian(api, make_bot):
    make_bot()
    [reply] = private(api, QUESTION, "ru")
    text = reply.params["text"]
    assert text.startswith(f"<b>Ответ:</b> {ANSWER}\n<i>— River Council Annual Report, абзац 1</i>")
    assert "<b>[1]</b> River Council Annual Report, абзац 1\n<blockquote>" in text
    labels = [b["text"] for b in buttons(reply)]
    assert labels == ["Абзац целиком [1]", "Абзац целиком [2]", "Абзац целиком [3]", "Ещё выдержки", "👍 Полезно", "👎 Не помогло"]

    by_label = {b["text"]: b["callback_data"] for b in buttons(reply)}
    before = len(api.sent(USER))
    api.inject(api.button_press(USER, reply, by_label["Ещё выдержки"], language_code="ru"))
    more = api.wait_for(lambda: api.sent(USER)[before:])[0]
    assert more.params["text"].startswith("<b>Ещё выдержки</b> (4–")
    api.inject(api.button_press(USER, reply, by_label["👍 Полезно"], language_code="ru"))
    assert notices(api, 2)[-1] == "Спасибо! Отмечено: полезно."
    api.inject(api.button_press(USER, reply, "para:forgotten:0", language_code="ru"))
    assert notices(api, 3)[-1] == "Я больше не помню этот ответ; пожалуйста, спросите снова."

    [declined] = private(api, UNANSWERABLE, "ru")
    assert declined.params["text"].startswith(f"<b>Ответа нет:</b> в документах нет ничего, что достаточно точно отвечало бы на вопрос «{UNANSWERABLE}».")
    [start] = private(api, "/start", "ru")
    assert start.params["text"].startswith("Я отвечаю на вопросы по <b>1</b> документу: цитирую предложения дословно")
    [help_] = private(api, "/help", "ru")
    assert help_.params["text"].startswith("<b>Как спрашивать</b>") and f"@{BOT_USERNAME}" in help_.params["text"]
    [sources] = private(api, "/sources", "ru")
    assert sources.params["text"] == "<b>1 документ</b>\n1. River Council Annual Report <i>(river.md)</i>"
    [unknown] = private(api, "/frobnicate", "ru")
    assert unknown.params["text"] == "Я не знаю такой команды. Отправьте вопрос обычным сообщением или посмотрите /help."
    [refused] = private(api, "/reindex", "ru", user=OTHER_USER)
    assert refused.params["text"] == "Извините, команду /reindex могут выполнять только администраторы бота."


def test_spanish_app_with_a_regional_code_gets_spanish_and_an_unknown_language_english(api, make_bot):
    make_bot()
    [reply] = private(api, QUESTION, "es-419")
    assert reply.params["text"].startswith(f"<b>Respuesta:</b> {ANSWER}\n<i>— River Council Annual Report, párrafo 1</i>")
    assert [b["text"] for b in buttons(reply)][-3:] == ["Más extractos", "👍 Útil", "👎 No útil"]
    [start] = private(api, "/start", "es")
    assert start.params["text"].startswith("Respondo preguntas sobre <b>1</b> documento con frases copiadas literalmente de él")
    [usage] = private(api, "/ask", "es")
    assert usage.params["text"] == (
        "Escribe una pregunta después del comando, por ejemplo: <code>/ask ¿Quién presidió la reunión?</code>"
    )
    [english] = private(api, QUESTION, "pt-BR", user=OTHER_USER)
    assert english.params["text"].startswith(f"<b>Answer:</b> {ANSWER}")
    [nothing] = private(api, QUESTION, None, user=OTHER_USER)
    assert nothing.params["text"].startswith("<b>Answer:</b>")


def test_group_in_auto_answers_each_person_in_their_own_language(api, make_bot):
    make_bot()
    assert group(api, f"/ask {QUESTION}", "ru").params["text"].startswith("<b>Ответ:</b> ")
    assert group(api, f"/ask {QUESTION}", "es", user=OTHER_USER).params["text"].startswith("<b>Respuesta:</b> ")
    assert group(api, f"/ask {QUESTION}", "en").params["text"].startswith("<b>Answer:</b> ")


def test_group_with_a_configured_language_answers_everyone_in_it_and_private_chats_still_follow_the_app(api, make_bot):
    make_bot('group_language = "es"\n')
    reply = group(api, f"@{BOT_USERNAME} {QUESTION}", "ru")
    assert reply.params["text"].startswith(f"<b>Respuesta:</b> {ANSWER}")
    assert group(api, "/ask", "en").params["text"].startswith("Escribe una pregunta después del comando")
    [private_reply] = private(api, QUESTION, "ru")
    assert private_reply.params["text"].startswith("<b>Ответ:</b> ")


def test_a_group_admin_chooses_the_groups_language_and_it_outlives_a_restart(api, make_bot):
    api.chat_admins[GROUP] = {USER}
    runner = make_bot()
    refused = group(api, "/language ru", "es", user=OTHER_USER)
    assert refused.params["text"] == "Lo siento, solo los administradores de este chat o del bot pueden usar /language."
    done = group(api, "/language ru", "en")
    assert done.params["text"] == "Готово: теперь язык этого чата — <b>Русский</b>."
    assert group(api, f"/ask {QUESTION}", "es", user=OTHER_USER).params["text"].startswith("<b>Ответ:</b> ")

    runner.stop()  # the choice is in the state database, not in memory
    make_bot()
    status = group(api, "/language", "en", user=OTHER_USER)
    assert status.params["text"].split("\n")[0] == "Язык этого чата: <b>Русский</b> (выбран командой /language)."
    assert status.params["text"].endswith("В группе язык выбирают только её администраторы.")
    back = group(api, "/language auto", "es")
    assert back.params["text"].startswith("Hecho: se vuelve al idioma predeterminado.\nEn este chat respondo a cada persona")
    assert group(api, f"/ask {QUESTION}", "en").params["text"].startswith("<b>Answer:</b> ")


def test_anyone_chooses_the_language_of_their_private_chat(api, make_bot):
    make_bot()
    [status] = private(api, "/language", "ru")
    assert status.params["text"].startswith("Язык этого чата: <b>Русский</b> — язык вашего приложения Telegram.\n")
    [unknown] = private(api, "/language klingon", "ru")
    assert unknown.params["text"] == "У меня нет текстов на языке «klingon». Доступные языки: English (en), Español (es), Русский (ru)."
    [done] = private(api, "/language es-MX", "ru")
    assert done.params["text"] == "Hecho: ahora el idioma de este chat es <b>Español</b>."
    [reply] = private(api, QUESTION, "ru")
    assert reply.params["text"].startswith("<b>Respuesta:</b> ")
    [other] = private(api, QUESTION, "ru", user=OTHER_USER)  # another person's chat is unaffected
    assert other.params["text"].startswith("<b>Ответ:</b> ")


def test_digests_go_out_in_the_chats_language_or_the_configured_one(api, make_bot):
    make_bot('group_language = "ru"\n[digest]\nlanguage = "es"\n')
    api.inject(api.group_text(GROUP, ADMIN, "/digest", language_code="en"))
    [posted] = api.wait_for(lambda: api.sent(GROUP))
    assert posted.params["text"].startswith("📰 <b>Дайджест</b>: 1 новый или изменённый документ\n")
    assert [b["text"] for b in buttons(posted)] == ["Спросить о «River Council Annual Report»"]
    [again] = private(api, "/digest", "ru", user=ADMIN)  # a private chat: [digest] language
    assert again.params["text"].startswith("📰 <b>Resumen</b>: 1 documento nuevo o actualizado\n")
    [nothing] = private(api, "/digest", "ru", user=ADMIN)
    assert nothing.params["text"] == "📰 <b>Resumen</b>: nada nuevo desde el último."


def test_admin_reindex_reports_in_the_admins_language(api, make_bot, tmp_path):
    make_bot()
    (tmp_path / "seeds" / "zebra.md").write_text("# Zebra Census\n\nThe zebra census counted four hundred zebras.\n")
    [status] = private(api, "/reindex", "ru", user=ADMIN)
    assert status.params["text"].startswith("Переиндексация")
    done = api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if "Переиндексация завершена" in c.params["text"]])[0]
    assert "Документы: 2 (добавлено: 1, изменено: 0, удалено: 0)" in done.params["text"]
    assert "Добавлены: zebra.md" in done.params["text"]


LIGHTHOUSE = """Lighthouse keeping notes

The lighthouse keeper Tomas Berg climbed the spiral stairs every evening to light the great lamp.
"""


def test_an_admin_adds_and_forgets_a_document_through_telegram_in_russian(api, make_bot):
    make_bot()
    api.inject(api.private_document(ADMIN, "lighthouse.txt", LIGHTHOUSE.encode(), language_code="ru"))
    status = api.wait_for(lambda: api.sent(ADMIN))[0]
    assert status.params["text"] == "Скачиваю <b>lighthouse.txt</b>…"

    def final(marker: str) -> str:
        edits = api.wait_for(lambda: [c for c in api.calls_to("editMessageText") if c.params["text"].startswith(marker)])
        return edits[-1].params["text"]

    added = final("✅")
    assert added.startswith("✅ <b>Добавлено</b>\n🆕 <b>Lighthouse keeping notes</b>\n<blockquote>")
    assert "\n1 фрагмент. Теперь в индексе 2 документа и " in added
    assert added.endswith("Чтобы удалить его, ответьте на это сообщение командой /forget.")
    chat = {"id": ADMIN, "type": "private", "first_name": "Ada"}
    api.inject(api.message(chat, ADMIN, "/forget", reply_to=status.result, language_code="ru"))
    forgotten = final("🗑")
    assert forgotten.startswith("🗑 <b>Удалено:</b> <b>Lighthouse keeping notes</b>")
    assert "больше нет ни в папке документов, ни в индексе. Теперь в индексе 1 документ и " in forgotten

    before = len(api.sent(USER))
    api.inject(api.private_document(USER, "notes.txt", b"Some notes.", language_code="es"))
    [refused] = api.wait_for(lambda: api.sent(USER)[before:])
    assert refused.params["text"].startswith("Lo siento, solo los administradores del bot pueden añadir documentos.")
