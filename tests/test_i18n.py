"""The bot's texts in other languages: catalogs, language choice, and every text rendered in every language.

No Telegram here: the render functions are pure, checked with the fake server's HTML parser.
The end-to-end tests (a Russian or Spanish user, a group with its own language) are in
tests/test_bot_i18n.py.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import digest, feedback_render, ingest_render, render
from bot.app import command_menus, load_catalogs
from bot.digest import DigestItem
from bot.feedback import Vote
from bot.i18n import (
    DOMAIN,
    ENGLISH,
    LOCALE_DIR,
    Catalogs,
    Choice,
    Reason,
    check_message,
    choose_language,
    compile_catalog,
    placeholders,
)
from bot.languages import ChatLanguages
from bot.state import KeyValue, StateDB
from bot.stats import CitedDocument, DayCount, DisputedAnswer, Period, QuestionGroup, Stats
from core.config import parse_config
from core.errors import BuildError, ConfigError, DocQAError, IndexMismatchError, IndexNotFoundError
from index.build import BuildReport
from index.documents import Skipped
from retrieval.followup import Turn
from retrieval.retriever import Answer, Extract
from retrieval.summary import KeySentence
from tests.fake_bot_api import parse_telegram_html, utf16_length

ROOT = Path(__file__).resolve().parent.parent
NASTY = 'Tom & Jerry <b>bold</b> <script>alert("x")</script> a < b > c &amp; 😀'
SENTENCE = "The annual meeting of the river council was chaired by Maria Lopez in Lisbon."


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


def extract(text: str, paragraph: int = 1, page: int | None = None, title: str = "River Council Annual Report") -> Extract:
    return Extract("river.md", title, paragraph, text, 0.8, 0, len(text), page=page)


def answered(*texts: str) -> Answer:
    extracts = [extract(t, i + 1) for i, t in enumerate(texts)]
    return Answer("Who chaired it?", True, sentence=extracts[0], extracts=extracts)


# ------------------------------------------------------------------ choosing the language


@pytest.mark.parametrize(
    "code, expected",
    [
        ("ru", "ru"), ("ru-RU", "ru"), ("RU", "ru"), ("es", "es"), ("es-419", "es"), ("es_MX", "es"),
        ("en", "en"), ("en-GB", "en"), ("pt-BR", None), ("de", None), ("", None), (None, None), ("  ", None),
    ],
)
def test_telegram_language_codes_find_the_nearest_catalog(catalogs, code, expected):
    assert catalogs.negotiate(code) == expected


def test_a_regional_catalog_serves_its_language_and_its_region(tmp_path):
    for language in ("pt_BR", "ru"):
        (tmp_path / language / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / language / "LC_MESSAGES" / f"{DOMAIN}.po").write_text(
            f'msgid ""\nmsgstr ""\n"Language: {language}\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n', encoding="utf-8"
        )
    catalogs = Catalogs.load(tmp_path)
    assert catalogs.languages == ("en", "pt_BR", "ru")
    assert [catalogs.negotiate(c) for c in ("pt-BR", "pt", "pt-PT", "ru-UA")] == ["pt_BR", "pt_BR", "pt_BR", "ru"]


def test_a_chosen_language_wins_then_a_fixed_group_language_then_the_users_app(catalogs):
    def choose(chosen=None, private=True, user="es-419", group="auto"):
        return choose_language(catalogs, chosen=chosen, private=private, user_code=user, group_language=group)

    assert choose() == Choice("es", Reason.USER)
    assert choose(chosen="ru") == Choice("ru", Reason.CHOSEN)
    assert choose(chosen="ru", private=False, group="es") == Choice("ru", Reason.CHOSEN)
    assert choose(private=False, group="ru") == Choice("ru", Reason.GROUP)
    assert choose(private=True, group="ru") == Choice("es", Reason.USER)  # the group setting is for groups
    assert choose(private=False, group="auto", user="ru") == Choice("ru", Reason.USER)
    assert choose(user="pt-BR") == Choice("en", Reason.FALLBACK)
    assert choose(user=None) == Choice("en", Reason.FALLBACK)
    assert choose(chosen="de") == Choice("es", Reason.USER)  # a stored language whose catalog is gone


def test_chat_languages_store_choices_and_pick_the_language_of_scheduled_posts(tmp_path, catalogs):
    db = StateDB.open_sqlite(tmp_path / "state.sqlite")
    try:
        languages = ChatLanguages(catalogs, KeyValue(db), group_language="auto", post_language="es")
        assert languages.for_message(7, private=True, user_code="ru").language == "ru"
        languages.choose(7, "es")
        assert languages.chosen(7) == "es"
        assert languages.for_message(7, private=True, user_code="ru").language == "es"
        assert languages.explain(7, private=True, user_code="ru") == Choice("es", Reason.CHOSEN)
        languages.choose(7, None)
        assert languages.for_message(7, private=True, user_code="ru").language == "ru"
        # Scheduled posts: the chat's choice, else (groups, channels) a fixed group language, else [digest] language.
        assert languages.for_post(42).language == "es"
        assert languages.for_post("-1001234").language == "es"
        assert languages.for_post("@news").language == "es"
        languages.choose("-1001234", "ru")
        assert languages.for_post("-1001234").language == "ru"
        fixed = ChatLanguages(catalogs, KeyValue(db), group_language="ru", post_language="en")
        assert fixed.for_post("-1005678").language == "ru" and fixed.for_post("@news").language == "ru"
        assert fixed.for_post(42).language == "en"  # an admin's private chat: not a group
    finally:
        db.close()


def test_a_state_database_that_fails_leaves_the_default_language(tmp_path, catalogs, caplog):
    db = StateDB.open_sqlite(tmp_path / "state.sqlite")
    languages = ChatLanguages(catalogs, KeyValue(db), group_language="es")
    languages.choose(-100, "ru")
    db.close()  # reads now raise
    assert languages.for_message(-100, private=False, user_code="en").language == "es"
    assert "could not read chat -100's language" in caplog.text


def test_language_settings_are_validated_with_the_key_and_the_value(tmp_path, catalogs):
    def config(bot: str = "", digest_: str = ""):
        raw = {"bot": {}, "digest": {}}
        if bot:
            raw["bot"]["group_language"] = bot
        if digest_:
            raw["digest"]["language"] = digest_
        return parse_config(raw, tmp_path / "config.toml")

    assert config().bot.group_language == "auto" and config().digest.language == "en"
    assert config("RU", "es").bot.group_language == "ru"
    assert config("pt-br").bot.group_language == "pt_BR"
    with pytest.raises(ConfigError, match=r"bot.group_language must be \"auto\" or a language code .* Currently, bot.group_language is 'Russian'"):
        config("Russian")
    with pytest.raises(ConfigError, match=r"digest.language must be a language code .* Currently, digest.language is 'auto'"):
        config(digest_="auto")
    # A well-formed code without a catalog is refused when the bot starts, naming the languages it has.
    with pytest.raises(ConfigError, match=r"bot.group_language must be auto or a language the bot has texts in \(en, es, ru\). Currently, bot.group_language is 'de'"):
        load_catalogs(config("de"))
    with pytest.raises(ConfigError, match=r"digest.language must be a language the bot has texts in"):
        load_catalogs(config(digest_="fr"))


# ------------------------------------------------------------------ plural forms and numbers


@pytest.mark.parametrize(
    "count, ru, es",
    [
        (1, "1 документ", "1 documento"), (2, "2 документа", "2 documentos"), (4, "4 документа", "4 documentos"),
        (5, "5 документов", "5 documentos"), (11, "11 документов", "11 documentos"), (12, "12 документов", "12 documentos"),
        (21, "21 документ", "21 documentos"), (22, "22 документа", "22 documentos"), (25, "25 документов", "25 documentos"),
        (111, "111 документов", "111 documentos"),
    ],
)
def test_document_counts_take_the_plural_form_of_each_language(catalogs, count, ru, es):
    documents = [(f"d{i}.md", f"D{i}") for i in range(count)]
    for language, expected in (("ru", ru), ("es", es)):
        head = render.sources_messages(documents, tr=catalogs.translator(language))[0].split("\n")[0]
        assert head == f"<b>{expected}</b>"
    ru_questions = catalogs.translator("ru").ngettext("{count} question", "{count} questions", count * 10, count=count * 10)
    assert ru_questions == f"{count * 10} вопросов"  # 10, 20, ..., 1110: always the "many" form


def test_digest_counts_and_the_n_more_line_agree_with_the_number_in_russian(catalogs):
    ru = catalogs.translator("ru")
    sentence = (KeySentence(2, 0, 10, "Profits rose."),)
    [one] = digest.render_digest([DigestItem("a.md", "A", "h", "new", sentence)], 0, "docs_bot", tr=ru)
    assert one.html.startswith("📰 <b>Дайджест</b>: 1 новый или изменённый документ\n")
    [many] = digest.render_digest([DigestItem("a.md", "A", "h", "new", sentence)], 4, "docs_bot", tr=ru)
    assert many.html.startswith("📰 <b>Дайджест</b>: 5 новых или изменённых документов\n")
    assert "…и ещё 4 документа." in many.html
    assert "<i>a.md, абзац 2</i>" in many.html
    assert many.buttons[0][0] == "Спросить о «A»"


def test_numbers_and_days_are_written_as_each_language_writes_them(catalogs):
    ru, es = catalogs.translator("ru"), catalogs.translator("es")
    assert (ENGLISH.percent(0.856), ru.percent(0.856), es.percent(0.856)) == ("86%", "86\xa0%", "86\xa0%")
    assert (ENGLISH.decimal(2.345), ru.decimal(2.345), es.decimal(2.345)) == ("2.3", "2,3", "2,3")
    assert (ENGLISH.day(date(2026, 11, 5)), ru.day(date(2026, 11, 5))) == ("Nov 5", "5 нояб.")


# ------------------------------------------------------------------ rendered texts in Russian and Spanish


def test_russian_answer_quotes_the_document_verbatim_with_the_bots_words_in_russian(catalogs):
    ru = catalogs.translator("ru")
    answer = answered(SENTENCE, "Volunteers counted birds.", "The next meeting is in Porto.", "Budget approved.")
    [message] = render.answer_page(answer, 0, 3, tr=ru)
    assert message.startswith(f"<b>Ответ:</b> {SENTENCE}\n<i>— River Council Annual Report, абзац 1</i>\n\n")
    assert "<b>[2]</b> River Council Annual Report, абзац 2\n<blockquote>Volunteers counted birds.</blockquote>" in message
    keyboard = feedback_render.with_votes(render.answer_keyboard("k", answer, 0, 3, tr=ru), 12, tr=ru)
    labels = [[b.text for b in row] for row in keyboard.inline_keyboard]
    assert labels == [
        ["Абзац целиком [1]", "Абзац целиком [2]", "Абзац целиком [3]"], ["Ещё выдержки"], ["👍 Полезно", "👎 Не помогло"]
    ]
    [later] = render.answer_page(answer, 1, 3, tr=ru)
    assert later.startswith("<b>Ещё выдержки</b> (4–4 из 4)")
    pdf = replace(answer, sentence=extract(SENTENCE, 7, page=3), extracts=[extract(SENTENCE, 7, page=3)])
    assert "<i>— River Council Annual Report, страница 3, абзац 7</i>" in render.answer_page(pdf, 0, 3, tr=ru)[0]


def test_spanish_decline_quotes_the_question_escaped_and_marks_the_passages_as_no_answer(catalogs):
    es = catalogs.translator("es")
    answer = Answer(NASTY, False, extracts=[extract("Mars is red.")])
    [message] = render.answer_page(answer, 0, 3, tr=es)
    assert message.startswith(f"<b>Sin respuesta:</b> nada en los documentos responde con suficiente precisión a «{render.esc(NASTY)}».")
    assert "<b>Pasajes más cercanos</b>" in message and "<i>no</i> son una respuesta" in message
    assert parse_telegram_html(message).count(NASTY) == 1
    follow_up = replace(answered(SENTENCE), context=Turn(NASTY, ()))
    assert render.answer_page(follow_up, 0, 3, tr=es)[0].startswith(f"<i>Lo tomo como continuación de: {render.esc(NASTY)}</i>\n\n")


def test_start_help_and_refusals_in_russian_keep_the_commands(catalogs):
    ru = catalogs.translator("ru")
    start = render.start_text(2, "docs_bot", tr=ru)
    assert start.startswith("Я отвечаю на вопросы по <b>2</b> документам: цитирую предложения дословно")
    assert "упомяните @docs_bot" in start and "/sources" in start and "/help" in start
    help_text = render.help_text("docs_bot", tr=ru)
    for command in ("/ask", "/sources", "/start", "/help", "/language", "/subscribe", "/unsubscribe", "/digest", "/reindex", "/stats"):
        assert command in help_text
    assert help_text.startswith("<b>Как спрашивать</b>\n")
    assert render.refusal("reindex", tr=ru) == "Извините, команду /reindex могут выполнять только администраторы бота."
    assert render.ask_usage(tr=ru) == "Напишите вопрос после команды, например: <code>/ask Кто вёл заседание?</code>"


def test_reindex_report_in_russian_with_more_than_ten_names(catalogs):
    ru = catalogs.translator("ru")
    report = BuildReport(documents=14, passages=40, embedded=12, added=[f"n{i}<.md" for i in range(13)], seconds=2.345)
    text = render.reindex_done(report, tr=ru)
    assert text.startswith("<b>Переиндексация завершена</b> за 2,3 с.\nДокументы: 14 (добавлено: 13, изменено: 0, удалено: 0)")
    assert text.endswith("n9&lt;.md и ещё 3")
    assert render.reindex_progress(256, 300, tr=ru) == "Переиндексация: векторизовано 256 из 300 новых или изменённых фрагментов…"
    assert render.reindex_progress(1, 21, tr=ru) == "Переиндексация: векторизовано 1 из 21 нового или изменённого фрагмента…"


def test_stats_in_spanish(catalogs):
    es = catalogs.translator("es")
    [text] = feedback_render.stats_messages(sample_stats(short=True), tr=es)
    assert text.startswith("<b>Estadísticas del bot</b>\n<b>Últimos 7 días:</b> 3 preguntas, 67\xa0% respondidas; 1 de 2 votos útiles (50\xa0%).")
    assert "<b>Preguntas sin respuesta, las más frecuentes</b> (últimos 30 días;" in text
    assert "1. «Is &lt;b&gt;0&lt;/b&gt; answered?» — 3×, última vez" in text
    assert "— 1 respuesta" in text and "— no útil: 1, útil: 0" in text


def test_the_language_command_explains_the_choice_and_lists_the_languages(catalogs):
    ru = catalogs.translator("ru")
    text = render.language_status(Choice("ru", Reason.USER), catalogs, private=True, tr=ru)
    assert text.split("\n") == [
        "Язык этого чата: <b>Русский</b> — язык вашего приложения Telegram.",
        "Доступные языки: English (en), Español (es), Русский (ru).",
        "Выбрать язык: /language <i>код</i>, например <code>/language en</code>; "
        "<code>/language auto</code> возвращает язык по умолчанию.",
    ]
    group = render.language_status(Choice("en", Reason.FALLBACK), catalogs, private=False)
    assert group.startswith("In this chat I answer everyone in the language of their Telegram app")
    assert group.endswith("In a group, only its administrators can choose.")
    assert render.language_unknown("<xx>", catalogs, tr=ru).startswith("У меня нет текстов на языке «&lt;xx&gt;».")


# ------------------------------------------------------------------ every text, every language


def sample_stats(short: bool = False) -> Stats:
    t = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    n = 1 if short else 10
    long = "" if short else " " + "x" * 300
    return Stats(
        True,
        (Period(7, 3, 2, 2, 1), Period(30, 3, 2, 2, 1)),
        30,
        [QuestionGroup(f"Is <b>{i}</b> answered?{long}", 3 if i == 0 else 1, t) for i in range(n)],
        [CitedDocument("a&b.md", "A <Title>", 1)] * n,
        [DisputedAnswer("Who <i>?", "An <answer> & more" + long, "a&b.md", "A <Title>", 3, None if short else 2, 1, 0,
                        () if short else ("it's <wrong>",) * 3)] * n,
        [DayCount(t.date() - timedelta(days=d), d % 3, d % 2) for d in range(29, -1, -1)],  # oldest first
    )


def every_text(tr) -> dict[str, list[str]]:
    """Every HTML message the bot can send, rendered with ``tr`` (hostile document and user text included)."""
    nasty = extract(NASTY, 2, title=NASTY)
    answer = Answer(NASTY, True, sentence=nasty, extracts=[nasty] * 5, context=Turn(NASTY, ()))
    declined = Answer(NASTY, False, extracts=[nasty] * 5)
    report = BuildReport(
        documents=30, passages=400, embedded=12, added=[NASTY] * 12, changed=["b.md"], removed=["c.md"],
        skipped=[Skipped(NASTY, "empty")] * 11, seconds=12.5,
    )
    catalogs = Catalogs.load()
    items = [DigestItem(f"{NASTY}{i}.pdf", NASTY, "h", "new" if i else "updated",
                        (KeySentence(1, 0, 5, NASTY, page=2), KeySentence(3, 0, 5, NASTY, page=4))) for i in range(3)]
    stats = sample_stats()
    texts = {
        "answer": render.answer_page(answer, 0, 3, tr=tr) + render.answer_page(answer, 1, 3, tr=tr),
        "declined": render.answer_page(declined, 0, 3, tr=tr) + render.answer_page(declined, 1, 3, tr=tr)
        + render.answer_page(Answer("", False), 0, 3, tr=tr),
        "paragraph": render.paragraph_messages(1, nasty, tr=tr) + render.paragraph_messages(2, extract("x " * 3000, 1, page=2), tr=tr)
        + render.paragraph_messages(3, extract("", 1), tr=tr),
        "start": [render.start_text(n, u, tr=tr) for n in (None, 1, 2, 5, 21) for u in ("docs_bot", None)],
        "help": [render.help_text(u, tr=tr) for u in ("docs_bot", None)],
        "commands": [render.ask_usage(tr=tr), render.unknown_command(tr=tr), render.unknown_document_link(tr=tr)],
        "sources": render.sources_messages([], tr=tr) + render.sources_messages([(NASTY, NASTY)] * 3, tr=tr),
        "refusals": [f(c, tr=tr) for f in (render.refusal, render.chat_admins_only, render.groups_only) for c in ("reindex", "stats")],
        "digests": [render.subscribed(b, tr=tr) for b in (True, False)] + [render.unsubscribed(b, tr=tr) for b in (True, False)]
        + [m.html for m in digest.render_digest(items, 7, "docs_bot", tr=tr)]
        + [digest.render_nothing_new(tr=tr), digest.render_document_intro(NASTY, NASTY, [KeySentence(1, 0, 5, NASTY)], tr=tr),
           digest.render_document_intro(NASTY, NASTY, [], tr=tr)],
        "language": [render.language_status(Choice(code, reason), catalogs, private=p, tr=tr)
                     for code in catalogs.languages for reason in Reason for p in (True, False)]
        + [render.language_changed(Choice("ru", reason), catalogs, private=False, tr=tr) for reason in Reason]
        + [render.language_unknown(NASTY, catalogs, tr=tr)],
        "reindex": [render.reindex_busy(b, tr=tr) for b in (True, False)]
        + [render.reindex_progress(d, t, tr=tr) for d, t in ((0, 0), (1, 1), (5, 300))]
        + [render.reindex_done(report, tr=tr), render.reindex_done(BuildReport(), tr=tr), render.reindex_failed(RuntimeError(NASTY), tr=tr)],
        "errors": [render.error_text(e, tr=tr) for e in (IndexNotFoundError("x"), IndexMismatchError("x"), BuildError("x"),
                                                         DocQAError(NASTY), RuntimeError(NASTY))],
        "feedback": [feedback_render.reason_prompt(tr=tr), feedback_render.reason_thanks(tr=tr), feedback_render.reason_failed(tr=tr),
                     feedback_render.stats_private_only(tr=tr)],
        "stats": feedback_render.stats_messages(stats, tr=tr) + feedback_render.stats_messages(replace(stats, log_questions=False), tr=tr)
        + feedback_render.stats_messages(replace(stats, unanswered=[], cited=[], disputed=[]), tr=tr)
        + feedback_render.stats_messages(replace(stats, periods=(Period(1, 1, 1, 1, 1), Period(30, 0, 0, 0, 0))), tr=tr),
        "report": [t for q, u, log in ((0, [], True), (3, stats.unanswered, True), (3, [], True), (3, [], False))
                   for t in feedback_render.admin_report(Period(7, q, 1, 0, 0), u, log, tr=tr)],
        "ingest": ingest_texts(tr),
    }
    return texts


def ingest_texts(tr) -> list[str]:
    """Replies about documents added and removed through Telegram."""
    say = ingest_render
    document = say.DocumentReport(NASTY, NASTY, 7, (KeySentence(1, 0, 5, NASTY),), "https://example.org/?a=<b>", "added")
    report = BuildReport(documents=3, passages=21, embedded=1, seconds=0.42)
    return [
        say.refused(tr=tr), say.not_a_document(NASTY, tr=tr), say.not_a_document(None, tr=tr), say.empty_file(NASTY, tr=tr),
        *[say.not_a_file(kind, tr=tr) for kind in say.MEDIA_KINDS + ("media",)],
        say.too_large(NASTY, 25_000_000, 20 * 2**20, 20_000_000, tr=tr), say.too_large(NASTY, 25_000_000, 20 * 2**20, None, tr=tr),
        say.too_large(None, None, 10 * 2**20, 20_000_000, tr=tr), say.too_large(NASTY, 12_500_000, 10 * 2**20, None, tr=tr),
        say.downloading(NASTY, tr=tr), say.fetching("https://example.org/<x>", tr=tr), say.saving_post(tr=tr), say.queued(tr=tr),
        say.download_failed(NASTY, NASTY, tr=tr), say.not_added(NASTY, NASTY, tr=tr), say.skipped_by_build(NASTY, NASTY, tr=tr),
        say.duplicate(NASTY, NASTY, tr=tr), say.unchanged(NASTY, None, tr=tr), say.post_too_short(1, 60, tr=tr),
        say.post_too_short(23, 60, tr=tr), say.added(document, report, tr=tr), say.added(replace(document, status="changed", passages=1), BuildReport(documents=1, passages=1), tr=tr),
        say.forgotten(NASTY, NASTY, report, tr=tr), say.forgetting(NASTY, None, tr=tr), say.forget_usage(tr=tr),
        say.forget_unknown(NASTY, tr=tr), say.forget_failed(NASTY, NASTY, tr=tr), say.add_usage(tr=tr),
    ]


def plain_texts(tr) -> dict[str, list[str]]:
    """What the bot sends as plain text: callback notices (<= 200), button labels, chart texts, menus."""
    answer = answered(*["x"] * 9)
    buttons = render.answer_keyboard("k", answer, 0, 3, tr=tr).inline_keyboard
    votes = feedback_render.with_votes(None, 1, tr=tr).inline_keyboard
    return {
        "notices": [feedback_render.vote_ack(o, h, tr=tr) for o in Vote for h in (True, False)]
        + [feedback_render.vote_failed(tr=tr), render.answer_forgotten(tr=tr), render.document_changed(tr=tr)],
        "buttons": [b.text for row in buttons + votes for b in row]
        + [label for m in digest.render_digest([DigestItem("a", "T" * 100, "h", "new")], 0, "b", tr=tr) for label, _ in m.buttons],
        "caption": [feedback_render.chart_caption(sample_stats(), tr=tr)],
        "menu": [c.description for menu in command_menus(tr).values() for c in menu],
    }


@pytest.mark.parametrize("language", ["en", "ru", "es"])
def test_every_text_in_every_language_is_html_telegram_accepts_within_its_limits(catalogs, language):
    tr = catalogs.translator(language)
    for kind, texts in every_text(tr).items():
        assert texts, kind
        for text in texts:
            visible = parse_telegram_html(text)  # raises on anything Telegram would refuse
            assert visible.strip() and utf16_length(visible) <= 4096, (kind, text[:80])
            assert "<script" not in text and NASTY not in text, (kind, text[:80])  # document and user text escaped
            assert not re.search(r"\{\w+\}", visible), (kind, text[:80])  # every placeholder filled
    plain = plain_texts(tr)
    assert all(0 < utf16_length(t) <= 200 for t in plain["notices"])
    assert all(0 < len(t) <= 64 for t in plain["buttons"]), plain["buttons"]
    assert all(3 <= len(t) <= 256 for t in plain["menu"])
    assert all(len(t) <= 1024 for t in plain["caption"])


@pytest.mark.parametrize("language", ["ru", "es"])
def test_the_bots_words_are_translated_not_left_in_english(catalogs, language):
    """No whole English sentence of the bot's survives in another language (document text aside)."""
    english = {kind: texts for kind, texts in every_text(ENGLISH).items()}
    translated = every_text(catalogs.translator(language))
    for kind, texts in translated.items():
        for ours, theirs in zip(english[kind], texts):
            if ours.strip():
                assert ours != theirs, (kind, ours[:80])
    for kind, texts in plain_texts(catalogs.translator(language)).items():
        same = [t for t, e in zip(texts, plain_texts(ENGLISH)[kind]) if t == e]
        assert not same, (kind, same)


