# Two commands are all a new user needs: `make run` and `make test`.
# Both create .venv with pip on first use (and again whenever pyproject.toml changes).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The bot itself needs only the base install; the tests (and benchmarks) also need the
# optional parts they exercise: PostgreSQL state and the Milvus store.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-slow bench bench-full index ask bot translations clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,postgres,milvus]'
	touch $(TEST_STAMP)

# Build (or incrementally update) the index, then run the Telegram bot when the token
# variable ([telegram] token_env, default TELEGRAM_BOT_TOKEN) is set, or else answer
# questions at a terminal prompt.
run: $(STAMP)
	$(PY) -m index build
	$(PY) -m bot --or-terminal

# The suite without the tests marked slow (minutes each); CI runs both.
test: $(TEST_STAMP)
	$(PY) -m pytest -q -m "not slow"

test-slow: $(TEST_STAMP)
	$(PY) -m pytest -q -m slow

# Speed figures as ratios to baselines measured in the same run (docs/benchmarks.md).
# bench: 100k-passage scale figure, about 10 minutes on a fresh clone; bench-full: 1M
# passages (the first run builds and caches a 1M HNSW index, about 25 minutes on 2 cores).
bench: $(TEST_STAMP)
	$(PY) -m benchmarks --quick

bench-full: $(TEST_STAMP)
	$(PY) -m benchmarks

index: $(STAMP)
	$(PY) -m index build

ask: $(STAMP)
	$(PY) -m retrieval ask

bot: $(STAMP)
	$(PY) -m bot

# The bot's own texts (README, "Languages"): extract the English texts from bot/ into
# bot/locale/bot.pot, merge them into every bot/locale/<lang>/LC_MESSAGES/bot.po (new ones
# empty, changed ones marked fuzzy), then list what is left to translate. The bot reads the
# .po files when it starts: nothing to compile.
POT := bot/locale/bot.pot
translations: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -c Translators: --add-location=file --sort-by-file \
		--project=cited-answers-bot --version=0.1.0 --copyright-holder="the cited-answers-bot developers" \
		--msgid-bugs-address="the project's issue tracker" -o $(POT) .
	$(VENV)/bin/pybabel update -i $(POT) -d bot/locale -D bot --ignore-obsolete --width=100
	$(PY) -m bot.i18n

clean:
	rm -rf $(VENV) data .pytest_cache
