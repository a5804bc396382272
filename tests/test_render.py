"""The pure HTML renderer, checked against the fake server's Telegram HTML parser (no Telegram, no bot)."""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import render
from bot.logs import REDACTED, RedactToken
from index.build import BuildReport
from retrieval.retriever import Answer, Extract
from tests.fake_bot_api import parse_telegram_html, utf16_length

NASTY = 'Tom & Jerry <b>bold</b> <script>alert("x")</script> a < b > c &amp; 😀'


def extract(text: str, title: str = "Report", paragraph: int = 2, doc: str = "report.txt") -> Extract:
    return Extract(doc, title, paragraph, text, 0.8, 0, len(text))


def answered(*texts: str, title: str = "Report") -> Answer:
    extracts = [extract(t, title, i + 1) for i, t in enumerate(texts)]
    return Answer("Who?", True, sentence=extracts[0], extracts=extracts)


def test_answer_opens_with_the_sentence_then_numbered_cited_blockquotes():
    [message] = render.answer_page(answered("Ada chaired it.", "Bob seconded."), page=0, page_size=3)
    assert message == (
        "<b>Answer:</b> Ada chaired it.\n<i>— Report, paragraph 1</i>\n\n"
        "<b>[1]</b> Report, paragraph 1\n<blockquote><b>Ada chaired it.</b></blockquote>\n\n"
        "<b>[2]</b> Report, paragraph 2\n<blockquote>Bob seconded.</blockquote>"
    )


def test_answer_sentence_is_bold_inside_the_extract_it_comes_from():
    passage = "The board met.\nAda & Bob <chaired> it.   Then lunch."
    sentence = Extract("r.txt", "R", 3, "Ada & Bob <chaired> it.", 0.9, 115, 138)
    answer = Answer("Who?", True, sentence=sentence, extracts=[Extract("r.txt", "R", 3, passage, 0.7, 100, 100 + len(passage)), extract("Other.")])
    [message] = render.answer_page(answer, 0, 3)
    assert "<blockquote>The board met. <b>Ada &amp; Bob &lt;chaired&gt; it.</b> Then lunch.</blockquote>" in message
    assert "<blockquote>Other.</blockquote>" in message  # another document: no highlight
    parse_telegram_html(message)


def test_not_answered_says_so_and_offers_closest_passages_not_an_answer():
    answer = Answer("What is the capital of Mars?", False, extracts=[extract("Mars is red.")])
    [message] = render.answer_page(answer, 0, 3)
    assert message.startswith(
        "<b>Not answered:</b> nothing in the documents answers “What is the capital of Mars?” closely enough."
    )
    assert "<b>Closest passages</b>" in message and "Answer:" not in message


def test_not_answered_with_nothing_near_has_no_passages():
    [message] = render.answer_page(Answer("Hm?", False), 0, 3)
    assert message == "<b>Not answered:</b> nothing in the documents answers “Hm?” closely enough."


def test_reply_escapes_html_in_document_title_text_and_question():
    answer = Answer(NASTY, False, extracts=[extract(NASTY, title=NASTY)])
    [message] = render.answer_page(answer, 0, 3)
    assert "<script" not in message and "<b>bold" not in message
    visible = parse_telegram_html(message)
    assert visible.count(NASTY) == 3  # question, title, extract: all shown literally


def test_long_extract_is_an_expandable_blockquote():
    [message] = render.answer_page(answered("word " * 100), 0, 3)
    assert "<blockquote expandable>" in message


def test_reply_over_the_limit_splits_at_extract_boundaries_into_valid_messages():
    texts = [f"Extract {n}: " + "lorem ipsum dolor " * 120 for n in range(6)]  # ~2,200 characters each
    messages = render.answer_page(answered(*texts), 0, page_size=6)
    assert len(messages) >= 3
    for message in messages:
        assert utf16_length(message) <= 4096
        parse_telegram_html(message)
        assert message.count("<blockquote") == message.count("</blockquote>")
    joined = "\n\n".join(messages)
    for n in range(6):
        assert joined.count(f"<b>[{n + 1}]</b>") == 1  # no extract split across messages


def test_extract_longer_than_a_message_is_split_into_parts_without_losing_text():
    text = " ".join(f"w{i} & <x>" for i in range(1500))  # ~15,000 characters, more once escaped
    messages = render.answer_page(answered(text), 0, 3)
    assert len(messages) >= 4
    visible = " ".join(parse_telegram_html(m) for m in messages)
    numbers = [int(n) for n in re.findall(r"\bw(\d+)\b", visible)]
    # The answer line (shortened) and then the whole extract, in order, nothing lost.
    assert numbers[-1500:] == list(range(1500))
    assert numbers[:-1500] == list(range(len(numbers) - 1500))
    assert visible.count("&") >= 1500 and visible.count("<x>") >= 1500
    assert "(part 1/" in messages[0] + messages[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=3000), min_size=1, max_size=5), st.text(max_size=200))
def test_any_text_renders_to_messages_telegram_accepts(texts, question):
    answer = Answer(question, True, sentence=extract(texts[0], title=question or "t"), extracts=[extract(t, title=question or "t") for t in texts])
    for page in range(render.pages(answer, 2)):
        for message in render.answer_page(answer, page, 2):
            assert utf16_length(message) <= 4096
            parse_telegram_html(message)


