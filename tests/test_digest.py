"""Digest planning, state and rendering, without Telegram."""

from datetime import datetime, timezone
from html.parser import HTMLParser

import numpy as np

from bot.digest import (
    DigestItem,
    document_payload,
    find_document,
    latest_slot,
    pending_documents,
    render_digest,
    render_document_intro,
)
from bot.digest_store import DigestStore
from bot.state import StateDB
from retrieval.summary import KeySentence, key_sentences
from tests.fakes import FakeEmbedder, SEED_ARTICLE

UTC = timezone.utc


def test_latest_slot_is_the_most_recent_time_in_the_configured_zone():
    now = datetime(2026, 11, 28, 3, 30, tzinfo=UTC)  # 08:30 in Karachi (UTC+5)
    assert latest_slot(now, ("08:00", "18:00"), "Asia/Karachi") == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    early = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 07:00 Karachi: yesterday's 18:00 slot
    assert latest_slot(early, ("08:00", "18:00"), "Asia/Karachi") == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)


def test_pending_documents_are_new_or_changed_only():
    current = {"a.txt": ("A", "h1"), "b.txt": ("B", "h2"), "c.txt": ("C", "h3")}
    carried = {"a.txt": "h1", "b.txt": "old"}
    items = pending_documents(current, carried)
    assert [(i.doc, i.status) for i in items] == [("b.txt", "updated"), ("c.txt", "new")]


def test_payload_round_trips_and_fits_telegram_limits():
    docs = ["reports/2026/a very long name with spaces.md", "b.txt"]
    payload = document_payload(docs[0])
    assert len(payload) <= 64 and payload.replace("_", "").replace("-", "").isalnum()
    assert find_document(payload, docs) == docs[0]
    assert find_document("doc_nope", docs) is None


class TagChecker(HTMLParser):
    ALLOWED = {"b", "i", "blockquote", "a", "code", "pre", "u", "s"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.text = [], [], ""

    def handle_starttag(self, tag, attrs):
        if tag not in self.ALLOWED:
            self.errors.append(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append("/" + tag)

    def handle_data(self, data):
        self.text += data


def check(html_text):
    parser = TagChecker()
    parser.feed(html_text)
    parser.close()
    assert not parser.errors and not parser.stack, html_text
    return parser.text


def test_digest_escapes_document_text_and_links_each_document():
    sentence = KeySentence(2, 0, 10, "Profits <b>rose</b> & <script>alert(1)</script> fell.")
    item = DigestItem("q&a.txt", "Q&A <i>report</i>", "h", "new", (sentence,))
    [message] = render_digest([item], 0, "docs_bot")
    text = check(message.html)
    assert "Profits <b>rose</b> & <script>alert(1)</script> fell." in text
    assert "Q&A <i>report</i>" in text and "paragraph 2" in text
    assert message.buttons[0][1] == f"https://t.me/docs_bot?start={document_payload('q&a.txt')}"


def test_long_digest_is_split_into_valid_messages_with_their_buttons():
    sentence = KeySentence(1, 0, 10, "word " * 70)
    items = [DigestItem(f"d{i}.txt", f"Doc {i}", "h", "new", (sentence,) * 3) for i in range(20)]
    messages = render_digest(items, 3, "docs_bot")
    assert len(messages) > 1
    for message in messages:
        assert len(message.html) <= 4096
        check(message.html)
    assert sum(len(m.buttons) for m in messages) == 20
    assert "…and 3 more" in messages[-1].html


def test_digest_of_a_pdf_says_which_pages_its_key_sentences_are_on():
    sentences = (KeySentence(4, 0, 10, "Profits rose.", page=2), KeySentence(9, 50, 70, "Costs fell.", page=5))
    [message] = render_digest([DigestItem("report.pdf", "Annual report", "h", "new", sentences)], 0, None)
    check(message.html)
    assert "<i>report.pdf, pages 2, 5</i>" in message.html
    [message] = render_digest([DigestItem("a.txt", "Article", "h", "new", (KeySentence(4, 0, 10, "Profits rose."),))], 0, None)
    assert "<i>a.txt, paragraph 4</i>" in message.html


def test_document_intro_invites_questions():
    text = check(render_document_intro("Title & more", "t.txt", [KeySentence(1, 0, 5, "First <one>.")]))
    assert "Title & more" in text and "First <one>." in text and "Ask me" in text


def test_key_sentences_are_the_ones_nearest_the_centroid_in_reading_order():
    sentences = [KeySentence(1, i * 100, i * 100 + 60, f"Sentence number {i} is long enough to be a key sentence.") for i in range(5)]
    vectors = np.array([[1, 0], [0, 1], [0.9, 0.1], [1, 0.05], [0, 1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # The centroid leans to the first axis: sentences 0, 2 and 3 are nearest; shown in reading order.
    assert [s.start for s in key_sentences(sentences, vectors, 3)] == [0, 200, 300]


def test_document_summary_uses_stored_vectors_verbatim_without_a_model_call(config):
    from index.build import build_index
    from retrieval.retriever import Retriever

    text = SEED_ARTICLE.read_text(encoding="utf-8")
    (config.seeds.dir / "article.txt").write_text(text, encoding="utf-8")
    build_index(config, FakeEmbedder())
    embedder = FakeEmbedder()
    retriever = Retriever.open(config, embedder)
    calls = []
    embedder.encode = lambda *a, **k: calls.append(a)  # any model call would be recorded
    try:
        title, chosen = retriever.summary("article.txt", 3)
    finally:
        retriever.close()
    assert not calls and title and len(chosen) == 3
    assert [s.start for s in chosen] == sorted(s.start for s in chosen)
    for s in chosen:
        assert text[s.start : s.end] == s.text
    assert retriever.summary("missing.txt", 3) is None


def test_store_remembers_carried_versions_and_slots_across_reopen(tmp_path):
    path = tmp_path / "state.sqlite"
    now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    store = DigestStore(StateDB.open_sqlite(path))
    store.sync_configured(("@news_channel", -100123), now)
    assert store.subscribers() == ["-100123", "@news_channel"]
    store.record("@news_channel", slot=now, documents={"a.txt": "h1"}, posted=now)
    assert store.unsubscribe("-100123", by="user:7")
    store.db.close()

    again = DigestStore(StateDB.open_sqlite(path))
    again.sync_configured(("@news_channel", -100123), now)  # a stored unsubscribe wins over config
    assert again.subscribers() == ["@news_channel"]
    assert again.carried("@news_channel") == {"a.txt": "h1"}
    assert again.last_slot("@news_channel") == now
    assert again.subscribe("-100123", by="user:7", now=now) and not again.subscribe("-100123", by="user:7", now=now)
