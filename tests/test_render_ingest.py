"""Links to originals and the replies about documents added through Telegram: pure HTML, no bot."""

from __future__ import annotations

import pytest

from bot import ingest_render as say, render
from bot.digest import DigestItem, render_digest, render_document_intro
from bot.ingest_render import DocumentReport
from index.build import BuildReport
from retrieval.retriever import Answer, Extract
from retrieval.summary import KeySentence
from tests.fake_bot_api import HTMLRejected, parse_telegram_html

URL = 'https://example.org/a?b=1&c="2"&d=<3>'


def cited(source: str | None) -> Extract:
    return Extract("telegram/links/a.html", "Quarry & <Museum>", 3, "It opened.", 0.9, 0, 10, None, source)


def test_citation_links_the_title_to_its_source_escaped():
    assert render.citation(cited(URL)) == (
        '<a href="https://example.org/a?b=1&amp;c=%222%22&amp;d=%3C3%3E">Quarry &amp; &lt;Museum&gt;</a>, paragraph 3'
    )
    [message] = render.answer_page(Answer("When?", True, cited(URL), [cited(URL)]), 0, 3)
    assert parse_telegram_html(message).startswith("Answer: It opened.\n— Quarry & <Museum>, paragraph 3")


@pytest.mark.parametrize(
    "url",
    [None, "", "javascript:alert(1)", "tg://user?id=1", "ftp://example.org/x", "https://exa mple.org/", "https://\x00x.org/",
     "http:///path", "data:text/html,<script>"],
)
def test_only_http_and_https_urls_become_links(url):
    assert render.citation(cited(url)) == "Quarry &amp; &lt;Museum&gt;, paragraph 3"


def test_sources_list_links_titles_that_have_a_source():
    [message] = render.sources_messages([("a.txt", "A"), ("b.txt", "B <b>")], {"b.txt": "https://t.me/news/5"})
    assert message == '<b>2 documents</b>\n1. A <i>(a.txt)</i>\n2. <a href="https://t.me/news/5">B &lt;b&gt;</a> <i>(b.txt)</i>'
    parse_telegram_html(message)


def test_digest_and_deep_link_summary_link_to_the_original():
    sentence = KeySentence(1, 0, 9, "It opened.")
    item = DigestItem("a.html", "Quarry", "h", "new", (sentence,), "https://example.org/q")
    [digest] = render_digest([item], 0, "bot")
    assert '🆕 <b><a href="https://example.org/q">Quarry</a></b>' in digest.html
    intro = render_document_intro("Quarry", "a.html", [sentence], "https://example.org/q")
    assert intro.startswith('📄 <b><a href="https://example.org/q">Quarry</a></b>')
    parse_telegram_html(digest.html)
    parse_telegram_html(intro)


def test_added_report_shows_title_key_sentences_passages_and_how_to_forget():
    sentences = (KeySentence(1, 0, 10, "First <key> sentence."), KeySentence(4, 20, 40, "Second key sentence."))
    document = DocumentReport("telegram/q.md", "Q & A", 7, sentences, None, "added")
    text = say.added(document, BuildReport(documents=3, passages=20, embedded=7, seconds=0.42))
    assert text == (
        "✅ <b>Added</b>\n🆕 <b>Q &amp; A</b>\n<blockquote>First &lt;key&gt; sentence.</blockquote>\n"
        "<blockquote>Second key sentence.</blockquote>\n<i>telegram/q.md, paragraphs 1, 4</i>\n"
        "7 passages. The index now has 3 documents and 20 passages (7 embedded, 0.4 s).\n"
        "Reply /forget to this message to remove it."
    )
    parse_telegram_html(text)


def test_every_ingest_reply_is_html_telegram_accepts():
    nasty = 'a <b> & "c" </i>'
    report = BuildReport(documents=1, passages=1)
    texts = [
        say.refused(), say.not_a_document(nasty), say.not_a_file("photo"), say.empty_file(nasty),
        say.too_large(nasty, 25_000_000, 20 * 2**20, 20_000_000), say.too_large(nasty, 25_000_000, 20 * 2**20, None),
        say.downloading(nasty), say.fetching(URL), say.fetching("javascript:x"), say.queued(),
        say.download_failed(nasty, nasty), say.not_added(nasty, nasty), say.skipped_by_build(nasty, nasty),
        say.duplicate(nasty, nasty), say.unchanged(nasty, None), say.post_too_short(3, 60),
        say.forgotten(nasty, nasty, report), say.forgetting(nasty, None), say.forget_usage(), say.forget_unknown(nasty),
        say.forget_failed(nasty, nasty), say.add_usage(),
    ]
    for text in texts:
        parse_telegram_html(text)  # raises if Telegram would refuse it
        assert nasty not in text  # never unescaped


@pytest.mark.parametrize("href", ["javascript:alert(1)", "https://exa mple.org", "", "data:text/html,x"])
def test_fake_server_rejects_links_telegram_would_reject(href):
    with pytest.raises(HTMLRejected):
        parse_telegram_html(f'<a href="{href}">x</a>')
