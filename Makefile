# Two commands are all a new user needs: `make run` and `make test`.
# Both create .venv with pip on first use (and again whenever pyproject.toml changes).

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench index ask bot clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Build (or incrementally update) the index, then run the Telegram bot when the token
# variable ([telegram] token_env, default TELEGRAM_BOT_TOKEN) is set, or else answer
# questions at a terminal prompt.
run: $(STAMP)
	$(PY) -m index build
	$(PY) -m bot --or-terminal

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks

index: $(STAMP)
	$(PY) -m index build

ask: $(STAMP)
	$(PY) -m retrieval ask

bot: $(STAMP)
	$(PY) -m bot

clean:
	rm -rf $(VENV) data .pytest_cache