def test_the_chart_is_drawn_with_translated_labels(catalogs):
    from bot.chart import questions_per_day_png

    png = questions_per_day_png(sample_stats().daily, tr=catalogs.translator("ru"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


# ------------------------------------------------------------------ the catalogs themselves


def shipped() -> list[Path]:
    return sorted(LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def test_russian_and_spanish_catalogs_ship_with_the_bot():
    assert [p.parent.parent.name for p in shipped()] == ["es", "ru"]


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.parent.parent.name)
def test_each_catalog_is_complete_and_consistent_with_the_english(path):
    from babel.messages.plurals import get_plural
    from babel.messages.pofile import read_po

    language = path.parent.parent.name
    _, report = compile_catalog(path, language)
    assert report.complete, (report.untranslated, report.fuzzy, report.problems)
    with path.open("rb") as fileobj:
        catalog = read_po(fileobj, locale=language)
    plural = get_plural(language)
    assert (catalog.num_plurals, catalog.plural_expr) == (plural.num_plurals, plural.plural_expr)
    for message in catalog:
        if message.id:
            assert not check_message(message.id, message.string), message.id
            assert not list(message.check(catalog)), message.id  # Babel's own checkers (plural forms)


def extracted_messages() -> set[tuple[str | None, str]]:
    """(context, msgid) of every text pybabel extracts from bot/ (as `make translations` does)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj)
    found = set()
    for _, _, message, _, context in extract_from_dir(ROOT, method_map, options_map):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def catalog_messages(path: Path) -> set[tuple[str | None, str]]:
    from babel.messages.pofile import read_po

    with path.open("rb") as fileobj:
        catalog = read_po(fileobj)
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_catalogs_hold_exactly_the_texts_in_the_code():
    """A text added, changed or removed in bot/ without `make translations` fails here."""
    code = extracted_messages()
    assert code == catalog_messages(LOCALE_DIR / f"{DOMAIN}.pot"), "run: make translations"
    for path in shipped():
        assert catalog_messages(path) == code, f"run: make translations, then translate {path}"


def test_every_translated_call_in_the_code_is_one_pybabel_extracts():
    """A literal text pybabel cannot see (inside an f-string, say) would never be translated."""
    calls = set()
    for path in (ROOT / "bot").glob("**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                name, args = node.func.attr, node.args
                if name in ("gettext", "ngettext") and args and isinstance(args[0], ast.Constant):
                    calls.add((None, args[0].value))
                elif name == "pgettext" and len(args) > 1 and isinstance(args[1], ast.Constant):
                    calls.add((args[0].value, args[1].value))
    assert len(calls) > 100
    assert calls <= extracted_messages(), calls - extracted_messages()


@pytest.mark.parametrize(
    "msgid, msgstr, problem",
    [
        ("<b>Answer:</b> {sentence}", "<b>Ответ:</b> {sentense}", "placeholders ['sentense'] instead of ['sentence']"),
        ("<b>Answer:</b> {sentence}", "<b>Ответ:</b>", "placeholders [] instead of ['sentence']"),
        ("<b>Answer:</b> {sentence}", "<b>Ответ:<b> {sentence}", "HTML tags"),
        ("<b>Answer:</b> {sentence}", "<i>Ответ:</i> {sentence}", "HTML tags"),
        ("<b>Answer:</b> {sentence}", "</b>Ответ:<b> {sentence}", "does not close"),
        ("a {x}", "a < b {x}", "a bare '<'"),
        ("a {x}", "a & b {x}", "a bare '&'"),
        ("a {x}", "a {x", "bad placeholder"),
        ("see /help", "смотрите /помощь", "commands [] instead of ['/help']"),
        (("{count} document", "{count} documents"), ("{count} документ", "{count} документа", "{n} документов"), "unknown placeholders ['n']"),
        (("{count} of {total}", "{count} of {total}"), ("{count}", "{count}", "{count}"), "no form uses ['total']"),
    ],
)
def test_catalog_check_finds_what_a_translator_got_wrong(msgid, msgstr, problem):
    assert any(problem in p for p in check_message(msgid, msgstr)), check_message(msgid, msgstr)


def test_catalog_check_allows_reordering_and_a_form_without_the_number():
    assert not check_message("<b>{a}</b> and <i>{b}</i>", "<i>{b}</i> и <b>{a}</b>")
    assert not check_message(("{count} document", "{count} documents"), ("un documento", "{count} documentos"))
    assert placeholders("{a} {b} {a}") == placeholders("{b} {a} {a}")


def test_a_bad_translation_is_left_in_english_and_logged(tmp_path, caplog):
    directory = tmp_path / "xx" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    (directory / f"{DOMAIN}.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: xx\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        'msgid "<b>Answer:</b> {sentence}"\nmsgstr "<b>Antwort:</b> {satz}"\n\n'
        'msgid "<b>Closest passages</b>"\nmsgstr "<b>Nächste Stellen</b>"\n\n'
        '#, fuzzy\nmsgid "<b>Commands</b>"\nmsgstr "<b>Befehle</b>"\n\n'
        'msgid "{count} question"\nmsgid_plural "{count} questions"\nmsgstr[0] "{count} Frage"\nmsgstr[1] "{count} Fragen"\n',
        encoding="utf-8",
    )
    catalogs = Catalogs.load(tmp_path)
    xx = catalogs.translator("xx")
    assert xx.gettext("<b>Answer:</b> {sentence}", sentence="S") == "<b>Answer:</b> S"  # English, not a KeyError
    assert xx.gettext("<b>Closest passages</b>") == "<b>Nächste Stellen</b>"
    assert xx.gettext("<b>Commands</b>") == "<b>Commands</b>"  # fuzzy: not used until checked
    assert xx.ngettext("{count} question", "{count} questions", 2, count=2) == "2 Fragen"
    assert "left in English: '<b>Answer:</b> {sentence}': placeholders ['satz'] instead of ['sentence']" in caplog.text
    [report] = catalogs.reports
    assert (report.translated, report.fuzzy, len(report.problems)) == (2, ["<b>Commands</b>"], 1)


def test_an_unreadable_catalog_is_skipped_and_the_others_still_load(tmp_path, caplog):
    for language, text in (("ru", 'msgid "a"\nmsgstr "б"\n'), ("zz", 'msgid "a\nthis is not a catalog')):
        (tmp_path / language / "LC_MESSAGES").mkdir(parents=True)
        (tmp_path / language / "LC_MESSAGES" / f"{DOMAIN}.po").write_text(text, encoding="utf-8")
    catalogs = Catalogs.load(tmp_path)
    assert catalogs.languages == ("en", "ru")
    assert catalogs.translator("ru").gettext("a") == "б"
    assert "catalog" in caplog.text and "zz" in caplog.text


def test_python_m_bot_i18n_reports_the_shipped_catalogs_complete(capsys):
    from bot.i18n import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ru: \d+ translated, 0 untranslated, 0 fuzzy, 0 with problems", out, re.M)
    assert re.search(r"^es: \d+ translated, 0 untranslated, 0 fuzzy, 0 with problems", out, re.M)
