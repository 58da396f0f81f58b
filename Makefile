# The two commands of the README: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= .fonoteca-demo
UV_VERSION := 0.13.9
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_SERVER=OFF

.PHONY: demo test venv browser postgres wrk lint bench clean lock

# Installs exactly what requirements/lock.txt pins, every file checked against its sha256 (see "Updating the lock" in
# the README). Build tools are locked too and pip runs without build isolation, so nothing unpinned is fetched.
# llama-cpp-python is the one source-only package: its C++ build skips llava/mtmd and llama.cpp's tools, which
# fonoteca never loads, to keep a fresh set-up short, and is built for x86-64 with AVX2 (or the platform's baseline),
# not for the build machine's every instruction (GGML_NATIVE): on a virtual machine whose CPU reports AMX that the
# hypervisor does not enable, a native build died of SIGILL at its first embedding. pip's wheel cache keys a wheel it
# built by the source's hash alone, not by CMAKE_ARGS: the one built before is dropped, so these flags always apply.
$(STAMP): pyproject.toml requirements/lock.txt requirements/build.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.txt
	$(BIN)/pip cache remove llama_cpp_python >/dev/null 2>&1 || true
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --require-hashes --no-deps --no-build-isolation \
		-r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# Debian's Chromium and ChromeDriver for the browser tests (Playwright drives /usr/bin/chromium; no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "note: install Debian's chromium for the browser tests (they skip without it)"; fi; \
	fi

# Debian's wrk, the load generator of bench/web.py.
wrk:
	@if ! command -v wrk >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
		else echo "note: install Debian's wrk for bench/web.py (it stops without it)"; fi; \
	fi

# Debian's PostgreSQL for the PostgreSQL tests. tests/fixtures_pg.py runs its own throwaway cluster, so the package's
# postinst is told not to create (and start) the system-wide "main" cluster; the drop-in is removed afterwards.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			mkdir -p /etc/postgresql-common/createcluster.d && \
			echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/fonoteca-tests.conf && \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				postgresql >/dev/null; \
			status=$$?; rm -f /etc/postgresql-common/createcluster.d/fonoteca-tests.conf; exit $$status; \
		else echo "note: install Debian's postgresql for the PostgreSQL tests (they skip without it)"; fi; \
	fi

demo: venv
	FONOTECA_HOME=$(DEMO_HOME) $(BIN)/python -m fonoteca.demo

test: venv browser postgres
	$(BIN)/python -m pytest -q -rs

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: venv wrk
	$(BIN)/python bench/transcribe.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/web.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) test-artifacts

# Re-resolve every dependency to its newest allowed version and rewrite the lock files (with hashes), for all
# platforms. Run after changing dependencies in pyproject.toml or requirements/*.in; commit requirements/*.txt.
lock:
	test -x .uv/bin/uv || ($(PYTHON) -m venv .uv && .uv/bin/pip install --quiet "uv==$(UV_VERSION)")
	.uv/bin/uv pip compile requirements/build.in --universal --python-version 3.11 --generate-hashes \
		-o requirements/build.txt
	.uv/bin/uv pip compile pyproject.toml requirements/extra.in --extra llm --extra test \
		--override requirements/overrides.txt --universal --python-version 3.11 --generate-hashes \
		-o requirements/lock.txt
