"""The command-line interface, run from outside as a user would, with the real model."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import SEED_ARTICLE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.model


def run(*args, stdin=None, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", *args], input=stdin, capture_output=True, text=True, cwd=cwd or REPO, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A config with the seed article, built once with the real model."""
    root = tmp_path_factory.mktemp("cli")
    (root / "seeds").mkdir()
    (root / "seeds" / "article.txt").write_text(SEED_ARTICLE.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "config.toml").write_text((REPO / "config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    result = run("index", "build", "--config", str(root / "config.toml"))
    assert result.returncode == 0, result.stderr
    return root, result


def test_build_prints_a_summary(built):
    _, result = built
    out = result.stdout
    assert "documents: 1 (1 added" in out
    assert "passages: " in out and "passages re-embedded: " in out and "seconds: " in out


def test_ask_json_reads_questions_from_stdin_one_object_per_line(built):
    root, _ = built
    questions = "Who co-chaired the Pakistan-US Counterterrorism Dialogue?\nWhat is the capital of France?\n"
    result = run("retrieval", "ask", "--config", str(root / "config.toml"), "--json", stdin=questions)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"question", "answered", "answer", "confidence", "confidence_level", "confidence_label", "extracts"}
    assert first["confidence_level"] in ("confident", "tentative") and second["confidence_level"] == "declined"
    assert second["confidence_label"].startswith("Not answered")
    assert first["question"] == "Who co-chaired the Pakistan-US Counterterrorism Dialogue?"
    assert first["answered"] is True
    assert "Syed Haider Shah" in first["answer"] and "Elizabeth Richard" in first["answer"]
    assert 1 <= len(first["extracts"]) <= 3
    for extract in first["extracts"]:
        assert set(extract) == {"doc", "title", "paragraph", "page", "source", "text", "score"}
        assert extract["doc"] == "article.txt" and isinstance(extract["paragraph"], int)
        assert extract["page"] is None  # pages are for PDFs
        assert extract["source"] is None  # sources are for documents that came with a link
        assert isinstance(extract["score"], float)
        assert extract["text"] in SEED_ARTICLE.read_text(encoding="utf-8")
    assert second["answered"] is False and second["answer"] is None
    assert first["confidence"] > second["confidence"]  # one scale for answered and declined


@pytest.mark.parametrize(
    "question, expected",
    [
        ("When did the dialogue take place?", "May 10"),  # the explicit date, not "last week"
        ("How many police were trained?", "more than 300 police"),
        ("What did Pakistan urge the Taliban to do?", "take action against the TTP"),
        ("Who co-chaired the dialogue?", "Elizabeth Richard"),
    ],
)
def test_seed_article_answers_questions_phrased_as_readers_ask_them(built, question, expected):
    root, _ = built
    result = run("retrieval", "ask", "--config", str(root / "config.toml"), "--json", question)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["answered"] is True, answer
    assert expected in answer["answer"]
    assert answer["answer"] in SEED_ARTICLE.read_text(encoding="utf-8")


def test_ask_text_mode_prints_answer_and_numbered_citations(built):
    root, _ = built
    result = run("retrieval", "ask", "--config", str(root / "config.toml"), "Who co-chaired the Pakistan-US Counterterrorism Dialogue?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Answer: ") and "Elizabeth Richard" in result.stdout
    assert "[1] ISLAMABAD: Pakistan and the United States" in result.stdout and "paragraph 2" in result.stdout
    assert re.search(r"; confidence [01]\.\d\d\)$", result.stdout.splitlines()[1]) and "(score " not in result.stdout


def test_ask_follow_up_reads_each_line_as_a_possible_follow_up_to_the_line_before(built):
    root, _ = built
    lines = "Who co-chaired the dialogue?\nAnd when was it held?\nHow many police did the United States train?\n"
    result = run("retrieval", "ask", "--config", str(root / "config.toml"), "--json", "--follow-up", stdin=lines)
    assert result.returncode == 0, result.stderr
    first, follow, new_topic = (json.loads(line) for line in result.stdout.strip().splitlines())
    assert first["follow_up_to"] is None
    assert follow["follow_up_to"] == "Who co-chaired the dialogue?"
    assert "May 10" in follow["extracts"][0]["text"] or "last week" in follow["extracts"][0]["text"]
    assert new_topic["follow_up_to"] is None and "300 police" in new_topic["answer"]
    # Without --follow-up the same lines are answered alone, and the JSON has no follow_up_to.
    alone = [json.loads(line) for line in run("retrieval", "ask", "--config", str(root / "config.toml"), "--json", stdin=lines).stdout.splitlines()]
    assert "follow_up_to" not in alone[1] and alone[2]["answer"] == new_topic["answer"]

    text = run("retrieval", "ask", "--config", str(root / "config.toml"), "--follow-up", stdin=lines).stdout
    assert "(Taking this as a follow-up to: Who co-chaired the dialogue?)\nAnswer: " in text  # the line opens the reply
    # Answered, not declined, with the explicit date: "last week" scores higher, "May 10" in its paragraph answers.
    assert follow["answered"] is True and "May 10" in follow["answer"]
    assert "May 10" in follow["extracts"][0]["text"]
    refused = run("retrieval", "ask", "--config", str(root / "config.toml"), "--follow-up", "When was it held?")
    assert refused.returncode == 2 and "--follow-up reads the questions from stdin" in refused.stderr


def test_ask_without_an_index_fails_with_one_line(tmp_path):
    (tmp_path / "config.toml").write_text('[index]\ndir = "nothing-here"\n', encoding="utf-8")
    result = run("retrieval", "ask", "--config", str(tmp_path / "config.toml"), "anything?")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "python -m index build" in result.stderr


def test_bad_config_fails_with_one_line_naming_the_key(tmp_path):
    (tmp_path / "config.toml").write_text("[retrieval]\ntop_k = -2\n", encoding="utf-8")
    result = run("index", "build", "--config", str(tmp_path / "config.toml"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: retrieval.top_k must be an integer >= 1 and <= 50. Currently, retrieval.top_k is -2"


def test_bad_option_fails_with_one_line():
    result = run("retrieval", "ask", "--no-such-option")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--no-such-option" in result.stderr