def test_keyboard_pages_and_paragraph_buttons_fit_callback_data():
    answer = answered(*[f"text {i}" for i in range(7)])
    first = render.answer_keyboard("AbC-12_x", answer, 0, 3)
    rows = first.inline_keyboard
    assert [b.text for b in rows[0]] == ["Full paragraph [1]", "Full paragraph [2]", "Full paragraph [3]"]
    assert [b.callback_data for b in rows[0]] == ["para:AbC-12_x:0", "para:AbC-12_x:1", "para:AbC-12_x:2"]
    assert rows[1][0].text == "More extracts" and rows[1][0].callback_data == "more:AbC-12_x:1"
    last = render.answer_keyboard("AbC-12_x", answer, 2, 3)
    assert [[b.text for b in row] for row in last.inline_keyboard] == [["Full paragraph [7]"]]
    assert render.answer_keyboard("k", Answer("?", False), 0, 3) is None


def test_later_page_lists_only_its_extracts():
    [message] = render.answer_page(answered(*[f"text {i}" for i in range(5)]), 1, 3)
    assert message.startswith("<b>More extracts</b> (4–5 of 5)")
    assert "<b>[4]</b>" in message and "<b>[5]</b>" in message and "Answer:" not in message


def test_sources_list_escapes_titles_and_splits_long_lists():
    [message] = render.sources_messages([("a.md", "A & <B>")])
    assert message == "<b>1 document</b>\n1. A &amp; &lt;B&gt; <i>(a.md)</i>"
    many = render.sources_messages([(f"doc{i}.txt", "Title " * 10) for i in range(300)])
    assert len(many) > 1 and all(utf16_length(m) <= 4096 for m in many)


def test_reindex_report_counts_documents_passages_and_seconds():
    report = BuildReport(documents=3, passages=40, embedded=12, added=["new.md"], changed=["a<b>.md"], removed=[], seconds=2.345)
    text = render.reindex_done(report)
    assert text.startswith("<b>Reindex done</b> in 2.3 s.\nDocuments: 3 (1 added, 1 changed, 0 removed)\nPassages: 40 (12 embedded)")
    assert "Changed: a&lt;b&gt;.md" in text
    parse_telegram_html(text)


def test_citation_of_a_pdf_extract_gives_its_page():
    from retrieval.retriever import Extract

    pdf = Extract("r.pdf", "Report <2024>", 7, "Text.", 1.0, 0, 5, page=3)
    assert render.citation(pdf) == "Report &lt;2024&gt;, page 3, paragraph 7"
    assert render.citation(Extract("a.txt", "Article", 2, "Text.", 1.0, 0, 5)) == "Article, paragraph 2"


def test_reindex_report_names_the_skipped_files_escaped():
    from index.documents import Skipped

    skipped = [Skipped("scan<1>.pdf", "not a document type"), Skipped("empty.txt", "empty")]
    text = render.reindex_done(BuildReport(documents=1, passages=2, embedded=0, skipped=skipped, seconds=0.1))
    assert "scan&lt;1&gt;.pdf, empty.txt" in text and "the log says why" in text
    parse_telegram_html(text)


def test_domain_errors_become_short_friendly_replies():
    from core.errors import IndexMismatchError, IndexNotFoundError

    assert "/reindex" in render.error_text(IndexNotFoundError("no index at /x; run python -m index build"))
    assert "/x" not in render.error_text(IndexMismatchError("/x built with other model"))
    assert render.error_text(RuntimeError("boom")).startswith("Sorry, something went wrong")


def test_plain_fallback_shows_the_visible_text():
    assert render.plain("<b>Answer:</b> a &lt; b &amp; c") == "Answer: a < b & c"


@pytest.mark.parametrize("bad", ["<b>x", "<br/>", "a < b", "a & b", "&nbsp;", "<blockquote><blockquote>x</blockquote></blockquote>", "<div>x</div>", "<b><i>x</b></i>"])
def test_fake_server_rejects_html_telegram_would_reject(bad):
    with pytest.raises(ValueError, match="can't parse entities"):
        parse_telegram_html(bad)


def test_token_is_redacted_from_message_arguments_and_tracebacks():
    token = "123:SECRET"
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s", (f"http://h/bot{token}/getMe",), None)
    try:
        raise RuntimeError(f"failed http://h/bot{token}/sendMessage")
    except RuntimeError:
        import sys

        failing = logging.LogRecord("bot", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    redact = RedactToken(token)
    for r in (record, failing):
        assert redact.filter(r)
        out = logging.Formatter().format(r)
        assert token not in out and REDACTED in out


def test_setup_logging_quietens_http_libraries_and_filters_every_handler():
    from bot.logs import setup_logging

    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        setup_logging("123:SECRET")
        assert logging.getLogger("httpx").level == logging.WARNING
        assert logging.getLogger("httpcore").level == logging.WARNING
        assert root.handlers and all(any(isinstance(f, RedactToken) for f in h.filters) for h in root.handlers)
    finally:
        for handler in root.handlers:
            for f in [f for f in handler.filters if isinstance(f, RedactToken)]:
                handler.removeFilter(f)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_follow_up_answer_opens_with_one_escaped_line_naming_the_previous_question():
    from retrieval.followup import Turn

    answer = replace(answered("The talks were held in Valletta."), context=Turn(NASTY, ()))
    [text] = render.answer_page(answer, 0, 3)
    head, rest = text.split("\n\n", 1)
    assert head == "<i>Taking this as a follow-up to: " + render.esc(NASTY) + "</i>"
    assert parse_telegram_html(head) == "Taking this as a follow-up to: " + NASTY
    assert rest.startswith("<b>Answer:</b> The talks were held in Valletta.")
    [alone] = render.answer_page(answered("The talks were held in Valletta."), 0, 3)
    assert alone == rest  # nothing else changes
    assert render.answer_page(answer, 1, 1)[0].startswith("<b>More extracts</b>")  # said once, on the first page
